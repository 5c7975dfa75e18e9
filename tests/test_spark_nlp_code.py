"""Spark NLP code as its users type it, with only the imports changed, gives Spark NLP's shapes."""

from __future__ import annotations

import logging

import pytest
from pyspark.ml import Pipeline

import sparktext
from sparktext.annotator import BertEmbeddings, SentenceDetector, Tokenizer
from sparktext.base import DocumentAssembler, Finisher, LightPipeline


@pytest.fixture(scope="module")
def data(spark):
    return spark.createDataFrame([["I'd like to say we didn't expect that. Jane's boyfriend is big."]]).toDF("text")


def test_tokenizer_fits_on_a_frame_with_only_the_text(data):
    # Spark NLP's Tokenizer docstring fits on the raw data; the columns are checked at transform().
    model = Tokenizer().setInputCols(["document"]).setOutputCol("token").fit(data)
    assembled = DocumentAssembler().setInputCol("text").setOutputCol("document").transform(data)
    assert [a.result for a in model.transform(assembled).first().token][:4] == ["I'd", "like", "to", "say"]
    with pytest.raises(sparktext.SchemaError, match="input column 'document' is missing"):
        model.transform(data)


def _token_embedding_stages(tiny_bert_path) -> list:
    """Spark NLP's documented token-embedding pipeline, as its users write it."""
    return [
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        SentenceDetector().setInputCols(["document"]).setOutputCol("sentence"),
        Tokenizer().setInputCols(["sentence"]).setOutputCol("token"),
        BertEmbeddings.loadSavedModel(tiny_bert_path).setInputCols(["sentence", "token"]).setOutputCol("embeddings"),
    ]


def test_light_pipeline_shapes(data, tiny_bert_path):
    fitted = Pipeline(stages=_token_embedding_stages(tiny_bert_path)).fit(data)
    light = LightPipeline(fitted)
    full = light.fullAnnotate("Hello there. Bye!")
    assert isinstance(full, list) and len(full) == 1  # fullAnnotate(text)[0]["token"] is the idiom
    tokens = full[0]["token"]
    assert [t.result for t in tokens] == ["Hello", "there", ".", "Bye", "!"]
    assert tokens[0].annotatorType == tokens[0].annotator_type == "token"
    assert full[0]["embeddings"][0].embeddings == []  # Spark NLP's default: embeddings not parsed
    parsed = LightPipeline(fitted, parse_embeddings=True).fullAnnotate("Hello there. Bye!")[0]
    assert len(parsed["embeddings"]) == 5 and len(parsed["embeddings"][0].embeddings) == 32
    assert len(light.fullAnnotate(["a b", "c"])) == 2
    assert light.annotate(["a b", "c"])[1]["token"] == ["c"]
    assert isinstance(light.annotate("a b"), dict)
    only = LightPipeline(fitted, output_cols=["token"]).annotate("a b")
    assert only == {"token": ["a", "b"]}
    with pytest.raises(ValueError, match=r"output_cols \['tokens'\] are made by no stage"):
        LightPipeline(fitted, output_cols=["tokens"]).annotate("a b")
    assert light.setIgnoreUnsupported(True) is light and light.getIgnoreUnsupported() is True


def test_start_takes_spark_nlp_keywords(spark, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="sparktext"):
        session = sparktext.start(gpu=False, memory="4G", cache_folder=str(tmp_path), params={"spark.sparktext.x": "1"},
                                  real_time_output=False, output_level=1)
    assert session is spark  # the running session is returned
    assert "have no meaning in sparktext" in caplog.text and "gpu=False" in caplog.text
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['gpus'\]"):
        sparktext.start(gpus=True)
    assert sparktext.version() == sparktext.__version__


def test_finisher_output_cols_default_to_finished_names(data):
    finisher = Finisher().setInputCols(["token"])
    assert finisher.getOutputCols() == ["finished_token"]
    assert finisher.setOutputCols([]).getOutputCols() == ["finished_token"]  # empty means the default
    assert finisher.setOutputCols(["t"]).getOutputCols() == ["t"]


