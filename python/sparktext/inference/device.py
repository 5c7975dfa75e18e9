"""Where and in what precision the model runs, and how many CPU threads it may use.

Spark decides what a task may use: its CPU share (``spark.task.cpus``) and, with resource
scheduling, the GPU addresses assigned to it. We read both from the ``TaskContext`` when
running inside a task, and fall back to the whole machine on the driver or in tests.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

DEVICES_PATTERN = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def check_device(value: str) -> str:
    """Normalise a ``device`` setting, or raise ``ValueError`` naming what is allowed."""
    text = str(value).strip().lower()
    if not DEVICES_PATTERN.match(text):
        raise ValueError(f"device must be one of 'auto', 'cpu', 'cuda', 'cuda:N', got {value!r}")
    return text


def check_precision(value: str) -> str:
    text = str(value).strip().lower()
    if text not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {value!r}")
    return text


def _task_gpu_addresses() -> list[str]:
    try:
        from pyspark import TaskContext
    except ImportError:  # pragma: no cover - pyspark is a dependency
        return []
    context = TaskContext.get()
    if context is None:
        return []
    gpu = context.resources().get("gpu")
    return list(gpu.addresses) if gpu is not None else []


def task_cpus(default: int | None = None) -> int:
    """CPU cores Spark gave the running task (``spark.task.cpus``), else ``default`` or all."""
    try:
        from pyspark import TaskContext

        context = TaskContext.get()
        if context is not None:
            return max(1, int(context.cpus()))
    except ImportError:  # pragma: no cover
        pass
    if default is not None:
        return default
    import os

    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def resolve_device(setting: str) -> str:
    """A torch device string for ``setting`` (``auto``: the task's GPU, else the first, else CPU)."""
    import torch

    setting = check_device(setting)
    if setting == "cpu":
        return "cpu"
    if setting.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {setting!r} was asked for but CUDA is not available on this machine")
        if setting == "cuda":
            addresses = _task_gpu_addresses()
            return f"cuda:{addresses[0]}" if addresses else "cuda:0"
        return setting
    if torch.cuda.is_available():
        addresses = _task_gpu_addresses()
        return f"cuda:{addresses[0]}" if addresses else "cuda:0"
    return "cpu"


def resolve_precision(precision: str, device: str) -> str:
    """``fp32``, ``fp16`` or ``bf16`` for ``precision`` on ``device`` (``auto``: fp16 on a
    GPU, fp32 -- exact -- on a CPU).

    Examples
    --------
    >>> resolve_precision("auto", "cuda:1"), resolve_precision("auto", "cpu"), resolve_precision("bf16", "cpu")
    ('fp16', 'fp32', 'bf16')
    """
    precision = check_precision(precision)
    if precision == "auto":
        return "fp16" if device.startswith("cuda") else "fp32"
    return precision
