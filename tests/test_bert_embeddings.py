"""BertEmbeddings as a Spark stage: one vector per token, parity with transformers, params,
errors before jobs, and one model load per Python worker."""

from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pyarrow as pa
import pytest
from pyspark.ml import Pipeline
from pyspark.sql.types import StringType

from sparktext import BertEmbeddings, DocumentAssembler, SchemaError, SentenceDetector, Tokenizer
from sparktext.stages._spark_udf import HAS_ARROW_UDF

TEXTS = [
    "I'd like to say we didn't expect that. Jane's boyfriend.",
    None,
    "",
    "\x07 control 👩‍👩‍👧 emoji, CJK 漢字 and naïve café!",
    "A short one.",
]


def pipeline_for(embeddings):
    return Pipeline(stages=[
        DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"]), embeddings
    ])


@pytest.fixture(scope="module")
def text_df(spark):
    return spark.createDataFrame([(i, t) for i, t in enumerate(TEXTS)], "id int, text string")


def test_one_vector_per_token_in_order(spark, text_df, tiny_bert_path):
    embeddings = BertEmbeddings.loadSavedModel(tiny_bert_path, spark).setInputCols("sentence", "token")
    out = pipeline_for(embeddings).fit(text_df).transform(text_df)
    assert out.schema["embeddings"].metadata == {
        "annotatorType": "word_embeddings", "dimension": 32, "ref": os.path.basename(tiny_bert_path)
    }
    rows = out.orderBy("id").collect()
    assert len(rows) == len(TEXTS)
    for row in rows:
        assert len(row.embeddings) == len(row.token)
        for token, vector in zip(row.token, row.embeddings):
            assert (vector.begin, vector.end, vector.result) == (token.begin, token.end, token.result)
            assert vector.annotatorType == "word_embeddings"
            assert set(vector.metadata) == {"sentence", "token", "pieceId", "isWordStart", "isOOV"}
            assert vector.metadata["sentence"] == token.metadata["sentence"]
            assert vector.metadata["token"] == token.result
            assert len(vector.embeddings) == 32 and np.isfinite(vector.embeddings).all()
    assert rows[1].embeddings == [] and rows[2].embeddings == []
    control = rows[3].embeddings[0]
    assert control.result == "\x07" and control.metadata["isOOV"] == "true"


def test_input_cols_as_list_or_varargs():
    assert BertEmbeddings().setInputCols(["sentence", "token"]).getInputCols() == ["sentence", "token"]
    assert BertEmbeddings().setInputCols("sentence", "token").getInputCols() == ["sentence", "token"]


