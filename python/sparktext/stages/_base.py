"""What every annotator stage shares: declared annotator types, input checks, output metadata.

A stage declares ``inputAnnotatorTypes`` (one per entry of ``inputCols``, in order) and
``outputAnnotatorType``. :meth:`HasAnnotatorInputs.checkInputColumns` runs at the start of
``transform()`` (and of ``fit()``), on the schema alone, so a wrong pipeline fails before any Spark job with a
message naming the stage, the column, what it found and what it expects.
"""

from __future__ import annotations

from typing import Any, Callable

import pyarrow as pa
from pyspark.ml import Transformer
from pyspark.ml.param import Params
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from sparktext.annotation import ANNOTATION_DDL, annotator_type_of, column_metadata, is_annotation_type
from sparktext.errors import SchemaError
from sparktext.params import HasInputCols, HasOutputCol, describe_stage


def set_given_params(stage: Params, given: dict[str, Any]) -> None:
    """Set the constructor's keyword arguments that were given a value (None means unset)."""
    stage._set(**{name: value for name, value in given.items() if value is not None})


class HasAnnotatorInputs(HasInputCols):
    """Input columns with declared annotator types, checked on the schema alone."""

    #: The annotator type expected in each input column, in ``inputCols`` order.
    inputAnnotatorTypes: tuple[str, ...] = ()

    def checkInputColumns(self, schema: StructType) -> list[str]:
        """Check ``inputCols`` against ``schema``; return them, or raise :class:`SchemaError`."""
        stage = describe_stage(self)
        expected = list(self.inputAnnotatorTypes)
        if not self.isDefined(self.inputCols):
            raise SchemaError(f"{stage}: inputCols is not set; expected columns of annotator types {expected}")
        columns = self.getInputCols()
        if len(columns) != len(expected):
            raise SchemaError(
                f"{stage}: inputCols has {len(columns)} column(s) {columns}, expected {len(expected)} "
                f"of annotator types {expected}"
            )
        for column, wanted in zip(columns, expected):
            if column not in schema.names:
                raise SchemaError(f"{stage}: input column {column!r} is missing; the DataFrame has {schema.names}")
            field = schema[column]
            if not is_annotation_type(field.dataType):
                raise SchemaError(
                    f"{stage}: input column {column!r} has type {field.dataType.simpleString()}, "
                    f"expected an annotator column of type {wanted!r} ({ANNOTATION_DDL})"
                )
            found = annotator_type_of(field)
            if found != wanted:
                found_text = repr(found) if found else "no annotatorType metadata"
                raise SchemaError(
                    f"{stage}: input column {column!r} holds {found_text}, expected annotator type {wanted!r}"
                )
        return columns


class AnnotatorTransformer(Transformer, HasAnnotatorInputs, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable):
    """Base of the stages that read annotator columns and write one."""

    #: The annotator type this stage writes.
    outputAnnotatorType: str = ""

    def outputMetadata(self) -> dict:
        """Column metadata of the output column (subclasses add keys such as ``dimension``)."""
        return column_metadata(self.outputAnnotatorType)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        columns = self.checkInputColumns(dataset.schema)
        return self._with_output(dataset, self._annotate(*[F.col(c) for c in columns]))

    def _with_output(self, dataset: DataFrame, annotated: Column) -> DataFrame:
        """``dataset`` with the output column, carrying the output column's metadata."""
        output = self.getOutputCol()
        return dataset.withColumn(output, annotated.alias(output, metadata=self.outputMetadata()))

    def _annotate(self, *columns: Column) -> Column:
        """The expression computing the output column from the input columns."""
        raise NotImplementedError


def arrow_annotator_udf(function: Callable[[pa.Array], pa.Array]) -> Callable[..., Column]:
    """Wrap ``annotator column -> annotator column`` as a Spark Arrow UDF.

    Arrow UDFs (Spark 4.1+) hand the function whole ``pyarrow`` arrays: no pandas round trip
    and no Python object per row on the way in or out.
    """
    from pyspark.sql.functions import arrow_udf

    def batch(column: pa.Array) -> pa.Array:  # the hints tell Spark the UDF kind
        return function(column)

    return arrow_udf(batch, returnType=ANNOTATION_DDL)
