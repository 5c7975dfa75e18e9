"""Finisher and EmbeddingsFinisher: annotations into columns Spark ML and SQL use directly."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import Pipeline
from pyspark.ml.linalg import DenseVector

from sparktext import (
    BertEmbeddings,
    DocumentAssembler,
    EmbeddingsFinisher,
    Finisher,
    SchemaError,
    SentenceDetector,
    SentenceEmbeddings,
    Tokenizer,
)


@pytest.fixture(scope="module")
def embedded(spark, tiny_bert_path):
    df = spark.createDataFrame(
        [(0, "Hello world. The dog was a cat."), (1, None), (2, "She said: hello!")], "id int, text string"
    )
    pipeline = Pipeline(stages=[
        DocumentAssembler(inputCol="text"),
        SentenceDetector(),
        Tokenizer(inputCols=["sentence"]),
        BertEmbeddings.loadSavedModel(tiny_bert_path).setInputCols("sentence", "token"),
        SentenceEmbeddings(inputCols=["sentence", "embeddings"]),
    ])
    return pipeline.fit(df).transform(df).cache()


def by_id(df):
    return {row.id: row for row in df.collect()}


def test_embeddings_finisher_gives_float_arrays_by_default_and_keeps_annotations(embedded):
    out = EmbeddingsFinisher().setInputCols("embeddings").transform(embedded)
    assert "embeddings" in out.columns and "token" in out.columns  # cleanAnnotations is False by default
    assert out.schema["finished_embeddings"].dataType.simpleString() == "array<array<float>>"
    rows = by_id(out)
    for row in rows.values():
        assert row.finished_embeddings == [a.embeddings for a in (row.embeddings or [])]
    assert rows[1].finished_embeddings == []  # a null text: an empty array, the row kept


def test_embeddings_finisher_vectors_feed_spark_ml(spark, embedded):
    from pyspark.ml.clustering import KMeans
    from pyspark.sql import functions as F

    finisher = EmbeddingsFinisher(inputCols=["sentence_embeddings"], outputCols=["vectors"], outputAsVector=True,
                                  cleanAnnotations=True)
    out = finisher.transform(embedded)
    assert out.columns == ["id", "text", "vectors"]  # every annotator column dropped
    rows = by_id(out)
    originals = by_id(embedded)
    assert all(isinstance(v, DenseVector) for v in rows[0].vectors) and len(rows[0].vectors) == 2
    np.testing.assert_allclose(rows[0].vectors[1].toArray(), originals[0].sentence_embeddings[1].embeddings, rtol=1e-6)
    features = out.select(F.explode("vectors").alias("features"))
    model = KMeans(k=2, seed=1).fit(features)
    assert len(model.clusterCenters()) == 2 and len(model.clusterCenters()[0]) == 32


def test_embeddings_finisher_refuses_columns_without_vectors(embedded, job_ids_during):
    def attempt():
        with pytest.raises(SchemaError, match=r"EmbeddingsFinisher .*'token' holds 'token', expected one of \['word_embeddings', 'sentence_embeddings'\]"):
            EmbeddingsFinisher().setInputCols("token").transform(embedded)
        with pytest.raises(SchemaError, match=r"EmbeddingsFinisher .*'text' has type string"):
            EmbeddingsFinisher().setInputCols("text").transform(embedded)
        with pytest.raises(SchemaError, match=r"2 inputCols .* but 1 outputCols"):
            EmbeddingsFinisher().setInputCols("embeddings", "sentence_embeddings").setOutputCols("x").transform(embedded)

    assert job_ids_during(attempt) == []


def test_finisher_defaults_results_as_arrays_and_annotations_dropped(embedded):
    out = Finisher().setInputCols("token", "sentence").transform(embedded)
    assert out.columns == ["id", "text", "finished_token", "finished_sentence"]
    rows = by_id(out)
    assert rows[0].finished_token == ["Hello", "world", ".", "The", "dog", "was", "a", "cat", "."]
    assert rows[0].finished_sentence == ["Hello world.", "The dog was a cat."]
    assert rows[1].finished_token == []


def test_finisher_metadata_is_spark_nlps_merged_map_or_one_map_per_annotation(embedded):
    from pyspark.sql.types import MapType, StringType

    out = Finisher(inputCols=["token"], includeMetadata=True, cleanAnnotations=False).transform(embedded)
    assert out.schema["finished_token_metadata"].dataType == MapType(StringType(), StringType())
    for row in by_id(out).values():
        merged = {}
        for token in row.token:  # Spark NLP: every pair in one map, a repeated key's last value kept
            merged.update(token.metadata)
        assert row.finished_token_metadata == merged
    assert by_id(out)[0].finished_token_metadata["sentence"] == "1"  # two sentences: the last wins
    aligned = Finisher(inputCols=["token"], includeMetadata=True, cleanAnnotations=False,
                       metadataPerAnnotation=True).transform(embedded)
    row = by_id(aligned)[0]
    assert [m["sentence"] for m in row.finished_token_metadata] == ["0"] * 3 + ["1"] * 6
    assert len(row.finished_token_metadata) == len(row.finished_token) and "token" in aligned.columns


def test_finisher_as_strings_with_split_symbols(embedded):
    plain = by_id(Finisher(inputCols=["sentence"], outputAsArray=False).transform(embedded))
    assert plain[0].finished_sentence == "Hello world.@The dog was a cat."
    detailed = by_id(Finisher(inputCols=["sentence"], outputAsArray=False, includeMetadata=True,
                              annotationSplitSymbol=" | ").transform(embedded))
    assert detailed[0].finished_sentence == "sentence->0#result->Hello world. | sentence->1#result->The dog was a cat."


def test_finisher_parses_embedding_vectors_when_asked(embedded):
    out = by_id(Finisher(inputCols=["sentence_embeddings"], parseEmbeddingsVectors=True).transform(embedded))
    values = [float(v) for v in out[0].finished_sentence_embeddings[0].split(" ")]
    expected = by_id(embedded)[0].sentence_embeddings[0].embeddings
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    assert len(values) == 32
