"""Finisher: annotator columns into plain strings or arrays of strings, for Spark ML and SQL."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sparktext.annotation import AnnotatorType, annotation_spark_type
from sparktext.shared_params import (
    HasAnnotationSplitSymbol,
    HasIncludeMetadata,
    HasMetadataPerAnnotation,
    HasOutputAsArray,
    HasParseEmbeddingsVectors,
    HasValueSplitSymbol,
)
from sparktext.stages._base import FinisherTransformer


class Finisher(
    FinisherTransformer, HasOutputAsArray, HasIncludeMetadata, HasMetadataPerAnnotation, HasValueSplitSymbol,
    HasAnnotationSplitSymbol, HasParseEmbeddingsVectors,
):
    """Turn annotator columns into the annotations' results, as Spark NLP's Finisher does.

    Runs as Spark SQL expressions (no Python worker). A null annotator column reads as no
    annotations.

    Parameters
    ----------
    inputCols : list of str
        Annotator columns of any type.
    outputCols : list of str, default ``finished_<inputCol>``
    outputAsArray : bool, default True
        ``array<string>`` of results; False joins them into one string.
    includeMetadata : bool, default False
        With ``outputAsArray``, add a column ``<outputCol>_metadata``: as in Spark NLP, one
        ``map<string,string>`` merging the row's annotations' metadata (a key that repeats,
        such as ``sentence``, keeps the last annotation's value). Without ``outputAsArray``,
        each annotation is written ``key->value`` pairs and ``result->...`` joined by
        ``valueSplitSymbol``.
    metadataPerAnnotation : bool, default False
        With ``includeMetadata`` and ``outputAsArray``, write ``<outputCol>_metadata`` as one
        metadata map per annotation instead, aligned with the results (nothing merged away).
    valueSplitSymbol : str, default "#"
        Between the values inside one annotation (metadata pairs, vector components).
    annotationSplitSymbol : str, default "@"
        Between annotations when ``outputAsArray`` is False.
    cleanAnnotations : bool, default True
        Drop every annotator column from the output.
    parseEmbeddingsVectors : bool, default False
        For embedding annotations, write the vector's values instead of the token text
        (joined by a space in arrays, by ``valueSplitSymbol`` in strings).

    Examples
    --------
    >>> from sparktext import DocumentAssembler, Finisher, Tokenizer
    >>> from pyspark.ml import Pipeline
    >>> df = spark.createDataFrame([("Hello world. Bye!",)], ["text"])
    >>> pipeline = Pipeline(stages=[
    ...     DocumentAssembler().setInputCol("text"),
    ...     Tokenizer().setInputCols("document").setOutputCol("token"),
    ...     Finisher().setInputCols("token"),
    ... ])
    >>> result = pipeline.fit(df).transform(df)
    >>> result.columns
    ['text', 'finished_token']
    >>> result.first().finished_token
    ['Hello', 'world', '.', 'Bye', '!']
    """

    stageDefaults = {"cleanAnnotations": True}

    def _value(self, annotation: Column, separator: str) -> Column:
        """An annotation's result, or its vector's values when asked to parse embeddings."""
        if not self.getParseEmbeddingsVectors():
            return annotation.result
        vector = F.array_join(F.transform(annotation.embeddings, lambda x: x.cast("string")), separator)
        is_embedding = annotation.annotatorType.isin(AnnotatorType.WORD_EMBEDDINGS, AnnotatorType.SENTENCE_EMBEDDINGS)
        return F.when(is_embedding, vector).otherwise(annotation.result)

    def _detail(self, annotation: Column) -> Column:
        """``key->value`` pairs of the metadata, then ``result->...``, joined by valueSplitSymbol."""
        separator = self.getValueSplitSymbol()
        pairs = F.transform(F.map_entries(annotation.metadata), lambda e: F.concat(e.key, F.lit("->"), e.value))
        parts = F.concat(pairs, F.array(F.concat(F.lit("result->"), annotation.result)))
        if self.getParseEmbeddingsVectors():
            parts = F.concat(parts, F.array(F.concat(F.lit("embeddings->"), self._value(annotation, separator))))
        return F.array_join(parts, separator)

    @staticmethod
    def _merged_metadata(annotations: Column) -> Column:
        """Spark NLP's metadata column: every annotation's pairs in one map, a repeated key
        keeping its last value (``map_concat`` would fail on the repeat instead)."""
        entries = F.flatten(F.transform(annotations, lambda a: F.map_entries(a.metadata)))
        keys = F.array_distinct(F.transform(entries, lambda e: e.key))
        last_value = lambda key: F.element_at(F.filter(entries, lambda e: e.key == key), -1).value  # noqa: E731
        return F.map_from_arrays(keys, F.transform(keys, last_value))

    def _transform(self, dataset: DataFrame) -> DataFrame:
        columns: dict[str, Column] = {}
        for input_col, output_col in self.checkInputColumns(dataset.schema):
            annotations = F.coalesce(F.col(input_col), F.array().cast(annotation_spark_type()))
            if self.getOutputAsArray():
                columns[output_col] = F.transform(annotations, lambda a: self._value(a, " "))
                if self.getIncludeMetadata():
                    columns[f"{output_col}_metadata"] = (
                        F.transform(annotations, lambda a: a.metadata) if self.getMetadataPerAnnotation()
                        else self._merged_metadata(annotations))
            else:
                each = self._detail if self.getIncludeMetadata() else lambda a: self._value(a, self.getValueSplitSymbol())
                columns[output_col] = F.array_join(F.transform(annotations, each), self.getAnnotationSplitSymbol())
        return self._finish(dataset, columns)
