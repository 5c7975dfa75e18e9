"""What every annotator stage shares: declared annotator types, input checks, output metadata.

A stage declares ``inputAnnotatorTypes`` and ``outputAnnotatorType``; its ``inputCols`` are
matched to the declared types by the types they hold, in any order (as Spark NLP does).
:meth:`HasAnnotatorInputs.checkInputColumns` runs at the start of ``transform()`` (not of
``fit()``: Spark NLP fits a Tokenizer on the raw text), on the schema alone, so a wrong
pipeline fails before any Spark job with a message naming the stage, the column, what it
found and what it expects. Each stage's work is one picklable batch function
(``batch_function()``), which :mod:`sparktext.stages._spark_udf` turns into Spark work.
"""

from __future__ import annotations

import logging

import pyarrow as pa
from pyspark import TaskContext
from pyspark.ml import Transformer
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql.types import StructType

from sparktext.annotation import ANNOTATION_DDL, annotation_spark_type, annotator_type_of, column_metadata, is_annotation_type
from sparktext.errors import SchemaError
from sparktext.params import KeywordConstructor, describe_stage
from sparktext.shared_params import HasCleanAnnotations, HasInputCols, HasOutputCol, HasOutputCols
from sparktext.stages._spark_udf import BatchFunction, with_batch_column


logger = logging.getLogger(__name__)

# (stage, what, task attempt) already warned about, so a task logs each kind of drop once.
_drops_reported: set[tuple[str, str, int | None]] = set()


def report_dropped(stage: str, count: int, what: str) -> None:
    """Log that a stage's own settings dropped ``count`` annotations (``what`` says which).

    The first batch of a Spark task that drops anything logs a warning on the executor;
    later batches of the same task log at DEBUG, so a user sees each kind of drop once per
    task, never silence. Outside a task (LightPipeline) the key is the process.
    """
    if count <= 0:
        return
    context = TaskContext.get()
    task = context.taskAttemptId() if context is not None else None
    key = (stage, what, task)
    if key in _drops_reported:
        logger.debug("%s dropped %d more %s (task %s)", stage, count, what, task)
        return
    _drops_reported.add(key)
    where = f"task {task} (partition {context.partitionId()})" if context is not None else "this process"
    logger.warning(
        "%s dropped %d %s in a batch of %s; further drops there are logged at DEBUG", stage, count, what, where
    )


class HasAnnotatorInputs(HasInputCols):
    """Input columns with declared annotator types, checked on the schema alone."""

    #: The annotator type expected in each input column, in ``inputCols`` order.
    inputAnnotatorTypes: tuple[str, ...] = ()

    def checkInputColumns(self, schema: StructType) -> list[str]:
        """Check ``inputCols`` against ``schema``; return them in ``inputAnnotatorTypes``
        order, or raise :class:`SchemaError`."""
        columns = self._declared_input_columns()
        for column, wanted in zip(columns, self.inputAnnotatorTypes):
            if column not in schema.names:
                raise SchemaError(f"{describe_stage(self)}: input column {column!r} is missing; the DataFrame has {schema.names}")
            field = schema[column]
            if not is_annotation_type(field.dataType):
                raise SchemaError(
                    f"{describe_stage(self)}: input column {column!r} has type {field.dataType.simpleString()}, "
                    f"expected an annotator column of type {wanted!r} ({ANNOTATION_DDL})"
                )
        return self.orderInputColumns({column: annotator_type_of(schema[column]) for column in columns})

    def orderInputColumns(self, types: dict[str, str | None]) -> list[str]:
        """``inputCols`` in ``inputAnnotatorTypes`` order, given each column's annotator type.

        Like Spark NLP, columns are matched to the types they carry, so
        ``setInputCols(["token", "document"])`` works too; a type that is missing or given
        twice is a :class:`SchemaError` naming the column and what it holds."""
        columns = self._declared_input_columns()
        expected = list(self.inputAnnotatorTypes)
        found = [types.get(column) for column in columns]
        if found != expected and sorted(found, key=str) == sorted(expected):
            return [columns[found.index(wanted)] for wanted in expected]
        for column, holds, wanted in zip(columns, found, expected):
            if holds != wanted:
                found_text = repr(holds) if holds else "no annotatorType metadata"
                raise SchemaError(
                    f"{describe_stage(self)}: input column {column!r} holds {found_text}, expected annotator type "
                    f"{wanted!r} (inputCols {columns} must hold the types {expected}, in any order)"
                )
        return columns

    def _declared_input_columns(self) -> list[str]:
        expected = list(self.inputAnnotatorTypes)
        if not self.isDefined(self.inputCols):
            raise SchemaError(f"{describe_stage(self)}: inputCols is not set; expected columns of annotator types {expected}")
        columns = self.getInputCols()
        if len(columns) != len(expected):
            raise SchemaError(
                f"{describe_stage(self)}: inputCols has {len(columns)} column(s) {columns}, expected {len(expected)} "
                f"of annotator types {expected}"
            )
        return columns


