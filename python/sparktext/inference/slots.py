"""Lending idle cores between the model workers of one machine.

Each Spark task embeds on the cores Spark gave it (one, by default). When a task slot has no
model work -- the other partition is done, or still in the rule stages -- its core idles while
the remaining task runs on one: with two partitions that differ by 8% in work, the last ~8% of
the job runs at half the machine's speed. OpenVINO can run several requests at once in one
process ("streams", one thread each, weights shared), so a worker that finds other slots free
may run that many batches side by side.

Who is free is kept in files, one per task slot, locked with ``flock`` (released by the
kernel when a process dies): a worker holds one slot while it has batches to run and borrows
the others it can lock without waiting, for one round of batches at a time. A worker waiting
for a slot of its own says so (a shared lock on a ``wanted`` file) and nobody borrows while
one waits, so it gets a slot within one batch. Only model workers take part: the sparktext
stages turn it on in local mode unless ``spark.sparktext.lendIdleCores`` is "false" (there the
machine's cores are the Spark application's; docs/performance.md, "Lending idle cores").
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from typing import Iterator

#: How long a worker sleeps between tries when every slot is taken (another worker holds
#: borrowed ones for at most one batch).
WAIT_S = 0.002


class CoreSlots:
    """``count`` task slots shared by the processes that name the same ``group``: a folder
    (an absolute path; the Spark stages use one in the application's temporary directory,
    which Spark deletes when it stops) or a name for one under the system's temporary folder.

    Examples
    --------
    >>> slots = CoreSlots("doctest-group", 2)
    >>> with slots.own():
    ...     borrowed = slots.borrow(5)
    ...     len(borrowed)
    1
    >>> slots.give_back(borrowed)
    """

    def __init__(self, group: str, count: int) -> None:
        if count < 1:
            raise ValueError(f"a machine has at least one task slot, got {count}")
        if os.path.isabs(group):
            self.folder = group
        else:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in group) or "default"
            self.folder = os.path.join(tempfile.gettempdir(), f"sparktext-slots-{os.getuid()}", safe)
        os.makedirs(self.folder, exist_ok=True)
        self.count = count
        self._wanted = os.path.join(self.folder, "wanted")

    def _open(self, path: str) -> int:
        """A descriptor of the slot file ``path``. The folder can vanish under a worker that
        lives on (Spark's temporary directory removed by a stopped session, a cleaner of /tmp):
        it is made again -- at worst a worker still locking a removed file shares a core for a
        round, which costs speed, never vectors."""
        try:
            return os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        except FileNotFoundError:
            os.makedirs(self.folder, exist_ok=True)
            return os.open(path, os.O_CREAT | os.O_RDWR, 0o600)

    def _try_lock(self, slot: int) -> int | None:
        """A descriptor holding slot ``slot``, or None when another holds it. One open file
        per lock: ``flock`` locks belong to the open file, so threads and processes alike
        exclude each other."""
        handle = self._open(os.path.join(self.folder, f"slot-{slot}"))
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            return None
        return handle

    def _lock_any(self) -> int | None:
        for slot in range(self.count):
            handle = self._try_lock(slot)
            if handle is not None:
                return handle
        return None

    @contextlib.contextmanager
    def own(self) -> Iterator[None]:
        """Hold one slot for the block (waiting while every slot is taken)."""
        handle = self._lock_any()
        if handle is None:
            wanting = self._open(self._wanted)
            try:
                fcntl.flock(wanting, fcntl.LOCK_SH)  # borrowers stand back while this is held
                while handle is None:
                    time.sleep(WAIT_S)
                    handle = self._lock_any()
            finally:
                os.close(wanting)
        try:
            yield
        finally:
            os.close(handle)  # closing the file releases the lock

    def borrow(self, most: int) -> list[int]:
        """Lock up to ``most`` more free slots without waiting; give them back with
        :meth:`give_back` after one round of batches."""
        borrowed: list[int] = []
        if most < 1 or not self._nobody_waiting():
            return borrowed
        for slot in range(self.count):
            if len(borrowed) >= most:
                break
            handle = self._try_lock(slot)
            if handle is not None:
                borrowed.append(handle)
        return borrowed

    def _nobody_waiting(self) -> bool:
        probe = self._open(self._wanted)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(probe)
        return True

    @staticmethod
    def give_back(borrowed: list[int]) -> None:
        for handle in borrowed:
            os.close(handle)
