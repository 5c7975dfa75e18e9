"""Reliability of the whole pipeline (DocumentAssembler, SentenceDetector, Tokenizer,
BertEmbeddings): hostile input, errors before any job, a worker killed mid-task, a model
deleted under a running job, skew, and identical answers on every run."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pyspark.ml import Pipeline
from pyspark.sql import functions as F

from conftest import build_tiny_bert
from sparktext import BertEmbeddings, DocumentAssembler, SchemaError, SentenceDetector, Tokenizer

ROOT = pathlib.Path(__file__).resolve().parents[1]

HOSTILE = {
    "null": None,
    "empty": "",
    "whitespace only": " \t\n  \r\n \u00a0 ",
    "5,000-character URL": "See https://example.com/" + "a1b2c3/" * 711 + "end now.",
    "emoji with joiners": "Family 👩‍👩‍👧‍👦, flags 🇺🇳 🏳️‍🌈 and skin 👋🏽 tones. Next one!",
    "CJK": "漢字とかなが混ざった文です。次の文。中文句子也可以！",
    "combining marks": "Cafe\u0301 nai\u0308ve Z\u0338\u0322a\u0335l\u0337g\u0338o\u0334 text.",
    "right-to-left": "שלום עולם. مرحبا بالعالم! Mixed עם English.",
    "controls and NUL": "bell\x07 nul\x00 esc\x1b del\x7f and \x0b vertical tab.",
    "mixed newlines": "line one\r\nline two\rline three\nline four\u2028five\u2029six",
    "only punctuation": "?!...;:--,,((()))''\"\"",
    "plain": "Jane didn't expect that. The dog was a friend!",
}


def full_pipeline(model_folder: str, **bert_params) -> Pipeline:
    bert = BertEmbeddings.loadSavedModel(model_folder).setInputCols("sentence", "token").setPrecision("fp32")
    bert._set(**bert_params)
    return Pipeline(stages=[DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"]), bert])


def check_rows(texts: dict[int, str | None], rows, dimension: int) -> int:
    """Every row back; every token slices its text; one finite vector per token, on the token.
    Returns the number of tokens checked."""
    assert sorted(row.id for row in rows) == sorted(texts)
    checked = 0
    for row in rows:
        text = texts[row.id]
        assert len(row.embeddings) == len(row.token), (row.id, len(row.embeddings), len(row.token))
        for token, vector in zip(row.token, row.embeddings):
            assert text[token.begin : token.end + 1] == token.result, (row.id, token)
            assert (vector.begin, vector.end, vector.result) == (token.begin, token.end, token.result)
            values = np.asarray(vector.embeddings, dtype=np.float32)
            assert values.shape == (dimension,) and np.isfinite(values).all(), (row.id, token.result)
            checked += 1
    return checked


def test_hostile_input_keeps_every_row_exact_offsets_and_one_finite_vector_per_token(spark, tiny_bert_path):
    texts = dict(enumerate(HOSTILE.values()))
    df = spark.createDataFrame(list(texts.items()), "id int, text string").repartition(3)
    # Short windows: the URL (hundreds of wordpieces) and every long sentence are windowed.
    model = full_pipeline(tiny_bert_path, maxSentenceLength=16, batchSize=3).fit(df)
    result = model.transform(df).select("id", "token", "embeddings")
    first = result.collect()
    assert check_rows(texts, first, dimension=32) >= 50
    by_name = {name: next(r for r in first if r.id == number) for number, name in enumerate(HOSTILE)}
    for empty in ("null", "empty", "whitespace only"):
        assert by_name[empty].embeddings == [], empty
    url = max(by_name["5,000-character URL"].token, key=lambda t: len(t.result))
    assert len(url.result) >= 5000
    # Determinism: the same answer on the next run, bit for bit.
    second = result.collect()
    vectors = lambda rows: np.array([a.embeddings for r in sorted(rows, key=lambda r: r.id) for a in r.embeddings])  # noqa: E731
    np.testing.assert_array_equal(vectors(first), vectors(second))


SCHEMA_MISTAKES = {
    "missing column": (lambda df, m: DocumentAssembler(inputCol="body").transform(df), SchemaError, r"DocumentAssembler .*'body'"),
    "non-string text": (lambda df, m: DocumentAssembler(inputCol="id").transform(df), SchemaError, r"DocumentAssembler .*'id'.*int"),
    "text column unset": (lambda df, m: DocumentAssembler().transform(df), SchemaError, r"DocumentAssembler .*inputCol is not set"),
    "wrong annotator type": (
        lambda df, m: BertEmbeddings.loadSavedModel(m).setInputCols("document", "document").transform(
            DocumentAssembler(inputCol="text").transform(df)),
        SchemaError, r"BertEmbeddings .*'document' holds 'document', expected annotator type 'token'"),
    "no model": (lambda df, m: BertEmbeddings().transform(df), SchemaError, r"BertEmbeddings .*no model"),
    "maxSentenceLength 0": (lambda df, m: BertEmbeddings().setMaxSentenceLength(0), ValueError,
                            r"BertEmbeddings \(uid .*\): maxSentenceLength must be in 3..512.*got 0"),
    "maxSentenceLength 513": (lambda df, m: BertEmbeddings(maxSentenceLength=513), ValueError,
                              r"BertEmbeddings \(uid .*\): maxSentenceLength must be in 3..512.*got 513"),
    "unknown device": (lambda df, m: BertEmbeddings().setDevice("tpu"), ValueError, r"BertEmbeddings \(uid .*\): .*'tpu'"),
    "unknown precision": (lambda df, m: BertEmbeddings().setPrecision("int4"), ValueError, r"BertEmbeddings \(uid .*\): .*'int4'"),
    "tokenizer on documents of the wrong type": (  # checked at transform(), as Spark NLP does
        lambda df, m: Tokenizer(inputCols=["text"]).fit(df).transform(df), SchemaError, r"TokenizerModel .*'text'"),
}


@pytest.mark.parametrize("mistake", list(SCHEMA_MISTAKES))
def test_user_mistakes_fail_before_any_job_naming_stage_and_value(spark, tiny_bert_path, job_ids_during, mistake):
    df = spark.createDataFrame([(1, "Some text.")], "id int, text string")
    action, error, pattern = SCHEMA_MISTAKES[mistake]

    def attempt():
        with pytest.raises(error, match=pattern):
            action(df, tiny_bert_path)

    assert job_ids_during(attempt) == []


def test_model_deleted_after_transform_fails_the_job_with_the_folder_named(spark, tiny_bert_path, tmp_path):
    doomed = tmp_path / "doomed"
    shutil.copytree(tiny_bert_path, doomed)
    df = spark.createDataFrame([(1, "A sentence for a model that is gone.")], "id int, text string")
    planned = full_pipeline(str(doomed)).fit(df).transform(df)
    shutil.rmtree(doomed)
    with pytest.raises(Exception, match=rf"model folder '{doomed}' does not exist on this machine"):
        planned.select("embeddings").collect()


def test_a_worker_killed_mid_task_loses_no_row(tiny_bert_path, tmp_path):
    """A Python worker SIGKILLed in the middle of a BertEmbeddings task (first attempt only),
    under ``sparktext.start()``'s default master: Spark retries the task on a fresh worker,
    which loads the model cleanly; every row comes back, identical to a clean run. (Under plain
    ``local[*]``, which tries a task once, the same kill failed the job.)"""
    marker, output = tmp_path / "killed.pid", tmp_path / "runs.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
           "PYSPARK_PYTHON": sys.executable, "SPARKTEXT_FAULT_MARKER": str(marker)}
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "fault_job.py"), tiny_bert_path, str(output)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    killed_pid = int(marker.read_text())
    assert not pathlib.Path(f"/proc/{killed_pid}").exists() or "zombie" in pathlib.Path(f"/proc/{killed_pid}/status").read_text()
    written = json.loads(output.read_text())
    assert written["master"] == "local[*,4]"
    faulty, clean = written["runs"]
    assert [row[0] for row in faulty] == list(range(80))
    assert [row[1] for row in faulty] == [row[1] for row in clean]
    np.testing.assert_allclose(
        np.array([v for row in faulty for v in row[2]]), np.array([v for row in clean for v in row[2]]), atol=1e-6
    )


def check_in_sql(result) -> dict:
    """The checks of :func:`check_rows` but the offsets, computed by Spark SQL next to the data:
    a 10 MB document's vectors stay in the JVM instead of being collected into Python. (Offsets
    are left out: SQL's substring walks the string to each code point, quadratic on 10 MB; the
    same tokens' offsets over a 10 MB document are checked in test_offsets.py, and here every
    vector's begin/end equals its token's.)"""
    checks = result.select(
        "id",
        F.size("token").alias("tokens"),
        (F.size("token") == F.size("embeddings")).alias("one_vector_per_token"),
        F.forall(F.arrays_zip("token", "embeddings"), lambda pair: (pair.token.begin == pair.embeddings.begin)
                 & (pair.token.end == pair.embeddings.end)).alias("vectors_on_tokens"),
        F.forall("embeddings", lambda a: (F.size(a.embeddings) == 32)
                 & F.forall(a.embeddings, lambda x: ~F.isnan(x) & (F.abs(x) < float("inf")))).alias("finite"),
    )
    flags = ["one_vector_per_token", "vectors_on_tokens", "finite"]
    return checks.agg(
        F.countDistinct("id").alias("ids"), F.sum("tokens").alias("tokens"),
        *[F.min(F.col(flag).cast("int")).alias(flag) for flag in flags],
    ).first().asDict()


@pytest.mark.slow
@pytest.mark.parametrize("explode", [False, True], ids=["one row", "exploded sentences"])
def test_skewed_partition_with_a_ten_megabyte_document(spark, tiny_bert_path, ewt_documents, explode):
    """One partition holds a 10 MB document, the others small rows: the job completes, every
    token of the big one has one finite vector on it -- as one row, and as one row
    per sentence (SentenceDetector's explodeSentences, what docs recommend for such texts)."""
    corpus = "\n\n".join(d.text for d in ewt_documents)
    big = ((corpus + "\n\n") * (10_000_000 // (len(corpus) + 2) + 1))[:10_000_000]
    texts = {0: big, **{n: HOSTILE["plain"] for n in range(1, 40)}}
    df = spark.createDataFrame(list(texts.items()), "id int, text string").repartition(4)
    pipeline = full_pipeline(tiny_bert_path)
    pipeline.getStages()[1].setExplodeSentences(explode)
    result = pipeline.fit(df).transform(df)
    checks = check_in_sql(result)
    assert checks["ids"] == len(texts)
    assert checks["one_vector_per_token"] == checks["vectors_on_tokens"] == checks["finite"] == 1
    assert checks["tokens"] > 1_000_000


@pytest.mark.slow
def test_worker_memory_stays_flat_when_a_partition_grows_tenfold(tmp_path):
    """EWT dev streamed through BertEmbeddings as a Python worker gets it (tests/memory_job.py),
    once and ten times over, each in a fresh process, with a 384-wide model: the vectors of
    the 10x run would take hundreds of MB if the partition were materialised, and the peak RSS
    barely moves."""
    model = build_tiny_bert(tmp_path / "wide", hidden_size=384)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT / "tests")])}
    runs = {}
    for copies in (1, 10):
        result = subprocess.run([sys.executable, str(ROOT / "tests" / "memory_job.py"), model, str(copies)],
                                env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr[-4000:]
        runs[copies] = json.loads(result.stdout.strip().splitlines()[-1])
    small, large = runs[1], runs[10]
    assert large["rows"] == 10 * small["rows"] and large["vectors"] == 10 * small["vectors"]
    materialised_mb = (large["vectors"] - small["vectors"]) * 384 * 4 / 2**20
    assert materialised_mb > 300  # what holding the 10x run's vectors at once would add
    # What grows is the engine's buffers, sized by the largest batch it has run (capped on a
    # CPU, inference/batching.py), and the bigger input batch (docs/performance.md, "Worker
    # memory: a cap on a batch's positions"); never the output.
    assert large["peak_mb"] - small["peak_mb"] < materialised_mb / 2, runs


def run_cluster_fault(fault: str, model: str, work) -> dict:
    """tests/cluster_fault_job.py's FAULT on local-cluster, in its own process; its result.json."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "PYSPARK_PYTHON": sys.executable}
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "cluster_fault_job.py"), fault, model, str(work)],
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads((work / "result.json").read_text())


def assert_rows_of_an_undisturbed_run(faulty, clean) -> None:
    """The faulty run's rows ([id, tokens, vectors]) are the clean run's: every id once."""
    assert [row[0] for row in faulty] == [row[0] for row in clean] == list(range(400))  # none lost, none twice
    assert [row[1] for row in faulty] == [row[1] for row in clean]
    np.testing.assert_allclose(
        np.array([v for row in faulty for vector in row[2] for v in vector]),
        np.array([v for row in clean for vector in row[2] for v in vector]), atol=1e-6,
    )


@pytest.mark.slow
def test_an_executor_jvm_killed_mid_job_leaves_the_output_of_an_undisturbed_run(tiny_bert_path, tmp_path):
    """On local-cluster (two executor JVMs) one executor JVM is killed (SIGKILL) in the middle
    of a BertEmbeddings job that writes Parquet: every row comes back once, with the vectors of
    a run without the fault."""
    written = run_cluster_fault("kill-executor", tiny_bert_path, tmp_path)
    killed = written["fault"]["killed_pid"]
    assert not pathlib.Path(f"/proc/{killed}").exists() or "zombie" in pathlib.Path(f"/proc/{killed}/status").read_text()
    assert_rows_of_an_undisturbed_run(*written["runs"])


def test_a_full_disk_while_caching_or_exporting_a_model_leaves_nothing_half_written(tiny_bert_path, tmp_path):
    """The disk fills up (here: the process's file size limit, which fails writes the same way)
    while a model is copied into the cache and while its ONNX graph is exported: each is a
    clear error, and neither the final folder nor a staging folder is left behind."""
    cache = tmp_path / "cache"
    code = f"""
        import os, resource, signal
        from sparktext.inference.export import onnx_graph
        from sparktext.pretrained.checkpoint import copy_checkpoint
        import torch, transformers  # imported before the limit: only the model's files hit it

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        try:
            copy_checkpoint({tiny_bert_path!r}, {str(cache / "entry")!r})
        except OSError as error:
            print("COPY", error)
        try:
            onnx_graph({tiny_bert_path!r}, {str(cache)!r})
        except Exception as error:
            print("EXPORT", type(error).__name__, str(error).splitlines()[0])
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if line.startswith(("COPY", "EXPORT")))
    assert re.search(r"no room to copy the model into .*entry \(File too large while writing model.safetensors; "
                     r"its files take [\d.]+ MB\)", lines["COPY"]), lines
    assert "File too large" in lines["EXPORT"], lines
    left = sorted(str(path.relative_to(cache)) for path in cache.rglob("*") if not path.name.endswith(".lock"))
    assert left == ["onnx"], left  # no entry, no staging folder, no graph


@pytest.mark.slow
def test_a_shipped_model_file_cut_short_on_the_executors_fails_the_job_naming_it(tiny_bert_path, tmp_path):
    """On local-cluster, each executor's fetched copy of the weights is cut short before the
    model loads: the job fails with the error naming the file and both sizes (every retry
    meets the same short file), and no vector is computed from it."""
    outcome = run_cluster_fault("truncate-shipped", tiny_bert_path, tmp_path)
    assert "error" in outcome, "the job ran on weights cut short"
    size = os.path.getsize(os.path.join(tiny_bert_path, "model.safetensors"))
    assert re.search(rf"shipped model file model.safetensors .* has 100 bytes on this executor, the driver's has {size}",
                     outcome["error"]), outcome["error"][-3000:]


@pytest.mark.slow
def test_speculative_copies_of_a_slow_task_leave_every_row_once(tiny_bert_path, tmp_path):
    """A standalone cluster of two hosts (127.0.0.2 and .3) with ``spark.speculation`` on: the
    first attempt of one partition stalls, Spark runs a copy of it on the other host, and the
    BertEmbeddings job writing Parquet keeps every row once, with the vectors of an undisturbed
    run."""
    written = run_cluster_fault("speculation", tiny_bert_path, tmp_path)
    attempts = {each["attempt"]: each["host"] for each in written["fault"]["attempts"]}
    assert 0 in attempts and 1 in attempts, written["fault"]  # the stalled attempt and its copy
    assert attempts[0] != attempts[1]
    assert_rows_of_an_undisturbed_run(*written["runs"])