class AnnotatorTransformer(
    KeywordConstructor, Transformer, HasAnnotatorInputs, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable
):
    """Base of the stages that read annotator columns and write one."""

    #: The annotator type this stage writes.
    outputAnnotatorType: str = ""

    def outputMetadata(self) -> dict:
        """Column metadata of the output column (subclasses add keys such as ``dimension``)."""
        return column_metadata(self.outputAnnotatorType)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        columns = self.checkInputColumns(dataset.schema)
        return with_batch_column(
            dataset, self.getOutputCol(), self.batch_function(), columns, annotation_spark_type(), self.outputMetadata()
        )

    def batch_function(self) -> BatchFunction:
        """The stage's work on one Arrow batch of its input columns, built from its params
        (and checked here, on the driver, so bad settings fail before any job): a picklable
        function that holds no reference to the stage. Its Spark UDF runs it on the executors
        (see :mod:`sparktext.stages._spark_udf`); LightPipeline calls it in this process."""
        raise NotImplementedError

    def annotate_arrow(self, *columns: pa.Array) -> pa.Array:
        """The output column for one Arrow batch of the input columns, computed in this process."""
        return self.batch_function()(*columns)

    def inputColumnsFor(self, types: dict[str, str | None]) -> list[str]:
        """The input columns ``annotate_arrow`` takes, in its order, given the annotator type of
        each column there is (what LightPipeline asks of every stage); ``ValueError`` naming
        the input columns no earlier stage made."""
        missing = [name for name in self._declared_input_columns() if name not in types]
        if missing:
            made = [name for name, kind in types.items() if kind is not None]
            raise ValueError(
                f"{type(self).__name__}: input column(s) {missing} are made by no earlier stage; the pipeline makes {made}"
            )
        return self.orderInputColumns(types)


class FinisherTransformer(
    KeywordConstructor, Transformer, HasInputCols, HasOutputCols, HasCleanAnnotations, DefaultParamsReadable, DefaultParamsWritable
):
    """Base of the finishers: annotator columns in, plain Spark columns out (``outputCols``
    default to ``finished_<inputCol>``), annotator columns dropped when ``cleanAnnotations``."""

    def getOutputCols(self) -> list[str]:
        """``outputCols``, or, when unset or empty (as in Spark NLP), ``finished_<inputCol>``
        for each input column."""
        given = self.getOrDefault(self.outputCols) if self.isDefined(self.outputCols) else []
        if given:
            return list(given)
        return [f"finished_{c}" for c in (self.getInputCols() if self.isDefined(self.inputCols) else [])]

    def checkInputColumns(self, schema: StructType) -> list[tuple[str, str]]:
        """``(input, output)`` column pairs, checked on ``schema``; raises :class:`SchemaError`."""
        stage = describe_stage(self)
        if not self.isDefined(self.inputCols) or not self.getInputCols():
            raise SchemaError(f"{stage}: inputCols is not set; set it to the annotator columns to finish")
        inputs = self.getInputCols()
        outputs = self.getOutputCols()
        if len(outputs) != len(inputs):
            raise SchemaError(f"{stage}: {len(inputs)} inputCols {inputs} but {len(outputs)} outputCols {outputs}")
        for column in inputs:
            if column not in schema.names:
                raise SchemaError(f"{stage}: input column {column!r} is missing; the DataFrame has {schema.names}")
            if not is_annotation_type(schema[column].dataType):
                raise SchemaError(
                    f"{stage}: input column {column!r} has type {schema[column].dataType.simpleString()}, "
                    f"expected an annotator column ({ANNOTATION_DDL})"
                )
        return list(zip(inputs, outputs))

    def _finish(self, dataset: DataFrame, columns: dict[str, Column]) -> DataFrame:
        """``dataset`` with the finished ``columns`` added, annotator columns dropped if asked."""
        finished = dataset.withColumns(columns)
        if self.getCleanAnnotations():
            annotators = [f.name for f in dataset.schema.fields if is_annotation_type(f.dataType) and f.name not in columns]
            finished = finished.drop(*annotators)
        return finished
