"""A BertEmbeddings job on ``local-cluster[2,1,1024]`` (two executor JVMs) hit by a cluster's
faults; writes what came of it for the test to check.

Usage: python tests/cluster_fault_job.py FAULT MODEL_FOLDER WORK_FOLDER

FAULT ``kill-executor``: in the faulty run the first task kills its own executor JVM (SIGKILL)
after streaming a few batches through BertEmbeddings, while the job writes Parquet: Spark must
re-run the lost tasks on the other executor (the standalone master replaces the dead one), and
the output must hold every row once; then the same job runs undisturbed. WORK_FOLDER/result.json
holds both runs' rows and the killed pid.

FAULT ``truncate-shipped``: before BertEmbeddings loads the model, each executor's fetched copy
of ``model.safetensors`` is cut short (as a full disk during the fetch would leave it). The job
must fail with the error naming the file, never run a model built from it: result.json holds
the job's error message, or its rows if it ran.

(Speculative execution is not tested here: Spark never runs a speculative copy on the host of
the first attempt, and local-cluster's executors share one host.)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pyarrow.parquet as pq
from pyspark import TaskContext
from pyspark.ml import Pipeline

import sparktext
from sparktext import BertEmbeddings, DocumentAssembler, SentenceDetector, Tokenizer
from sparktext.pretrained.checkpoint import checkpoint_fingerprint
from sparktext.pretrained.shipping import SEPARATOR

TEXTS = ["The dog was a friend. Hello world!", "Jane didn't expect that, they say.", None, "",
         "A cat and a dog in the time of the world. " * 4]
ROWS = 400


def executor_jvm_pid() -> int:
    """The executor JVM above this Python worker (its daemon's parent, or further up)."""
    pid = os.getppid()
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if b"CoarseGrainedExecutorBackend" in handle.read():
                return pid
        with open(f"/proc/{pid}/stat") as handle:
            pid = int(handle.read().rsplit(")", 1)[1].split()[1])
    raise RuntimeError("no executor JVM above this Python worker")


def kill_executor_once(marker: str):
    """A mapInArrow function that passes rows through and, in the faulty run only (no marker
    yet), kills its executor JVM in partition 0 after three batches; the marker says which."""

    def run(batches):
        context = TaskContext.get()
        for number, batch in enumerate(batches):
            yield batch
            if number == 2 and context.partitionId() == 0 and not os.path.exists(marker):
                pid = executor_jvm_pid()
                with open(marker, "w") as handle:
                    json.dump({"killed_pid": pid}, handle)
                os.kill(pid, signal.SIGKILL)
                time.sleep(30)  # the JVM is gone; this worker goes with it

    return run


def truncate_shipped_weights(shipped_name: str, work: str):
    """A mapInArrow function that, before passing on its first batch, cuts this executor's
    fetched ``model.safetensors`` to 100 bytes (once per executor)."""

    def run(batches):
        from pyspark import SparkFiles

        marker = os.path.join(work, f"truncated-{executor_jvm_pid()}")
        if not os.path.exists(marker):
            fetched = SparkFiles.get(f"{shipped_name}{SEPARATOR}model.safetensors")
            os.remove(fetched)  # a new, shorter file: the fetched one may share its bytes with others
            with open(fetched, "wb") as handle:
                handle.write(b"\0" * 100)
            open(marker, "w").close()
        yield from batches

    return run


def main(fault: str, model_folder: str, work: str) -> None:
    conf = {"spark.sql.execution.arrow.maxRecordsPerBatch": "20", "spark.task.maxFailures": "4"}
    spark = sparktext.start(master="local-cluster[2,1,1024]", conf=conf)
    spark.sparkContext.setLogLevel("ERROR")
    marker = os.path.join(work, "fault.json")
    source = spark.createDataFrame([(n, TEXTS[n % len(TEXTS)]) for n in range(ROWS)], "id int, text string")
    if fault == "truncate-shipped":
        shipped_name = f"sparktext-model-{checkpoint_fingerprint(model_folder)}"
        df = source.repartition(4).mapInArrow(truncate_shipped_weights(shipped_name, work), source.schema)
    else:
        df = source.repartition(4).mapInArrow(kill_executor_once(marker), source.schema)
    model = Pipeline(stages=[
        DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"]),
        BertEmbeddings.loadSavedModel(model_folder).setInputCols("sentence", "token").setBatchSize(4).setPrecision("fp32"),
    ]).fit(df)
    if fault == "truncate-shipped":
        try:
            rows = model.transform(df).select("id", "embeddings.embeddings").collect()
            outcome = {"rows": [[row.id, row.embeddings] for row in rows]}
        except Exception as error:  # noqa: BLE001 -- the job's failure is what the test reads
            outcome = {"error": str(error)}
        with open(os.path.join(work, "result.json"), "w", encoding="utf-8") as handle:
            json.dump(outcome, handle)
        spark.stop()
        return
    runs = []
    for number in range(2):
        path = os.path.join(work, f"run{number}")
        model.transform(df).select("id", "token.result", "embeddings.embeddings").write.parquet(path)
        rows = sorted(pq.read_table(path).to_pylist(), key=lambda row: row["id"])
        runs.append([[row["id"], row["result"], row["embeddings"]] for row in rows])
    with open(marker) as handle:
        done = json.load(handle)
    with open(os.path.join(work, "result.json"), "w", encoding="utf-8") as handle:
        json.dump({"fault": done, "runs": runs}, handle)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])
