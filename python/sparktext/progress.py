"""Rows done, live, from the tasks themselves: what the command line's progress bar shows.

Spark's own counters do not serve: its status tracker counts finished *tasks* (a job of two
tasks sits at 0/2 for most of its run), and a running stage's record counts in its status API
stayed at 0 until its tasks ended (tried with a 1 s heartbeat); even live, the records a task
has read run ahead of what the model has done. So the stages count: every
stage's UDF passes each output array it makes to :func:`report_rows`, which, only inside a
job started under :class:`RowProgress`, sends the task's running totals (rows and
annotations of the tracked output column) to the driver in one UDP datagram. UDP because a
progress report must never slow or fail a task: a lost datagram is made good by the next
(totals, not increments), and a task retried or run twice (speculation) counts once (the
driver keeps each partition's largest attempt).

The driver says where to report in a Spark *local property*, which Spark hands every task
of the jobs the thread submits (Python workers included), so nothing changes for jobs run
outside the block, or for LightPipeline (no task at all).
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc
from pyspark import TaskContext

logger = logging.getLogger(__name__)

#: The Spark local property naming where tasks report: ``"HOST PORT COLUMN"``.
PROGRESS_PROPERTY = "sparktext.progress"

# The reporting side lives in the Python workers: one socket per worker process, and the
# running totals of the task attempt the worker is running (a worker runs one task at a time).
_worker_socket: Optional[socket.socket] = None
_attempt_totals: dict[int, list[int]] = {}


def report_rows(output_column: str, column: pa.Array) -> None:
    """Count ``column`` (output rows of the stage writing ``output_column``) as done, when
    this task runs under a :class:`RowProgress` tracking that column; else do nothing."""
    context = TaskContext.get()
    target = context.getLocalProperty(PROGRESS_PROPERTY) if context is not None else None
    if not target:
        return
    host, port, tracked = target.split(" ", 2)
    if tracked != output_column:
        return
    global _worker_socket
    attempt = context.taskAttemptId()
    if attempt not in _attempt_totals:
        _attempt_totals.clear()  # a new task in this reused worker: the last one is over
        _attempt_totals[attempt] = [0, 0]
    totals = _attempt_totals[attempt]
    totals[0] += len(column)
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        totals[1] += pc.sum(pc.list_value_length(column)).as_py() or 0
    message = f"{context.stageId()} {context.partitionId()} {attempt} {totals[0]} {totals[1]}"
    try:
        if _worker_socket is None:
            _worker_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _worker_socket.sendto(message.encode("ascii"), (host, int(port)))
    except OSError as error:  # best effort by design: the job matters, its progress bar does not
        logger.debug("progress report to %s:%s not sent: %s", host, port, error)


class RowProgress:
    """A tqdm bar of the rows (and annotations) the tasks of the jobs run inside the block have
    made in column ``column``, as they make them, with the rate.

    ``total`` (rows) gives the bar its end and an ETA; without it the bar counts up.
    ``rows`` and ``annotations`` hold the counts so far, during and after the block;
    ``reports`` how many reports came (one per output array a task made).
    """

    def __init__(self, spark, column: str, *, total: int | None = None, label: str = "rows",
                 annotation_unit: str = "tokens", enabled: bool = True, interval: float = 0.5) -> None:
        self.context = spark.sparkContext
        self.column = column
        self.total = total
        self.label = label
        self.annotation_unit = annotation_unit
        self.enabled = enabled
        self.interval = interval
        # (stage, partition) -> {task attempt: [rows, annotations]}
        self._counts: dict[tuple[int, int], dict[int, tuple[int, int]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._socket: Optional[socket.socket] = None
        self._threads: list[threading.Thread] = []
        self.reports = 0

    @property
    def rows(self) -> int:
        return self._sum(0)

    @property
    def annotations(self) -> int:
        return self._sum(1)

    def _sum(self, field: int) -> int:
        with self._lock:
            return sum(max(totals[field] for totals in attempts.values()) for attempts in self._counts.values())

    def __enter__(self) -> "RowProgress":
        if not self.enabled:
            return self
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("", 0))
        self._socket.settimeout(0.2)
        master = self.context.master
        # On a local master the tasks run on this machine; on a cluster they reach the driver
        # at the address Spark gave them.
        host = "127.0.0.1" if master.startswith("local") else self.context.getConf().get("spark.driver.host")
        self.context.setLocalProperty(PROGRESS_PROPERTY, f"{host} {self._socket.getsockname()[1]} {self.column}")
        self._threads = [threading.Thread(target=self._receive, name="sparktext-progress-in", daemon=True),
                         threading.Thread(target=self._draw, name="sparktext-progress", daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if not self.enabled:
            return
        self.context.setLocalProperty(PROGRESS_PROPERTY, None)
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._socket.close()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                message, _ = self._socket.recvfrom(256)
            except socket.timeout:
                continue
            try:
                stage, partition, attempt, rows, annotations = (int(x) for x in message.split())
            except ValueError:  # not one of ours (the port is open to anyone on the host)
                continue
            with self._lock:
                self.reports += 1
                attempts = self._counts.setdefault((stage, partition), {})
                attempts[attempt] = max(attempts.get(attempt, (0, 0)), (rows, annotations))

    def _draw(self) -> None:
        from tqdm import tqdm

        with tqdm(total=self.total, unit=" rows", desc=self.label, file=sys.stderr, leave=False,
                  unit_scale=True, dynamic_ncols=True) as bar:
            while not self._stop.wait(self.interval):
                rows, annotations = self.rows, self.annotations
                bar.n = min(rows, self.total) if self.total is not None else rows
                if annotations:
                    rate = annotations / max(bar.format_dict["elapsed"], 1e-9)
                    bar.set_postfix_str(f"{annotations:,} {self.annotation_unit}, {rate:,.0f} {self.annotation_unit}/s",
                                        refresh=False)
                bar.refresh()