def test_matches_transformers_through_spark(spark, minilm_path, ewt_documents):
    """fp32 MiniLM: every token vector equals BertModel's first-piece output within 1e-4."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    docs = ewt_documents[:12]
    df = spark.createDataFrame([(d.doc_id, d.text) for d in docs], "id string, text string").repartition(3)
    embeddings = BertEmbeddings.loadSavedModel(minilm_path, spark).setPrecision("fp32").setDevice("cpu")
    rows = pipeline_for(embeddings).fit(df).transform(df).select("token", "embeddings").collect()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model = AutoModel.from_pretrained(minilm_path).eval()
    checked = 0
    for row in rows:
        by_sentence: dict[str, list] = {}
        for annotation in row.embeddings:
            by_sentence.setdefault(annotation.metadata["sentence"], []).append(annotation)
        for sentence_vectors in by_sentence.values():
            words = [a.result.lower() for a in sentence_vectors]
            encoded = tokenizer([words], is_split_into_words=True, return_tensors="pt", truncation=False)
            if encoded["input_ids"].shape[1] > 128:
                continue  # windowed: covered by the engine tests
            with torch.inference_mode():
                hidden = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).last_hidden_state[0]
            word_ids = encoded.word_ids(0)
            for index, annotation in enumerate(sentence_vectors):
                if index not in word_ids:
                    continue
                expected = hidden[word_ids.index(index)].numpy()
                np.testing.assert_allclose(annotation.embeddings, expected, atol=1e-4)
                checked += 1
    assert checked > 500


def test_case_sensitive_keeps_case_or_lowercases_tokens(spark, tiny_bert_path, tmp_path):
    """The cased test model knows "Hello" and "hello" as different pieces: caseSensitive (read
    from the tokenizer) keeps them apart, and False embeds "Hello World." as "hello world."."""
    from conftest import build_tiny_bert

    uncased = build_tiny_bert(tmp_path / "uncased", lowercase=True)
    assert BertEmbeddings.loadSavedModel(tiny_bert_path).getCaseSensitive() is True
    assert BertEmbeddings.loadSavedModel(uncased).getCaseSensitive() is False
    df = spark.createDataFrame([(0, "Hello World."), (1, "hello world.")], "id int, text string")

    def embedded(case_sensitive):
        stage = BertEmbeddings.loadSavedModel(tiny_bert_path).setCaseSensitive(case_sensitive)
        rows = pipeline_for(stage).fit(df).transform(df).orderBy("id").collect()
        return [([a.metadata["pieceId"] for a in r.embeddings], np.array([a.embeddings for a in r.embeddings])) for r in rows]

    (capital_ids, capital), (lower_ids, lower) = embedded(True)
    assert capital_ids[:2] != lower_ids[:2] and not np.allclose(capital[:2], lower[:2])
    (folded_ids, folded), (lower_ids_again, lower_again) = embedded(False)
    assert folded_ids == lower_ids == lower_ids_again
    np.testing.assert_allclose(folded, lower, atol=1e-6)
    np.testing.assert_allclose(lower_again, lower, atol=1e-6)


def test_results_do_not_depend_on_partitions_or_batch_size(spark, tiny_bert_path, ewt_documents):
    texts = [(d.doc_id, d.text) for d in ewt_documents[:30]]

    def vectors(partitions, batch_size):
        df = spark.createDataFrame(texts, "id string, text string").repartition(partitions)
        stage = BertEmbeddings.loadSavedModel(tiny_bert_path).setBatchSize(batch_size).setPrecision("fp32")
        rows = pipeline_for(stage).fit(df).transform(df).select("id", "embeddings").collect()
        return {r.id: np.array([a.embeddings for a in r.embeddings]) for r in rows}

    one, many = vectors(1, 1), vectors(4, 13)
    assert one.keys() == many.keys()
    for key in one:
        np.testing.assert_allclose(one[key], many[key], atol=1e-4)


def test_long_sentences_keep_every_token(spark, tiny_bert_path):
    text = " ".join(["hello world supercalifragilistic dog"] * 200)  # one 800-token sentence
    df = spark.createDataFrame([(text,)], "text string")
    stage = BertEmbeddings.loadSavedModel(tiny_bert_path).setMaxSentenceLength(64).setPoolingStrategy("mean")
    row = pipeline_for(stage).fit(df).transform(df).first()
    assert len(row.token) == 800 and len(row.embeddings) == 800


@pytest.mark.parametrize(
    "setter, value, message",
    [
        ("setMaxSentenceLength", 0, r"maxSentenceLength must be in 3..512 \(wordpieces per window, \[CLS\] and \[SEP\] included\), got 0"),
        # 2 leaves no room for a wordpiece between [CLS] and [SEP]: refused when set, not at the first batch.
        ("setMaxSentenceLength", 2, r"maxSentenceLength must be in 3..512 .*got 2"),
        ("setMaxSentenceLength", 513, r"maxSentenceLength must be in 3..512"),
        ("setDevice", "gpu", r"device must be one of 'auto', 'cpu', 'cuda', 'cuda:N', got 'gpu'"),
        ("setPrecision", "fp8", r"precision must be one of \['auto', 'fp32', 'fp16', 'bf16'\], got 'fp8'"),
        ("setPoolingStrategy", "max", r"poolingStrategy must be one of \['first', 'mean', 'last'\], got 'max'"),
        ("setBatchSize", -1, r"batchSize must be >= 0, got -1"),
    ],
)
def test_bad_params_are_refused_when_set(setter, value, message):
    with pytest.raises(ValueError, match=message):
        getattr(BertEmbeddings(), setter)(value)


def test_checkpoint_problems_are_named(tmp_path, tiny_bert_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        BertEmbeddings.loadSavedModel(str(tmp_path / "nothing"))
    roberta = tmp_path / "roberta"
    roberta.mkdir()
    (roberta / "config.json").write_text(json.dumps({"model_type": "gpt2", "hidden_size": 8}))
    with pytest.raises(ValueError, match=r"model_type 'gpt2' is not a BERT-family model"):
        BertEmbeddings.loadSavedModel(str(roberta))
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_bert_path, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match=r"no safetensors weights.*pytorch_model.bin.*allow_pickle=True.*convert_to_safetensors"):
        BertEmbeddings.loadSavedModel(str(pickled))


def test_errors_before_any_job(spark, text_df, tiny_bert_path, tmp_path):
    docs = DocumentAssembler(inputCol="text").transform(text_df)
    with pytest.raises(SchemaError, match=r"no model; use BertEmbeddings.pretrained\(name, lang\) or BertEmbeddings.loadSavedModel"):
        BertEmbeddings().transform(docs)
    with pytest.raises(SchemaError, match=r"input column 'token' is missing"):
        BertEmbeddings.loadSavedModel(tiny_bert_path).setInputCols("document", "token").transform(docs)
    with pytest.raises(SchemaError, match=r"input column 'document' holds 'document', expected annotator type 'token'"):
        BertEmbeddings.loadSavedModel(tiny_bert_path).setInputCols("document", "document").transform(docs)
    moved = tmp_path / "moved"
    shutil.copytree(tiny_bert_path, moved)
    stage = BertEmbeddings.loadSavedModel(str(moved))
    shutil.rmtree(moved)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        stage.setInputCols("document", "document").transform(docs)


def test_model_loads_once_per_task_slot(spark, tiny_bert_path, ewt_documents, tmp_path):
    """Three jobs of eight tasks each on local[2]: two workers load the model, once each, and
    serve every task after, each on one thread (spark.task.cpus); the rule stages' workers never
    load it."""
    from sparktext.stages._bert_model import model_worker_pool
    from sparktext.stages._spark_udf import with_batch_column

    # A folder of its own: the workers count loads per folder, and other tests' jobs (other
    # engines, other settings) load the shared tiny model in these same workers.
    tiny_path = shutil.copytree(tiny_bert_path, str(tmp_path / "tiny-bert"))
    df = spark.createDataFrame([(d.text,) for d in ewt_documents[:80]], "text string").repartition(8)
    model = pipeline_for(BertEmbeddings.loadSavedModel(tiny_path).setBatchSize(4)).fit(df)
    for _ in range(3):
        model.transform(df).write.format("noop").mode("overwrite").save()

    def report(ids: pa.Array) -> pa.Array:
        import torch

        from sparktext.inference.engine import load_count

        loads = load_count(tiny_path, device="auto", precision="auto")
        return pa.array([f"{os.getpid()}:{loads}:{torch.get_num_threads()}"] * len(ids))

    def probe() -> dict[int, tuple[int, int]]:
        """Each worker's pid: (model loads, torch threads)."""
        ids = spark.range(0, 64, 1, 8)
        rows = with_batch_column(ids, "probe", report, ["id"], StringType(), {}).select("probe").collect()
        return {pid: (loads, threads) for pid, loads, threads in (map(int, r.probe.split(":")) for r in rows)}

    with model_worker_pool(spark):  # the probe runs where BertEmbeddings' UDF runs
        model_workers = probe()
    other_workers = probe()
    loaded = {pid: loads for pid, (loads, _) in model_workers.items() if loads}
    assert loaded, "no worker kept its model: Python workers are not being reused"
    assert set(loaded.values()) == {1}, model_workers
    assert len(loaded) <= 2, f"more models than task slots: {model_workers}"
    assert {threads for loads, threads in model_workers.values() if loads} == {1}, model_workers
    rule_stage_loads = [loads for loads, _ in other_workers.values()]
    assert not any(rule_stage_loads), f"a rule-stage worker loaded the model: {other_workers}"


