"""A PySpark daemon whose workers die once, in the middle of a BertEmbeddings task.

Spark starts it instead of ``pyspark.daemon`` (``spark.python.daemon.module=fault_daemon``);
every Python worker is forked from it, so the patch below is in all of them. The first
worker to reach its second forward pass claims the marker file ``$SPARKTEXT_FAULT_MARKER``
(atomically: one death in all), writes its pid there and kills itself with SIGKILL -- no
Python cleanup, as when the kernel's OOM killer or a lost node ends a worker.
"""

from __future__ import annotations

import os
import signal

from pyspark import daemon

from sparktext.inference import engine

_real_forward = engine.BertEngine.forward
_calls = 0


def forward_that_dies_once(self, batch, read=None, length=None):
    global _calls
    _calls += 1
    if _calls >= 2:
        try:
            handle = os.open(os.environ["SPARKTEXT_FAULT_MARKER"], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass  # the one death has happened already
        else:
            os.write(handle, str(os.getpid()).encode())
            os.close(handle)
            os.kill(os.getpid(), signal.SIGKILL)
    return _real_forward(self, batch, read, length)


if __name__ == "__main__":  # only when Spark runs it: importing it (pytest collects it) patches nothing
    engine.BertEngine.forward = forward_that_dies_once
    daemon.manager()
