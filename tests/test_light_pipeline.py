"""LightPipeline and sparktext.load(...).predict: the Spark stages' own code on the driver,
the same annotations as transform(), and no Spark job."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from pyspark.ml import Pipeline, PipelineModel

import sparktext
from sparktext import (
    BertEmbeddings,
    DocumentAssembler,
    EmbeddingsFinisher,
    LightPipeline,
    SentenceDetector,
    SentenceEmbeddings,
    Tokenizer,
)
from sparktext.stages.document_assembler import CLEANUP_MODES

HOSTILE = [
    "I'd like to say we didn't expect that. Jane's boyfriend.",
    "",
    "\x07 control 👩‍👩‍👧 emoji, CJK 漢字 and naïve café!\r\nNext line\u2028there.",
    "   ",
    "?!...",
]


@pytest.fixture(scope="module")
def fitted(spark, tiny_bert_path):
    df = spark.createDataFrame([("x",)], ["text"])
    return Pipeline(stages=[
        DocumentAssembler(inputCol="text"),
        SentenceDetector(),
        Tokenizer(inputCols=["sentence"]),
        BertEmbeddings.loadSavedModel(tiny_bert_path).setInputCols("sentence", "token").setMaxSentenceLength(16),
        SentenceEmbeddings(inputCols=["sentence", "embeddings"]),
        EmbeddingsFinisher(inputCols=["embeddings"]),  # not an annotator: skipped by LightPipeline
    ]).fit(df)


def test_full_annotate_equals_transform(spark, fitted, ewt_documents):
    texts = HOSTILE + [d.text for d in ewt_documents[:8]]
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id int, text string")
    spark_rows = sorted(fitted.transform(df).collect(), key=lambda r: r.id)
    light = LightPipeline(fitted, parse_embeddings=True).fullAnnotate(texts)
    assert len(light) == len(texts)
    for row, annotated in zip(spark_rows, light):
        assert set(annotated) == {"document", "sentence", "token", "embeddings", "sentence_embeddings"}
        for column, annotations in annotated.items():
            expected = [sparktext.Annotation.from_row(a) for a in row[column]]
            assert [(a.begin, a.end, a.result, a.metadata) for a in annotations] == [
                (a.begin, a.end, a.result, a.metadata) for a in expected
            ], column
            if column in ("embeddings", "sentence_embeddings"):
                assert all(a.embeddings for a in annotations), column
                np.testing.assert_allclose(
                    [a.embeddings for a in annotations], [a.embeddings for a in expected], atol=1e-5
                )


def test_annotate_gives_results_and_runs_no_spark_job(fitted, job_ids_during):
    pipeline = LightPipeline(fitted)
    answers = []
    assert job_ids_during(lambda: answers.append(pipeline.annotate("Hello world. The dog!"))) == []
    result = answers[0]
    assert result["sentence"] == ["Hello world.", "The dog!"]
    assert result["token"] == result["embeddings"] == ["Hello", "world", ".", "The", "dog", "!"]
    assert [r["token"] for r in pipeline.annotate(["A cat.", None])] == [["A", "cat", "."], []]


def test_bad_inputs_are_named(fitted, tiny_bert_path):
    with pytest.raises(TypeError, match="text 1 is int"):
        LightPipeline(fitted).annotate(["fine", 3])
    for wrong in (5, b"bytes", {"text": "a dict"}):  # not "'int' object is not iterable"
        with pytest.raises(TypeError, match=f"a string or a list of strings, got {type(wrong).__name__}"):
            LightPipeline(fitted).annotate(wrong)
    with pytest.raises(TypeError, match="needs a fitted PipelineModel .*got Pipeline"):
        LightPipeline(Pipeline(stages=[DocumentAssembler(inputCol="text")]))
    broken = PipelineModel(stages=[
        DocumentAssembler(inputCol="text"),
        BertEmbeddings.loadSavedModel(tiny_bert_path).setInputCols("sentence", "token"),
    ])
    with pytest.raises(ValueError, match=r"BertEmbeddings: input column\(s\) \['sentence', 'token'\] are made by no earlier stage"):
        LightPipeline(broken).annotate("text")


@pytest.mark.parametrize("mode", list(CLEANUP_MODES))
def test_document_cleanup_in_python_equals_spark_sql(spark, mode):
    texts = ["  a\tb\n\nc \\n d\\r\\ne\\t f \r\n", "\x00\x1f x \x0b", "\\n", " ", None, "plain"]
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id int, text string")
    assembler = DocumentAssembler(inputCol="text", cleanupMode=mode)
    in_spark = [[(a.begin, a.end, a.result) for a in r.document] for r in sorted(assembler.transform(df).collect(), key=lambda r: r.id)]
    in_python = [[(a["begin"], a["end"], a["result"]) for a in row] for row in assembler.annotate_arrow(pa.array(texts)).to_pylist()]
    assert in_python == in_spark


def test_predict_levels_agree_with_each_other(minilm_path):
    model = sparktext.load("en.embed.minilm")
    texts = ["I love NLP. It is fun!", ""]
    tokens = model.predict(texts, output_level="token")
    assert list(tokens.token) == ["I", "love", "NLP", ".", "It", "is", "fun", "!"]
    assert list(tokens.columns) == ["document", "sentence", "token", "begin", "end", "embedding"]
    assert tokens.embedding[0].shape == (384,) and tokens.embedding[0].dtype == np.float32
    sentences = model.predict(texts, output_level="sentence")
    assert list(sentences.text) == ["I love NLP.", "It is fun!"]
    first = np.stack(tokens.embedding[tokens.sentence == 0]).mean(axis=0)
    np.testing.assert_allclose(sentences.embedding[0], first, rtol=1e-5, atol=1e-6)
    documents = model.predict(texts, output_level="document")
    assert len(documents) == 2 and np.isnan(documents.embedding[1]).all()  # an empty text has no tokens
    np.testing.assert_allclose(documents.embedding[0], np.stack(tokens.embedding).mean(axis=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"output_level must be one of \['token', 'sentence', 'document'\], got 'word'"):
        model.predict(texts, output_level="word")


def test_predict_with_a_sentence_model(minilm_path):
    from sparktext.inference.device import EngineOptions
    from sparktext.inference.engine import get_engine

    frame = sparktext.load("en.embed_sentence.minilm").predict("I love NLP. It is fun!", output_level="sentence")
    engine = get_engine(minilm_path, EngineOptions("auto", "auto"))
    expected = engine.embed_sentences(["I love NLP.", "It is fun!"], pooling="mean").vectors
    np.testing.assert_allclose(np.stack(frame.embedding), expected, atol=1e-5)
    with pytest.raises(ValueError, match="is a sentence model"):
        sparktext.load("sent_all_minilm_l6_v2").predict("x", output_level="token")