def test_the_model_pool_variable_does_not_outlive_transform(spark, tiny_bert_path, text_df):
    """The worker environment BertEmbeddings' UDF is created with is not left for the user's
    own UDFs (they would share the model workers' pool), and a value the user set stays."""
    from sparktext.stages._bert_model import MODEL_POOL_VARIABLE

    environment = spark.sparkContext.environment
    before = dict(environment)
    pipeline_for(BertEmbeddings.loadSavedModel(tiny_bert_path)).fit(text_df).transform(text_df)
    assert environment == before
    environment[MODEL_POOL_VARIABLE] = "the user's own"
    try:
        pipeline_for(BertEmbeddings.loadSavedModel(tiny_bert_path)).fit(text_df).transform(text_df)
        assert environment[MODEL_POOL_VARIABLE] == "the user's own"
    finally:
        del environment[MODEL_POOL_VARIABLE]
    assert MODEL_POOL_VARIABLE not in environment


def test_row_chunks_cover_every_row_once_within_the_budget():
    from sparktext.stages.bert_embeddings import row_chunks

    rng = np.random.default_rng(1)
    lists = [None if n < 0 else list(range(n)) for n in rng.integers(-1, 30, size=300)]
    column = pa.array(lists, type=pa.list_(pa.int64()))
    chunks = list(row_chunks(column, 50))
    assert pa.concat_arrays(chunks).equals(column)
    for chunk in chunks:
        lengths = pc_lengths(chunk)
        assert sum(lengths) <= 50 or len(chunk) == 1


def pc_lengths(chunk):
    import pyarrow.compute as pc

    return pc.fill_null(pc.list_value_length(chunk), 0).to_pylist()


@pytest.mark.skipif(not HAS_ARROW_UDF, reason="Spark 3.5 and 4.0 run stages through mapInArrow, which sends whole rows")
@pytest.mark.parametrize("input_cols", [("sentence", "token"), ("token", "sentence")])
def test_only_the_token_column_goes_to_the_model_workers(spark, text_df, tiny_bert_path, input_cols):
    """The sentence column a token model declares (as Spark NLP's does) is checked, but only
    the token column is sent to the Python workers: the model never reads the sentences, and
    the JVM would serialise every one of them for it."""
    embeddings = BertEmbeddings.loadSavedModel(tiny_bert_path).setInputCols(*input_cols)
    out = pipeline_for(embeddings).fit(text_df).transform(text_df)
    plan = out._jdf.queryExecution().executedPlan().toString()
    # The model's UDF is the one over a task's stream of batches (stages/_spark_udf.py).
    model_calls = re.findall(r"\b(\w+_streams?)\((.*?)\)#\d+", plan)
    assert [name for name, _ in model_calls] == ["one_stream"], plan
    read = set(re.findall(r"\w+#\d+", model_calls[0][1]))
    producer, token = re.search(r"(\w+#\d+) AS (token#\d+)", plan).groups()  # pythonUDF0#49 AS token#43
    assert read in ({token}, {producer}), plan
    assert all(len(row.embeddings) == len(row.token) for row in out.collect())
