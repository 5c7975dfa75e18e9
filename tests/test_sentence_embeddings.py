"""Sentence vectors: SentenceEmbeddings (pooled token vectors) and BertSentenceEmbeddings
(one model pass per sentence), through Spark, against numpy and transformers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pyspark.ml import Pipeline, PipelineModel

from sparktext import (
    BertEmbeddings,
    BertSentenceEmbeddings,
    DocumentAssembler,
    SchemaError,
    SentenceDetector,
    SentenceEmbeddings,
    Tokenizer,
)
from sparktext.inference.device import EngineOptions
from sparktext.inference.engine import get_engine


@pytest.fixture(scope="module")
def ewt_df(spark, ewt_documents):
    return spark.createDataFrame([(i, d.text) for i, d in enumerate(ewt_documents[:12])] + [(99, None)], "id int, text string")


def token_pipeline(model_path, **sentence_params):
    return Pipeline(stages=[
        DocumentAssembler(inputCol="text"),
        SentenceDetector(),
        Tokenizer(inputCols=["sentence"], **sentence_params.pop("tokenizer", {})),
        BertEmbeddings.loadSavedModel(model_path).setInputCols("sentence", "token"),
        SentenceEmbeddings(inputCols=["sentence", "embeddings"], **sentence_params),
    ])


@pytest.mark.parametrize("strategy", ["AVERAGE", "sum"])
def test_sentence_vector_is_the_pool_of_its_token_vectors(spark, ewt_df, tiny_bert_path, strategy):
    out = token_pipeline(tiny_bert_path, poolingStrategy=strategy).fit(ewt_df).transform(ewt_df)
    rows = out.select("sentence", "embeddings", "sentence_embeddings").collect()
    checked = 0
    for row in rows:
        assert len(row.sentence_embeddings) == len(row.sentence)  # one per sentence, none lost
        for sentence, pooled in zip(row.sentence, row.sentence_embeddings):
            assert (pooled.begin, pooled.end, pooled.result) == (sentence.begin, sentence.end, sentence.result)
            tokens = [np.array(t.embeddings) for t in row.embeddings if t.metadata["sentence"] == sentence.metadata["sentence"]]
            expected = np.sum(tokens, axis=0) if strategy == "sum" else np.mean(tokens, axis=0)
            np.testing.assert_allclose(pooled.embeddings, expected, rtol=1e-5, atol=1e-6)
            assert pooled.metadata["tokens"] == str(len(tokens))
            checked += 1
    assert checked > 50
    # the column says what it holds, following the word embeddings it pooled
    ref = BertEmbeddings.loadSavedModel(tiny_bert_path).getStorageRef()
    assert out.schema["sentence_embeddings"].metadata == {"annotatorType": "sentence_embeddings", "dimension": 32, "ref": ref}


def test_a_sentence_without_tokens_gets_a_zero_vector(spark, tiny_bert_path):
    df = spark.createDataFrame([("A b. Another sentence here.",)], ["text"])
    # tokens shorter than 4 characters are dropped: the first sentence keeps none
    out = token_pipeline(tiny_bert_path, tokenizer={"minLength": 4}).fit(df).transform(df).first()
    first, second = out.sentence_embeddings
    assert first.metadata["tokens"] == "0" and first.embeddings == [0.0] * 32
    assert second.metadata["tokens"] == "3" and np.abs(second.embeddings).sum() > 0


def test_unknown_pooling_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"SentenceEmbeddings .*poolingStrategy must be one of \['AVERAGE', 'SUM'\], got 'MAX'"):
        SentenceEmbeddings().setPoolingStrategy("MAX")


def test_wrong_input_type_fails_before_any_job(spark, ewt_df, tiny_bert_path, job_ids_during):
    tokens = Pipeline(stages=[DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"])])
    df = tokens.fit(ewt_df).transform(ewt_df)

    def attempt():
        with pytest.raises(SchemaError, match="SentenceEmbeddings .*'token' holds 'token', expected annotator type 'word_embeddings'"):
            SentenceEmbeddings(inputCols=["sentence", "token"]).transform(df)

    assert job_ids_during(attempt) == []


@pytest.fixture(scope="module")
def minilm_model(minilm_path):
    from transformers import AutoModel

    return AutoModel.from_pretrained(minilm_path).eval()


def reference_sentence_vector(engine, model, text: str, pooling: str) -> np.ndarray:
    from transformers import AutoTokenizer

    encoded = AutoTokenizer.from_pretrained(engine.model_path)([text], return_tensors="pt", truncation=True, max_length=128)
    with torch.inference_mode():
        output = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])
    pooled = output.pooler_output[0] if pooling == "pooler" else output.last_hidden_state[0].mean(0)
    return pooled.float().numpy()


@pytest.mark.parametrize("pooling", ["pooler", "mean"])
def test_bert_sentence_embeddings_match_transformers(spark, ewt_df, minilm_path, minilm_model, pooling):
    model = BertSentenceEmbeddings.loadSavedModel(minilm_path).setPoolingStrategy(pooling).setPrecision("fp32")
    pipeline = Pipeline(stages=[DocumentAssembler(inputCol="text"), SentenceDetector(), model])
    out = pipeline.fit(ewt_df).transform(ewt_df.repartition(3)).select("sentence", "sentence_embeddings").collect()
    engine = get_engine(minilm_path, EngineOptions("cpu", "fp32"))
    sentences = [(s, e) for row in out for s, e in zip(row.sentence, row.sentence_embeddings)]
    assert len(sentences) == sum(len(row.sentence) for row in out) > 50
    for sentence, embedded in sentences:
        assert (embedded.begin, embedded.end, embedded.result) == (sentence.begin, sentence.end, sentence.result)
        expected = reference_sentence_vector(engine, minilm_model, sentence.result, pooling)
        np.testing.assert_allclose(embedded.embeddings, expected, atol=1e-4)


def test_long_sentences_are_truncated_and_say_so(spark, tiny_bert_path):
    df = spark.createDataFrame([(" ".join(["hello world"] * 40) + ".",), ("The dog.",)], ["text"])
    model = BertSentenceEmbeddings.loadSavedModel(tiny_bert_path).setInputCols("document").setMaxSentenceLength(16)
    rows = Pipeline(stages=[DocumentAssembler(inputCol="text"), model]).fit(df).transform(df).collect()
    assert [r.sentence_embeddings[0].metadata["truncated"] for r in rows] == ["true", "false"]
    assert all(len(r.sentence_embeddings[0].embeddings) == 32 for r in rows)


def test_pretrained_sentence_models_and_kind_mismatch():
    model = BertSentenceEmbeddings.pretrained("sent_all_minilm_l6_v2", "en")
    assert (model.getPoolingStrategy(), model.getDimension(), model.getCaseSensitive()) == ("mean", 384, False)
    with pytest.raises(ValueError, match=r"'sent_all_minilm_l6_v2' is a sentence model; load it with BertSentenceEmbeddings"):
        BertEmbeddings.pretrained("sent_all_minilm_l6_v2", "en")
    with pytest.raises(ValueError, match=r"'all_minilm_l6_v2' is a token model; load it with BertEmbeddings"):
        BertSentenceEmbeddings.pretrained("all_minilm_l6_v2", "en")


def test_saved_sentence_pipeline_gives_the_same_vectors(spark, tiny_bert_path, tmp_path):
    df = spark.createDataFrame([("Hello world. The dog was a cat.",)], ["text"])
    model = BertSentenceEmbeddings.loadSavedModel(tiny_bert_path).setPoolingStrategy("mean")
    fitted = Pipeline(stages=[DocumentAssembler(inputCol="text"), SentenceDetector(), model]).fit(df)
    fitted.write().save(str(tmp_path / "saved"))
    loaded = PipelineModel.load(str(tmp_path / "saved"))
    assert loaded.stages[-1].getPoolingStrategy() == "mean"
    before = [a.embeddings for a in fitted.transform(df).first().sentence_embeddings]
    after = [a.embeddings for a in loaded.transform(df).first().sentence_embeddings]
    assert before == after and len(after) == 2
