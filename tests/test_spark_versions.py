"""The two ways a stage's batch function runs on Spark give the same DataFrame.

Spark 4.1+ runs it as an Arrow UDF; Spark 3.5 and 4.0 through ``mapInArrow``. On the newest
Spark both ways run here, side by side; on 3.5 and 4.0 the whole suite runs the second.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyspark
import pytest
from pyspark.ml import Pipeline
from pyspark.sql.types import ArrayType, IntegerType, StringType

from sparktext import BertEmbeddings, DocumentAssembler, SentenceDetector, SentenceEmbeddings, Tokenizer
from sparktext.stages import _spark_udf

TEXTS = [
    "One sentence here. And a second one, with 😀 an emoji!",
    None,
    "",
    "Ünïcode façade: naïve café. 東京は大きい。",
    "word " * 300,
]


def _pipeline(tiny_bert_path):
    return Pipeline(stages=[
        DocumentAssembler(inputCol="text"),
        SentenceDetector(),
        Tokenizer(inputCols=["sentence"]),
        BertEmbeddings.loadSavedModel(tiny_bert_path).setInputCols("sentence", "token").setOutputCol("embeddings"),
        SentenceEmbeddings(inputCols=["sentence", "embeddings"], outputCol="sentence_embeddings"),
    ])


def _run(spark, tiny_bert_path, use_arrow_udf: bool, monkeypatch):
    monkeypatch.setattr(_spark_udf, "HAS_ARROW_UDF", use_arrow_udf)
    df = spark.createDataFrame([(i, t) for i, t in enumerate(TEXTS)], "id int, text string").repartition(2)
    result = _pipeline(tiny_bert_path).fit(df).transform(df)
    return result.schema, sorted(result.collect(), key=lambda row: row.id)


@pytest.mark.skipif(not _spark_udf.HAS_ARROW_UDF, reason="this PySpark has no Arrow UDFs: only mapInArrow runs")
def test_arrow_udfs_and_map_in_arrow_give_the_same_schema_metadata_and_rows(spark, tiny_bert_path, monkeypatch):
    udf_schema, udf_rows = _run(spark, tiny_bert_path, True, monkeypatch)
    map_schema, map_rows = _run(spark, tiny_bert_path, False, monkeypatch)
    assert map_schema == udf_schema
    assert [f.metadata for f in map_schema.fields] == [f.metadata for f in udf_schema.fields]
    assert map_rows == udf_rows
    assert len(udf_rows) == len(TEXTS) and sum(len(r.token) for r in udf_rows) > 300


def test_map_in_arrow_replaces_an_existing_column_in_place(spark, monkeypatch):
    monkeypatch.setattr(_spark_udf, "HAS_ARROW_UDF", False)
    df = spark.createDataFrame([("a b", "old", 1)], "text string, document string, n int")
    out = DocumentAssembler(inputCol="text").transform(df.drop("document"))
    out = SentenceDetector(inputCols=["document"], outputCol="n").transform(out)  # replaces n
    assert out.columns == ["text", "n", "document"]
    assert out.schema["n"].metadata["annotatorType"] == "document"
    assert [a.result for a in out.first().n] == ["a b"]


def test_a_partition_function_may_regroup_rows_and_each_keeps_its_own(spark, monkeypatch):
    monkeypatch.setattr(_spark_udf, "HAS_ARROW_UDF", False)

    def _doubled_stream(batches):  # nested: the workers get it by value, not by module
        """Regroups rows: pairs of input batches come out as one array."""
        pending = []
        for (column,) in batches:
            pending.append(pa.compute.multiply(column, pa.scalar(2, pa.int32())))
            if len(pending) == 2:
                yield pa.concat_arrays(pending)
                pending = []
        if pending:
            yield pa.concat_arrays(pending)

    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "7")
    try:
        df = spark.range(0, 100, numPartitions=3).selectExpr("cast(id as int) as n", "cast(id as string) as label")
        out = _spark_udf.with_batch_column(df, "twice", _doubled_stream, ["n"], IntegerType(), {"k": "v"},
                                           per_partition=True)
        rows = out.collect()
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert sorted((r.n, r.label, r.twice) for r in rows) == [(i, str(i), 2 * i) for i in range(100)]
    assert out.schema["twice"].metadata == {"k": "v"}


def test_a_partition_function_that_loses_rows_fails_the_job(spark, monkeypatch):
    monkeypatch.setattr(_spark_udf, "HAS_ARROW_UDF", False)

    def drops_the_last_row(batches):
        for (column,) in batches:
            yield column.slice(0, max(len(column) - 1, 0))

    df = spark.range(0, 10, numPartitions=1).selectExpr("cast(id as int) as n")
    out = _spark_udf.with_batch_column(df, "m", drops_the_last_row, ["n"], IntegerType(), {}, per_partition=True)
    with pytest.raises(Exception, match="returned fewer rows than it was given"):
        out.collect()


def test_a_batch_function_of_three_columns_is_refused(spark):
    df = spark.createDataFrame([(1, 2, 3)], "a int, b int, c int")
    with pytest.raises(ValueError, match="1 or 2 input columns, got 3"):
        _spark_udf.with_batch_column(df, "d", lambda a, b, c: a, ["a", "b", "c"], ArrayType(IntegerType()), {})


def test_the_spark_version_is_one_we_support():
    major, minor = (int(part) for part in pyspark.__version__.split(".")[:2])
    assert (major, minor) >= (3, 5)
    assert _spark_udf.HAS_ARROW_UDF == ((major, minor) >= (4, 1))


@pytest.mark.skipif(not _spark_udf.HAS_ARROW_UDF, reason="mapInArrow runs each stage in its own step")
def test_each_stage_of_a_chain_runs_once_per_batch(spark, tmp_path):
    """Spark runs a chain of UDFs (each reading the one before) as one call and calls the
    inner ones again for their own columns: without care, the first of three stages ran three
    times on every batch, as the SentenceDetector ran twice before every Tokenizer."""
    calls = tmp_path / "calls.txt"

    def stage(name):
        def function(column: pa.Array) -> pa.Array:
            with open(calls, "a") as log:
                log.write(name + "\n")
            return pa.compute.utf8_upper(column) if name == "first" else column

        return function

    df = spark.createDataFrame([("a",), ("b",), (None,)], "t string").repartition(1)
    for name, source in [("first", "t"), ("second", "first"), ("third", "second")]:
        df = _spark_udf.with_batch_column(df, name, stage(name), [source], StringType(), {})
    rows = sorted((tuple(row) for row in df.collect()), key=str)  # one job: orderBy would sample first
    assert rows == [("a", "A", "A", "A"), ("b", "B", "B", "B"), (None,) * 4]
    assert sorted(calls.read_text().split()) == ["first", "second", "third"]
