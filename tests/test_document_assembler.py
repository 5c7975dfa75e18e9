"""DocumentAssembler: Spark NLP's params, every cleanup mode, nulls kept, errors before jobs."""

from __future__ import annotations

import pytest

from sparktext import DocumentAssembler, SchemaError


def assemble(spark, texts, **params):
    df = spark.createDataFrame([(t,) for t in texts], "text string")
    out = DocumentAssembler(inputCol="text", **params).transform(df)
    return [row.document for row in out.collect()], out


def test_defaults_match_spark_nlp():
    assembler = DocumentAssembler()
    assert assembler.getOutputCol() == "document"
    assert assembler.getCleanupMode() == "disabled"
    assert assembler.setInputCol("text") is assembler  # chainable


def test_one_document_spanning_the_text(spark):
    docs, out = assemble(spark, ["Spark NLP is an open-source text processing library."])
    (annotation,) = docs[0]
    assert (annotation.annotatorType, annotation.begin, annotation.end) == ("document", 0, 51)
    assert annotation.metadata == {"sentence": "0"}
    assert annotation.embeddings == []
    assert out.schema["document"].metadata == {"annotatorType": "document"}


def test_null_and_empty_rows_are_kept_with_empty_arrays(spark):
    docs, out = assemble(spark, [None, "", "x"])
    assert out.count() == 3
    assert docs[0] == [] and docs[1] == []
    assert docs[2][0].result == "x"


def test_offsets_count_code_points_like_python(spark):
    text = "naïve 👩‍👩‍👧 café 漢字"
    docs, _ = assemble(spark, [text])
    assert docs[0][0].end == len(text) - 1
    assert docs[0][0].result == text


RAW = "  Hello\tworld\r\nnext  line\\nliteral\\ttab \n\n"


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("disabled", RAW),
        ("inplace", "  Hello world  next  line\\nliteral\\ttab   "),
        ("inplace_full", "  Hello world  next  line literal tab   "),
        ("shrink", "Hello world next line\\nliteral\\ttab"),
        ("shrink_full", "Hello world next line literal tab"),
        ("each", "  Hello world next  line\\nliteral\\ttab   "),
        ("each_full", "  Hello world next  line literal tab   "),
        ("delete_full", "Hello\tworld\r\nnext  lineliteraltab"),
    ],
)
def test_cleanup_modes(spark, mode, expected):
    docs, _ = assemble(spark, [RAW], cleanupMode=mode)
    (annotation,) = docs[0]
    assert annotation.result == expected
    assert annotation.end == len(expected) - 1


def test_whitespace_only_text_shrinks_to_no_document(spark):
    docs, out = assemble(spark, [" \n\t "], cleanupMode="shrink")
    assert docs == [[]] and out.count() == 1


def test_unknown_cleanup_mode_is_refused_when_set():
    with pytest.raises(ValueError, match=r"cleanupMode must be one of .*'shrink'.*got 'squeeze'"):
        DocumentAssembler().setCleanupMode("squeeze")
    assert DocumentAssembler().setCleanupMode(" Shrink ").getCleanupMode() == "shrink"


def test_id_and_metadata_columns(spark):
    df = spark.createDataFrame(
        [(7, "a text", {"source": "web", "sentence": "9"}), (8, "other", None)],
        "id long, text string, meta map<string,string>",
    )
    out = DocumentAssembler(inputCol="text", idCol="id", metadataCol="meta").transform(df).collect()
    assert out[0].document[0].metadata == {"source": "web", "id": "7", "sentence": "0"}
    assert out[1].document[0].metadata == {"id": "8", "sentence": "0"}


def test_array_of_strings_gives_one_document_each(spark):
    df = spark.createDataFrame([(["first", None, "", "second"],), (None,)], "texts array<string>")
    out = DocumentAssembler(inputCol="texts").transform(df).collect()
    assert [(a.result, a.metadata["sentence"]) for a in out[0].document] == [("first", "0"), ("second", "3")]
    assert out[1].document == []


def test_schema_errors_name_the_column_before_any_job(spark):
    df = spark.createDataFrame([(1, "x")], "n int, text string")
    with pytest.raises(SchemaError, match=r"input column 'body' is missing; the DataFrame has \['n', 'text'\]"):
        DocumentAssembler(inputCol="body").transform(df)
    with pytest.raises(SchemaError, match=r"input column 'n' has type int, expected string or array<string>"):
        DocumentAssembler(inputCol="n").transform(df)
    with pytest.raises(SchemaError, match="inputCol is not set"):
        DocumentAssembler().transform(df)
    with pytest.raises(SchemaError, match="metadataCol 'text' has type string, expected map<string,string>"):
        DocumentAssembler(inputCol="text", metadataCol="text").transform(df)