def test_spark_nlp_setters_are_accepted(tiny_bert_path, caplog):
    embeddings = BertEmbeddings.loadSavedModel(tiny_bert_path)
    with caplog.at_level(logging.INFO, logger="sparktext"):
        same = embeddings.setIsLong(True).setConfigProtoBytes([1, 2, 3]).setLazyAnnotator(False)
    assert same is embeddings and caplog.text.count("has no meaning in sparktext") == 3
    assert embeddings.getEngine() == "auto" and embeddings.getLazyAnnotator() is False
    tokenizer = Tokenizer().setParams(inputCols=["sentence"], outputCol="tok")
    assert (tokenizer.getInputCols(), tokenizer.getOutputCol()) == (["sentence"], "tok")
    with pytest.raises(TypeError, match=r"no param\(s\) \['outputColumn'\]"):
        Tokenizer().setParams(outputColumn="x")
    assert SentenceDetector().setLazyAnnotator(True).getLazyAnnotator() is False


def test_input_columns_in_any_order_are_matched_by_annotator_type(spark, data, tiny_bert_path):
    from sparktext import SentenceEmbeddings

    def pipeline(bert_inputs, pooled_inputs):
        return Pipeline(stages=[
            DocumentAssembler().setInputCol("text").setOutputCol("document"),
            Tokenizer().setInputCols(["document"]).setOutputCol("token"),
            BertEmbeddings.loadSavedModel(tiny_bert_path).setInputCols(bert_inputs).setOutputCol("embeddings"),
            SentenceEmbeddings().setInputCols(pooled_inputs).setOutputCol("pooled"),
        ]).fit(data)

    ordered = pipeline(["document", "token"], ["document", "embeddings"])
    reversed_ = pipeline(["token", "document"], ["embeddings", "document"])  # Spark NLP's model cards write this
    assert reversed_.transform(data).select("embeddings", "pooled").collect() == \
        ordered.transform(data).select("embeddings", "pooled").collect()
    light = LightPipeline(reversed_, parse_embeddings=True).fullAnnotate("Hello there.")[0]
    expected = LightPipeline(ordered, parse_embeddings=True).fullAnnotate("Hello there.")[0]
    assert light["pooled"] == expected["pooled"] and len(light["embeddings"]) == 3

    twice = Pipeline(stages=[
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        Tokenizer().setInputCols(["document"]).setOutputCol("token"),
        BertEmbeddings.loadSavedModel(tiny_bert_path).setInputCols(["token", "token"]),
    ]).fit(data)
    with pytest.raises(sparktext.SchemaError, match=r"must hold the types \['document', 'token'\], in any order"):
        twice.transform(data)


def test_sentence_vectors_carry_spark_nlp_metadata_keys(data, tiny_bert_path):
    from sparktext import BertSentenceEmbeddings, SentenceEmbeddings

    fitted = Pipeline(stages=[
        *_token_embedding_stages(tiny_bert_path),
        SentenceEmbeddings().setInputCols(["sentence", "embeddings"]).setOutputCol("pooled"),
        BertSentenceEmbeddings.loadSavedModel(tiny_bert_path).setInputCols(["sentence"]).setOutputCol("sentence_bert"),
    ]).fit(data)
    row = fitted.transform(data).first()
    for column in ("pooled", "sentence_bert"):
        for number, annotation in enumerate(row[column]):
            metadata = annotation.metadata
            assert {"sentence", "token", "pieceId", "isWordStart"} <= set(metadata), (column, metadata)
            assert (metadata["sentence"], metadata["token"], metadata["pieceId"], metadata["isWordStart"]) == (
                str(number), annotation.result, "-1", "true")


def test_dimension_is_known_once_there_is_a_model(tiny_bert_path):
    assert BertEmbeddings.loadSavedModel(tiny_bert_path).getDimension() == 32
    assert BertEmbeddings(modelPath=tiny_bert_path).getDimension() == 32  # read from its config.json
    with pytest.raises(sparktext.SchemaError, match="no model yet, so no dimension"):
        BertEmbeddings().getDimension()
