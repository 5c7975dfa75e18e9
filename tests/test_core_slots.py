"""Model workers lend each other the cores of idle task slots (local mode, OpenVINO): a worker
alone on the machine runs batches side by side and gets the vectors it gets alone; a worker
whose neighbour is busy runs one batch at a time; a worker waiting for a slot is not starved."""

from __future__ import annotations

import contextlib
import multiprocessing
import shutil
import time
import uuid

import numpy as np
import pytest

from sparktext.inference.device import EngineOptions
from sparktext.inference.engine import BertEngine
from sparktext.inference.slots import CoreSlots


def hold_a_slot(group: str, count: int, held, release) -> None:
    """Another worker's process: hold one slot until told to let go."""
    slots = CoreSlots(group, count)
    with slots.own():
        held.set()
        release.wait(60)


@contextlib.contextmanager
def another_worker_holding_a_slot(group: str, count: int = 2):
    """Another process holds one of ``count`` slots of ``group`` for the block; the block gets
    an event that lets it go."""
    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    other = context.Process(target=hold_a_slot, args=(group, count, held, release))
    other.start()
    try:
        assert held.wait(60)
        yield release, other
    finally:
        release.set()
        other.join(60)


@pytest.fixture
def group():
    return f"test-{uuid.uuid4().hex[:8]}"


def test_slots_exclude_each_other_across_processes(group):
    with another_worker_holding_a_slot(group) as (release, other):
        slots = CoreSlots(group, 2)
        with slots.own():
            assert slots.borrow(5) == []  # the other slot is the other worker's
        release.set()
        other.join(60)
        with slots.own():
            borrowed = slots.borrow(5)
            assert len(borrowed) == 1  # the other worker is gone: its slot is free
            CoreSlots.give_back(borrowed)


def test_nobody_borrows_while_a_worker_waits_for_a_slot(group):
    """A worker that finds every slot taken stands in line: borrowers stand back until it has one."""
    import threading

    slots = CoreSlots(group, 2)
    with slots.own():
        borrowed = slots.borrow(1)
        assert len(borrowed) == 1  # both slots are now this worker's
        got, done = threading.Event(), threading.Event()

        def late_worker():
            with CoreSlots(group, 2).own():
                got.set()
                done.wait(10)  # holds its slot until the test is done (it has batches to run)

        thread = threading.Thread(target=late_worker)
        thread.start()
        time.sleep(0.2)  # it is waiting, and says so
        assert not got.is_set()
        CoreSlots.give_back(borrowed)  # the round ends
        # Not taken back: while the late worker waits nobody borrows, and once it has the
        # slot the slot is its own (whichever it is at this instant, the answer is the same).
        assert slots.borrow(1) == []
        assert got.wait(10)
        done.set()
        thread.join(10)


SENTENCES = [["a", "short", "one"], ["this", "sentence", "is", "somewhat", "longer", "than", "that"]] * 40


def side_by_side_rounds(engine: BertEngine) -> tuple[np.ndarray, list[int]]:
    """The engine's vectors for SENTENCES and how many batches each side-by-side round ran."""
    rounds = []
    run_many = engine.runtime.run_many

    def counting(jobs):
        rounds.append(len(jobs))
        return run_many(jobs)

    engine.runtime.run_many = counting
    return engine.embed(SENTENCES, batch_size=8).vectors, rounds


def test_slots_outlive_their_folder(tmp_path):
    # Spark's temporary directory can go (a stopped session, a cleaner of /tmp) while a worker
    # that holds these slots lives on.
    slots = CoreSlots(str(tmp_path / "slots"), 2)
    shutil.rmtree(tmp_path / "slots")
    with slots.own():
        borrowed = slots.borrow(1)
        assert len(borrowed) == 1
    CoreSlots.give_back(borrowed)


def test_a_worker_alone_runs_batches_side_by_side_with_the_same_vectors(minilm_path, group):
    alone = BertEngine(minilm_path, EngineOptions("cpu", "fp32", "openvino", threads=1, machine_cores=2, core_group=group))
    assert alone.core_slots is not None
    vectors, rounds = side_by_side_rounds(alone)
    assert rounds and max(rounds) == 2  # two batches at a time on the two cores
    single = BertEngine(minilm_path, EngineOptions("cpu", "fp32", "openvino", threads=1))
    assert single.core_slots is None
    np.testing.assert_allclose(vectors, single.embed(SENTENCES, batch_size=8).vectors, atol=1e-5)


def test_a_worker_borrows_one_core_however_many_idle(minilm_path, tmp_path):
    # Each stream a worker runs keeps its own buffers: on a many-core machine a worker alone
    # must not grow one per idle core. An absolute group is the folder of the slot files.
    engine = BertEngine(minilm_path, EngineOptions("cpu", "fp32", "openvino", threads=1, machine_cores=8,
                                                   core_group=str(tmp_path / "slots")))
    assert engine.core_slots.count == 8 and engine.core_slots.folder == str(tmp_path / "slots")
    _, rounds = side_by_side_rounds(engine)
    assert rounds and max(rounds) == 2


def test_a_worker_whose_neighbour_is_busy_runs_one_batch_at_a_time(minilm_path, group):
    with another_worker_holding_a_slot(group):
        engine = BertEngine(minilm_path, EngineOptions("cpu", "fp32", "openvino", threads=1, machine_cores=2, core_group=group))
        rounds = []
        engine.runtime.run_many = lambda jobs: rounds.append(len(jobs))
        engine.embed([["hello", "world"]] * 40, batch_size=4)
        assert rounds == []


def test_lending_through_spark_gives_the_vectors_of_a_job_without_it(spark, tiny_bert_path):
    import os

    from pyspark import SparkFiles
    from pyspark.ml import Pipeline

    from sparktext import BertEmbeddings, DocumentAssembler, SentenceDetector, Tokenizer
    from sparktext.stages._bert_model import CORE_SLOTS_FOLDER, LEND_CORES_CONF

    texts = [(f"Sentence number {i} says hello. " * (1 + i % 7),) for i in range(60)]
    df = spark.createDataFrame(texts, "text string").coalesce(1)  # one task: the other slot idles
    stage = BertEmbeddings.loadSavedModel(tiny_bert_path).setEngine("openvino").setBatchSize(4)
    pipeline = Pipeline(stages=[
        DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"]),
        stage.setInputCols("sentence", "token"),
    ]).fit(df)

    def vectors() -> np.ndarray:
        rows = pipeline.transform(df).select("embeddings").collect()
        return np.array([a.embeddings for r in rows for a in r.embeddings])

    lent = vectors()  # on by default in local mode
    slot_folder = os.path.join(SparkFiles.getRootDirectory(), CORE_SLOTS_FOLDER)  # Spark deletes it at stop()
    assert os.path.isdir(slot_folder)  # the worker took part
    shutil.rmtree(slot_folder)
    spark.conf.set(LEND_CORES_CONF, "false")
    try:
        alone = vectors()
        assert not os.path.exists(slot_folder)  # it did not
        spark.conf.set(LEND_CORES_CONF, "yes please")
        with pytest.raises(ValueError, match="lendIdleCores must be 'true' or 'false', got 'yes please'"):
            pipeline.transform(df)
    finally:
        spark.conf.unset(LEND_CORES_CONF)
    np.testing.assert_allclose(lent, alone, atol=1e-5)
    # The workers that lent keep their engine, whose folder is gone: they make it again.
    np.testing.assert_allclose(vectors(), alone, atol=1e-5)
    assert os.path.isdir(slot_folder)
