"""The annotation contract: Spark NLP's schema, field for field, and the column metadata."""

from __future__ import annotations

import pyarrow as pa
import pytest

from sparktext.annotation import (
    ANNOTATION_ARROW_TYPE,
    ANNOTATION_FIELDS,
    Annotation,
    AnnotatorType,
    annotation_spark_type,
    column_metadata,
    is_annotation_type,
)
from sparktext.columnar import AnnotationBuilder, read_annotations


def test_spark_schema_has_spark_nlp_fields_in_order():
    from pyspark.sql.types import ArrayType, FloatType, IntegerType, MapType, StringType

    element = annotation_spark_type().elementType
    assert tuple(element.fieldNames()) == (
        "annotatorType", "begin", "end", "result", "metadata", "embeddings"
    )
    types = {f.name: f.dataType for f in element.fields}
    assert types["begin"] == IntegerType() and types["end"] == IntegerType()
    assert types["metadata"] == MapType(StringType(), StringType(), True)
    assert isinstance(types["embeddings"], ArrayType) and types["embeddings"].elementType == FloatType()
    assert not element["begin"].nullable and not element["end"].nullable


def test_arrow_type_matches_spark_type(spark):
    """What the UDFs build must be what Spark declares, or every job would fail on read."""
    from pyspark.sql.pandas.types import from_arrow_type

    assert from_arrow_type(ANNOTATION_ARROW_TYPE).elementType.fieldNames() == list(ANNOTATION_FIELDS)


def test_column_metadata_refuses_unknown_types():
    assert column_metadata(AnnotatorType.TOKEN) == {"annotatorType": "token"}
    with pytest.raises(ValueError, match="unknown annotator type 'tokens'"):
        column_metadata("tokens")


def test_is_annotation_type_rejects_other_shapes():
    from pyspark.sql.types import ArrayType, StringType

    assert is_annotation_type(annotation_spark_type())
    assert not is_annotation_type(ArrayType(StringType()))
    assert not is_annotation_type(StringType())


def test_builder_and_reader_round_trip_with_null_and_empty_rows():
    builder = AnnotationBuilder(AnnotatorType.TOKEN)
    builder.add(0, 4, "Hello", {"sentence": "0"})
    builder.add(6, 10, "world", {"sentence": "0", "x": "y"})
    builder.end_row()
    builder.end_row()
    array = builder.finish()
    assert array.type == ANNOTATION_ARROW_TYPE
    with_null = pa.concat_arrays([array, pa.array([None], type=ANNOTATION_ARROW_TYPE)])
    batch = read_annotations(with_null)
    assert batch.num_rows == 3
    assert [indices for _, indices in batch.by_row()] == [[0, 1], [], []]
    assert batch.results == ["Hello", "world"]
    assert batch.metadata[1] == {"sentence": "0", "x": "y"}
    assert list(batch.begins) == [0, 6]


def test_reader_honours_slices():
    builder = AnnotationBuilder(AnnotatorType.DOCUMENT)
    for text in ["a", "bb", "ccc"]:
        builder.add(0, len(text) - 1, text, {})
        builder.end_row()
    batch = read_annotations(builder.finish().slice(1, 2))
    assert batch.results == ["bb", "ccc"]
    assert [indices for _, indices in batch.by_row()] == [[0], [1]]


def test_annotation_from_spark_row(spark):
    from sparktext import DocumentAssembler

    df = spark.createDataFrame([("Hi there",)], ["text"])
    row = DocumentAssembler().setInputCol("text").transform(df).first()
    annotation = Annotation.from_row(row.document[0])
    assert annotation == Annotation("document", 0, 7, "Hi there", {"sentence": "0"}, [])


def test_builder_extend_equals_add():
    one, many = AnnotationBuilder("token"), AnnotationBuilder("token")
    for begin, end, text in [(0, 1, "ab"), (3, 3, "c"), (5, 6, "de")]:
        one.add(begin, end, text, {"sentence": "2", "k": "v"})
    one.add(9, 9, "x", {})
    one.end_row()
    many.extend([0, 3, 5], [1, 3, 6], ["ab", "c", "de"], {"sentence": "2", "k": "v"})
    many.extend([], [], [], {"sentence": "3"})
    many.extend([9], [9], ["x"], {})
    many.end_row()
    assert many.finish().equals(one.finish())
