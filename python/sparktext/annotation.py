"""The annotation contract: the record, its annotator types, its Spark and Arrow schemas.

An annotator column is an ``array<struct<annotatorType, begin, end, result, metadata,
embeddings>>``, field for field Spark NLP's schema, so code written for Spark NLP reads our
columns unchanged. ``begin`` and ``end`` are offsets into the document text with ``end``
inclusive, counted in Unicode code points (Python ``str`` indices, as Spark SQL's string
functions count); Spark NLP counts UTF-16 units, so the two differ after any character outside
the Basic Multilingual Plane (most emoji).

This module never imports pyspark at import time: the text and inference cores use the
record and the Arrow type on executors and in LightPipeline without a Spark session.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import pyarrow as pa

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql.types import ArrayType, StructField


class AnnotatorType:
    """Names of the annotator types, as written in column metadata and in each record."""

    DOCUMENT = "document"
    TOKEN = "token"
    WORD_EMBEDDINGS = "word_embeddings"
    SENTENCE_EMBEDDINGS = "sentence_embeddings"

    ALL = (DOCUMENT, TOKEN, WORD_EMBEDDINGS, SENTENCE_EMBEDDINGS)


#: Spark NLP's field order; positional readers of the struct depend on it.
ANNOTATION_FIELDS = ("annotatorType", "begin", "end", "result", "metadata", "embeddings")

#: The Arrow type of one annotator column, as the stages' UDFs build it.
ANNOTATION_ARROW_STRUCT = pa.struct(
    [
        pa.field("annotatorType", pa.string()),
        pa.field("begin", pa.int32(), nullable=False),
        pa.field("end", pa.int32(), nullable=False),
        pa.field("result", pa.string()),
        pa.field("metadata", pa.map_(pa.string(), pa.string())),
        pa.field("embeddings", pa.list_(pa.float32())),
    ]
)
ANNOTATION_ARROW_TYPE = pa.list_(ANNOTATION_ARROW_STRUCT)

#: The same type in Spark's DDL, for UDF return types.
ANNOTATION_DDL = (
    "array<struct<annotatorType:string,begin:int not null,end:int not null,result:string,"
    "metadata:map<string,string>,embeddings:array<float>>>"
)

#: Key of the column metadata entry that names a column's annotator type.
ANNOTATOR_TYPE_KEY = "annotatorType"


@dataclasses.dataclass
class Annotation:
    """One annotation: a span of the document text with its result and metadata.

    Examples
    --------
    >>> a = Annotation("token", 0, 4, "Hello", {"sentence": "0"})
    >>> a.to_row()["end"]
    4
    >>> Annotation.from_row(a.to_row()) == a
    True
    """

    annotator_type: str
    begin: int
    end: int
    result: str
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)
    embeddings: list[float] = dataclasses.field(default_factory=list)

    @property
    def annotatorType(self) -> str:
        """Spark NLP's name for :attr:`annotator_type`."""
        return self.annotator_type

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | Sequence[Any]) -> "Annotation":
        """Build from a Spark ``Row``, a dict with the schema's field names, or a tuple."""
        if isinstance(row, Mapping):
            values = [row[name] for name in ANNOTATION_FIELDS]
        elif hasattr(row, "asDict"):
            values = [row[name] for name in ANNOTATION_FIELDS]
        else:
            values = list(row)
        annotator_type, begin, end, result, metadata, embeddings = values
        if metadata is not None and not isinstance(metadata, dict):
            metadata = dict(metadata)
        return cls(annotator_type, int(begin), int(end), result, metadata or {}, list(embeddings or []))

    def to_row(self) -> dict[str, Any]:
        """The annotation as a dict in schema field order."""
        return {
            "annotatorType": self.annotator_type,
            "begin": self.begin,
            "end": self.end,
            "result": self.result,
            "metadata": dict(self.metadata),
            "embeddings": list(self.embeddings),
        }


def annotation_spark_type(null_free_vectors: bool = False) -> "ArrayType":
    """The Spark SQL type of an annotator column.

    ``null_free_vectors`` declares the ``embeddings`` arrays free of null elements (as Spark
    NLP's schema does), for the embedding stages' output: Spark then copies each vector out of
    Arrow without a null check per float, which cut the JVM's CPU time on BertEmbeddings'
    output to about half (docs/performance.md).
    """
    from pyspark.sql.types import (
        ArrayType,
        FloatType,
        IntegerType,
        MapType,
        StringType,
        StructField,
        StructType,
    )

    return ArrayType(
        StructType(
            [
                StructField("annotatorType", StringType(), True),
                StructField("begin", IntegerType(), False),
                StructField("end", IntegerType(), False),
                StructField("result", StringType(), True),
                StructField("metadata", MapType(StringType(), StringType(), True), True),
                StructField("embeddings", ArrayType(FloatType(), not null_free_vectors), True),
            ]
        ),
        True,
    )


def column_metadata(annotator_type: str, **extra: Any) -> dict[str, Any]:
    """The Spark column metadata every stage writes on its output column."""
    if annotator_type not in AnnotatorType.ALL:
        raise ValueError(f"unknown annotator type {annotator_type!r}; expected one of {AnnotatorType.ALL}")
    return {ANNOTATOR_TYPE_KEY: annotator_type, **extra}


def is_annotation_type(data_type: Any) -> bool:
    """Whether a Spark ``DataType`` has the shape of an annotator column (nullability aside)."""
    from pyspark.sql.types import ArrayType, StructType

    if not isinstance(data_type, ArrayType) or not isinstance(data_type.elementType, StructType):
        return False
    return tuple(data_type.elementType.fieldNames()) == ANNOTATION_FIELDS


def annotator_type_of(field: "StructField") -> str | None:
    """The annotator type recorded in a column's metadata, or None when it has none."""
    return (field.metadata or {}).get(ANNOTATOR_TYPE_KEY)


def spark_nlp_sentence_keys(sentence_text: str) -> dict[str, str]:
    """The metadata keys Spark NLP gives every sentence-embeddings annotation, which code
    reading its output expects: the sentence's text as ``token``, ``pieceId`` -1 and
    ``isWordStart`` true.

    Examples
    --------
    >>> spark_nlp_sentence_keys("Hi there.")
    {'token': 'Hi there.', 'pieceId': '-1', 'isWordStart': 'true'}
    """
    return {"token": sentence_text, "pieceId": "-1", "isWordStart": "true"}
