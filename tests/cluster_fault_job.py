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

FAULT ``speculation``: a standalone master and two workers started here, on the loopback
addresses 127.0.0.2 and 127.0.0.3 (Linux routes all of 127.0.0.0/8 to the loopback device):
two hosts to Spark, which never runs a speculative copy on the host of the first attempt, so
local-cluster (one host) cannot show it. With ``spark.speculation`` on, the first attempt of
partition 0 stalls before its rows reach BertEmbeddings; Spark runs a copy on the other host,
and the job writes Parquet. The same job then runs without the stall. result.json holds both
runs' rows and where each attempt of partition 0 ran.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Iterator

import pyarrow.parquet as pq
from pyspark import TaskContext
from pyspark.ml import Pipeline

import sparktext
from sparktext import BertEmbeddings, DocumentAssembler, SentenceDetector, Tokenizer
from sparktext.pretrained.checkpoint import checkpoint_fingerprint
from sparktext.stages._model_shipping import SEPARATOR

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


def executor_host() -> str:
    """The host the executor JVM above this Python worker registered as (its ``--hostname``)."""
    with open(f"/proc/{executor_jvm_pid()}/cmdline", "rb") as handle:
        arguments = handle.read().decode().split("\0")
    return arguments[arguments.index("--hostname") + 1]


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


def stall_first_attempt(marker: str):
    """A mapInArrow function that, in the first job only (no marker yet), holds back the rows of
    partition 0's first attempt for up to five minutes (until Spark kills it); it records the
    host of every attempt of partition 0 in ``marker``-named files."""

    def run(batches):
        context = TaskContext.get()
        if context.partitionId() == 0 and not os.path.exists(marker):
            attempt = context.attemptNumber()
            with open(f"{marker}.attempt{attempt}", "w") as handle:
                json.dump({"attempt": attempt, "host": executor_host()}, handle)
            if attempt == 0:
                time.sleep(300)
        yield from batches

    return run


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def standalone_cluster(work: str, hosts=("127.0.0.2", "127.0.0.3")) -> Iterator[str]:
    """A Spark standalone master and one one-core worker per host, all on this machine; yields
    the master URL and stops them all afterwards."""
    import pyspark

    home = os.path.dirname(pyspark.__file__)
    env = {**os.environ, "SPARK_HOME": home, "SPARK_WORKER_DIR": os.path.join(work, "workers")}
    spark_class = os.path.join(home, "bin", "spark-class")
    port, ui_port = _free_port(), _free_port()
    logs = open(os.path.join(work, "cluster.log"), "w")
    processes = [subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                   "--port", str(port), "--webui-port", str(ui_port)], env=env, stdout=logs, stderr=logs)]
    try:
        for host in hosts:
            processes.append(subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", host, "--cores", "1", "--memory", "1g",
                 "--webui-port", str(_free_port()), f"spark://127.0.0.1:{port}"], env=env, stdout=logs, stderr=logs))
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as answer:
                    if json.load(answer).get("aliveworkers") == len(hosts):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standalone workers did not register; see {logs.name}")
            time.sleep(0.5)
        yield f"spark://127.0.0.1:{port}"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
        logs.close()


def main(fault: str, model_folder: str, work: str) -> None:
    if fault == "speculation":
        with standalone_cluster(work) as master:
            run_jobs(fault, model_folder, work, master)
    else:
        run_jobs(fault, model_folder, work, "local-cluster[2,1,1024]")


def run_jobs(fault: str, model_folder: str, work: str, master: str) -> None:
    conf = {"spark.sql.execution.arrow.maxRecordsPerBatch": "20", "spark.task.maxFailures": "4"}
    if fault == "speculation":
        conf.update({
            "spark.speculation": "true", "spark.speculation.interval": "200ms", "spark.speculation.multiplier": "2",
            "spark.speculation.quantile": "0.5", "spark.speculation.minTaskRuntime": "2s",
            "spark.executor.cores": "1", "spark.executor.memory": "1g", "spark.cores.max": "2",
            "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
        })
    spark = sparktext.start(master=master, conf=conf)
    spark.sparkContext.setLogLevel("ERROR")
    marker = os.path.join(work, "fault.json")
    source = spark.createDataFrame([(n, TEXTS[n % len(TEXTS)]) for n in range(ROWS)], "id int, text string")
    if fault == "truncate-shipped":
        shipped_name = f"sparktext-model-{checkpoint_fingerprint(model_folder)}"
        df = source.repartition(4).mapInArrow(truncate_shipped_weights(shipped_name, work), source.schema)
    elif fault == "speculation":
        df = source.repartition(4).mapInArrow(stall_first_attempt(marker), source.schema)
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
        if fault == "speculation" and number == 0:
            open(marker, "w").close()  # the second job runs undisturbed
    if fault == "speculation":
        done = {"attempts": []}
        for name in sorted(os.listdir(work)):
            if name.startswith("fault.json.attempt"):
                with open(os.path.join(work, name)) as handle:
                    done["attempts"].append(json.load(handle))
    else:
        with open(marker) as handle:
            done = json.load(handle)
    with open(os.path.join(work, "result.json"), "w", encoding="utf-8") as handle:
        json.dump({"fault": done, "runs": runs}, handle)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])
