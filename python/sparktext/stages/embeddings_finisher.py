"""EmbeddingsFinisher: embedding annotations into arrays of floats or Spark ML vectors."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from sparktext.annotation import AnnotatorType, annotation_spark_type, annotator_type_of
from sparktext.errors import SchemaError
from sparktext.shared_params import HasOutputAsVector
from sparktext.stages._base import FinisherTransformer, describe_stage

EMBEDDING_TYPES = (AnnotatorType.WORD_EMBEDDINGS, AnnotatorType.SENTENCE_EMBEDDINGS)


class EmbeddingsFinisher(FinisherTransformer, HasOutputAsVector):
    """The vectors of embedding annotations, one per annotation, ready for Spark ML.

    Runs as Spark SQL expressions (no Python worker). A null annotator column reads as no
    annotations.

    Parameters
    ----------
    inputCols : list of str
        ``word_embeddings`` or ``sentence_embeddings`` columns.
    outputCols : list of str, default ``finished_<inputCol>``
    outputAsVector : bool, default False
        ``array<vector>`` (``pyspark.ml.linalg.DenseVector``, what Spark ML estimators take
        after an ``explode``); else ``array<array<float>>``.
    cleanAnnotations : bool, default False
        Drop every annotator column from the output.

    Examples
    --------
    >>> from sparktext import EmbeddingsFinisher
    >>> finisher = EmbeddingsFinisher().setInputCols("sentence_embeddings").setOutputAsVector(True)
    >>> finisher.getOutputAsVector(), finisher.getCleanAnnotations()
    (True, False)
    """

    stageDefaults = {"cleanAnnotations": False}

    def checkInputColumns(self, schema: StructType) -> list[tuple[str, str]]:
        pairs = super().checkInputColumns(schema)
        for input_col, _ in pairs:
            found = annotator_type_of(schema[input_col])
            if found not in EMBEDDING_TYPES:
                found_text = repr(found) if found else "no annotatorType metadata"
                raise SchemaError(
                    f"{describe_stage(self)}: input column {input_col!r} holds {found_text}, "
                    f"expected one of {list(EMBEDDING_TYPES)}"
                )
        return pairs

    def _transform(self, dataset: DataFrame) -> DataFrame:
        from pyspark.ml.functions import array_to_vector

        columns: dict[str, Column] = {}
        for input_col, output_col in self.checkInputColumns(dataset.schema):
            annotations = F.coalesce(F.col(input_col), F.array().cast(annotation_spark_type()))
            if self.getOutputAsVector():
                columns[output_col] = F.transform(annotations, lambda a: array_to_vector(a.embeddings))
            else:
                columns[output_col] = F.transform(annotations, lambda a: a.embeddings)
        return self._finish(dataset, columns)
