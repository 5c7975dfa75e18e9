"""DocumentAssembler: the entry stage, from a text column to a ``document`` annotation."""

from __future__ import annotations

import re

import pyarrow as pa
from pyspark.ml import Transformer
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StringType

from sparktext.annotation import AnnotatorType, annotation_spark_type, column_metadata
from sparktext.columnar import AnnotationBuilder
from sparktext.errors import SchemaError
from sparktext.params import KeywordConstructor
from sparktext.shared_params import HasCleanupMode, HasIdCol, HasInputCol, HasMetadataCol, HasOutputCol
from sparktext.stages._base import describe_stage
from sparktext.stages._spark_udf import with_annotator_column
from sparktext.text.cleanup import CLEANUP_MODES

class DocumentAssembler(
    KeywordConstructor, Transformer, HasInputCol, HasOutputCol, HasIdCol, HasMetadataCol, HasCleanupMode, DefaultParamsReadable,
    DefaultParamsWritable,
):
    """Turn a text column into a ``document`` annotator column, the start of every pipeline.

    Each non-empty text becomes one annotation spanning the whole (possibly cleaned) text,
    ``begin`` 0 and ``end`` its length minus one, metadata ``sentence=0`` (plus ``id`` and
    the ``metadataCol`` map when set). A null or empty text gives an empty array; the row is
    kept. A column of ``array<string>`` gives one document per element, ``sentence=<index>``.

    Runs as native Spark SQL expressions (no Python worker), so it costs next to nothing.

    Parameters
    ----------
    inputCol : str
        The text column (string or array of strings).
    outputCol : str, default "document"
    idCol : str, optional
        Column whose value is copied into each document's metadata as ``id``.
    metadataCol : str, optional
        Column of ``map<string,string>`` merged into each document's metadata.
    cleanupMode : str, default "disabled"
        ``disabled`` (text as is), ``inplace`` (each whitespace character to a space),
        ``inplace_full`` (also literal ``\\n``/``\\t`` sequences), ``shrink`` (trim, and each
        whitespace run to one space), ``shrink_full`` (also literal sequences), ``each`` (each
        line break or tab to one space), ``each_full`` (also literal sequences),
        ``delete_full`` (trim, and delete literal sequences).

    Examples
    --------
    >>> from sparktext import DocumentAssembler
    >>> df = spark.createDataFrame([("Spark NLP is an open-source text processing library.",)], ["text"])
    >>> assembler = DocumentAssembler().setInputCol("text").setOutputCol("document")
    >>> row = assembler.transform(df).select("document").first()
    >>> annotation = row.document[0]
    >>> (annotation.annotatorType, annotation.begin, annotation.end, annotation.metadata)
    ('document', 0, 51, {'sentence': '0'})
    """

    outputAnnotatorType = AnnotatorType.DOCUMENT
    stageDefaults = {"outputCol": "document"}

    def annotate_arrow(self, texts: pa.Array) -> pa.Array:
        """The ``document`` column for an Arrow array of texts, computed in this process with
        Python's ``re`` running the same cleanup patterns Spark SQL runs (LightPipeline's
        path). ``idCol`` and ``metadataCol`` do not apply: there are no other columns."""
        steps = [(re.compile(pattern), replacement) for pattern, replacement in CLEANUP_MODES[self.getCleanupMode()]]
        builder = AnnotationBuilder(AnnotatorType.DOCUMENT)
        for text in texts.to_pylist():
            for pattern, replacement in steps:
                if text is not None:
                    text = pattern.sub(replacement, text)
            if text:
                builder.add(0, len(text) - 1, text, {"sentence": "0"})
            builder.end_row()
        return builder.finish()

    def inputColumnsFor(self, types: dict[str, str | None]) -> list[str]:
        """The text column: what ``annotate_arrow`` takes (LightPipeline's contract)."""
        return [self.getInputCol()]

    def _check_columns(self, dataset: DataFrame) -> None:
        stage = describe_stage(self)
        if not self.isDefined(self.inputCol):
            raise SchemaError(f"{stage}: inputCol is not set; set it to the text column")
        names = dataset.schema.names
        text_col = self.getInputCol()
        if text_col not in names:
            raise SchemaError(f"{stage}: input column {text_col!r} is missing; the DataFrame has {names}")
        text_type = dataset.schema[text_col].dataType
        if not (isinstance(text_type, StringType) or text_type == ArrayType(StringType(), True)
                or text_type == ArrayType(StringType(), False)):
            raise SchemaError(
                f"{stage}: input column {text_col!r} has type {text_type.simpleString()}, "
                "expected string or array<string>"
            )
        for param in (self.idCol, self.metadataCol):
            if self.isDefined(param) and self.getOrDefault(param) not in names:
                raise SchemaError(
                    f"{stage}: {param.name} column {self.getOrDefault(param)!r} is missing; the DataFrame has {names}"
                )
        if self.isDefined(self.metadataCol):
            meta_type = dataset.schema[self.getMetadataCol()].dataType
            if not (isinstance(meta_type, MapType) and isinstance(meta_type.keyType, StringType)):
                raise SchemaError(
                    f"{stage}: metadataCol {self.getMetadataCol()!r} has type {meta_type.simpleString()}, "
                    "expected map<string,string>"
                )

    def _cleaned(self, text: Column) -> Column:
        for pattern, replacement in CLEANUP_MODES[self.getCleanupMode()]:
            text = F.regexp_replace(text, F.lit(pattern), F.lit(replacement))
        return text

    def _metadata(self, sentence: Column) -> Column:
        entries = []
        if self.isDefined(self.idCol):
            entries += [F.lit("id"), F.col(self.getIdCol()).cast("string")]
        entries += [F.lit("sentence"), sentence]
        ours = F.create_map(*entries)
        if not self.isDefined(self.metadataCol):
            return ours
        reserved = ["sentence", "id"] if self.isDefined(self.idCol) else ["sentence"]
        theirs = F.map_filter(
            F.coalesce(F.col(self.getMetadataCol()), F.create_map().cast("map<string,string>")),
            lambda key, _: ~key.isin(reserved),
        )
        return F.map_concat(theirs.cast("map<string,string>"), ours)

    def _document(self, text: Column, sentence: Column) -> Column:
        cleaned = self._cleaned(text)
        annotation = F.struct(
            F.lit(AnnotatorType.DOCUMENT).alias("annotatorType"),
            F.lit(0).alias("begin"),
            # never null (the schema says so); null texts are filtered out below anyway
            (F.coalesce(F.length(cleaned), F.lit(0)) - 1).cast("int").alias("end"),
            cleaned.alias("result"),
            self._metadata(sentence).alias("metadata"),
            F.array().cast("array<float>").alias("embeddings"),
        )
        # F.length counts code points, like Python's len: offsets stay in the same unit.
        return F.when(cleaned.isNull() | (F.length(cleaned) == 0), F.lit(None)).otherwise(annotation)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        self._check_columns(dataset)
        text = F.col(self.getInputCol())
        output_type = annotation_spark_type()
        if isinstance(dataset.schema[self.getInputCol()].dataType, ArrayType):
            documents = F.transform(
                F.coalesce(text, F.array().cast("array<string>")),
                lambda element, index: self._document(element, index.cast("string")),
            )
            documents = F.filter(documents, lambda annotation: annotation.isNotNull())
        else:
            document = self._document(text, F.lit("0"))
            documents = F.when(document.isNull(), F.array()).otherwise(F.array(document))
        metadata = column_metadata(AnnotatorType.DOCUMENT)
        output = self.getOutputCol()
        return with_annotator_column(dataset, output, documents.cast(output_type), metadata)
