"""Every stage gives the same output three ways: in a Spark job, reloaded from disk, and (for
the annotators) in a LightPipeline -- one parametrised test over all of them, each set away
from its defaults so that a param the writer or LightPipeline forgets shows."""

from __future__ import annotations

import math

import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.linalg import DenseVector

from sparktext import (
    Annotation,
    BertEmbeddings,
    BertSentenceEmbeddings,
    DocumentAssembler,
    EmbeddingsFinisher,
    Finisher,
    LightPipeline,
    SentenceDetector,
    SentenceEmbeddings,
    Tokenizer,
)
from sparktext.stages._base import FinisherTransformer

TEXTS = [
    "Dr. Smith came home; he was late! state-of-the-art in New York.",
    "",
    None,
    "   漢字 👩‍👩‍👧 naïve café.\r\n\r\nA second paragraph, and a much longer sentence that the model windows.",
]


def configured_stages(tiny_bert_path) -> list:
    return [
        DocumentAssembler(inputCol="text", cleanupMode="shrink"),
        SentenceDetector(customBounds=[";"], minLength=2),
        Tokenizer(inputCols=["sentence"], exceptions=["New York"], splitChars=["-"]),
        BertEmbeddings.loadSavedModel(tiny_bert_path).setInputCols("token", "sentence")
        .setMaxSentenceLength(8).setPoolingStrategy("mean"),
        SentenceEmbeddings(inputCols=["sentence", "embeddings"], poolingStrategy="SUM"),
        BertSentenceEmbeddings.loadSavedModel(tiny_bert_path).setInputCols("sentence").setOutputCol("sentence_bert"),
        Finisher(inputCols=["token", "sentence"], outputCols=["tokens", "sentences"], includeMetadata=True,
                 cleanAnnotations=False),
        EmbeddingsFinisher(inputCols=["sentence_embeddings"], outputAsVector=True),
    ]


STAGE_NAMES = ["DocumentAssembler", "SentenceDetector", "Tokenizer", "BertEmbeddings", "SentenceEmbeddings",
               "BertSentenceEmbeddings", "Finisher", "EmbeddingsFinisher"]


@pytest.fixture(scope="module")
def data(spark):
    return spark.createDataFrame([(number, text) for number, text in enumerate(TEXTS)], "id int, text string")


@pytest.fixture(scope="module")
def pipeline(tiny_bert_path):
    return Pipeline(stages=configured_stages(tiny_bert_path))


@pytest.fixture(scope="module")
def fitted(pipeline, data):
    return pipeline.fit(data)


@pytest.fixture(scope="module")
def reference(fitted, data):
    """Every column of the whole pipeline, as a Spark job gives it, by row id."""
    return {row.id: row for row in fitted.transform(data).collect()}


def output_columns(stage) -> list[str]:
    return stage.getOutputCols() if isinstance(stage, FinisherTransformer) else [stage.getOutputCol()]


def comparable(value):
    """Annotations, vectors and floats in a form that compares with a tolerance-free ==,
    floats rounded to 5 decimals (the engine's order of sums may differ between processes)."""
    if isinstance(value, DenseVector):
        value = value.toArray().tolist()
    if isinstance(value, float):
        return round(value, 5) if math.isfinite(value) else value
    if hasattr(value, "asDict"):  # a Row (a tuple too): by field name
        return comparable(value.asDict(recursive=True))
    if isinstance(value, (list, tuple)):
        return [comparable(item) for item in value]
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, Annotation):
        return comparable({"annotatorType": value.annotatorType, "begin": value.begin, "end": value.end,
                           "result": value.result, "metadata": value.metadata, "embeddings": value.embeddings})
    return value


@pytest.mark.parametrize("index", range(len(STAGE_NAMES)), ids=STAGE_NAMES)
def test_spark_reloaded_and_light_pipeline_agree(spark, data, pipeline, fitted, reference, index, tmp_path):
    stage = fitted.stages[index]
    columns = output_columns(stage)
    expected = {row_id: comparable([row[c] for c in columns]) for row_id, row in reference.items()}
    assert any(any(values) for values in expected.values()), "the stage made nothing to compare"

    # Reloaded: the fitted stage, and for the Tokenizer the estimator too, saved and loaded.
    stage.save(str(tmp_path / "stage"))
    loaded = type(stage).load(str(tmp_path / "stage"))
    prefix = PipelineModel(stages=fitted.stages[:index])
    before = prefix.transform(data)
    variants = {"loaded stage": loaded}
    unfitted = pipeline.getStages()[index]
    if unfitted is not stage:  # an estimator (Tokenizer): its saved params must fit the same model
        unfitted.save(str(tmp_path / "estimator"))
        variants["loaded estimator, fitted"] = type(unfitted).load(str(tmp_path / "estimator")).fit(before)
    for name, model in variants.items():
        rows = model.transform(before).collect()
        assert {row.id: comparable([row[c] for c in columns]) for row in rows} == expected, name

    # LightPipeline: the same stages on the driver, on the same texts.
    light = LightPipeline(PipelineModel(stages=fitted.stages[: index + 1]), parse_embeddings=True)
    annotated = light.fullAnnotate(TEXTS)
    if isinstance(stage, Finisher):  # Spark NLP's rule: from a Finisher on, only what it finishes
        for row_id, result in enumerate(annotated):
            assert set(result) == set(stage.getInputCols())
            assert comparable(result["token"]) == comparable(reference[row_id]["token"])
    elif isinstance(stage, FinisherTransformer):  # an EmbeddingsFinisher changes nothing there
        assert light.annotate(TEXTS) == LightPipeline(PipelineModel(stages=fitted.stages[:index])).annotate(TEXTS)
    else:
        for row_id, result in enumerate(annotated):
            assert comparable(result[columns[0]]) == expected[row_id][0], row_id
