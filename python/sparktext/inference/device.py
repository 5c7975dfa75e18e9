"""Where and in what precision the model runs, and on how many CPU threads: one validated
:class:`EngineOptions` that the stages build and the engine takes.

Spark decides what a task may use -- its CPU share (``spark.task.cpus``) and, with resource
scheduling, the GPU addresses assigned to it -- and the stage layer reads both from the task
(``sparktext/stages/_bert_model.py``) into the options. Nothing here imports pyspark or
changes the environment: outside Spark, zero threads and no GPU addresses mean the whole
machine and the first GPU.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys

from sparktext.inference.runtimes import check_engine

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


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    """Everything the inference core needs besides the model folder, checked when made.

    Attributes
    ----------
    device : str
        ``auto`` (the first of ``gpus``, else the first GPU, else the CPU), ``cpu``, ``cuda``
        (the first of ``gpus``, else GPU 0) or ``cuda:N``.
    precision : str
        ``auto`` (fp16 on a GPU, fp32 on a CPU), ``fp32``, ``fp16`` or ``bf16``.
    engine : str
        ``auto``, ``torch``, ``onnx`` or ``openvino`` (see inference/runtimes.py).
    threads : int
        CPU threads the model may use; 0: every core this process may run on.
    gpus : tuple of str
        The GPU addresses Spark assigned to the task, if any.
    cache_root : str or None
        Where ONNX exports are cached (``<cache_root>/onnx/``); None: the default cache folder.
    machine_cores : int
        The cores the model workers of this machine share (local mode: the Spark master's
        threads); more than ``threads`` lets a worker borrow the cores of idle task slots
        (OpenVINO, see inference/slots.py). 0: off.
    core_group : str
        Which workers share those cores: the folder of their slot files (the Spark stages use
        one in the application's temporary directory), or a name (see inference/slots.py).

    Examples
    --------
    >>> EngineOptions("CPU", precision="BF16")
    EngineOptions(device='cpu', precision='bf16', engine='auto', threads=0, gpus=(), cache_root=None, machine_cores=0, core_group='')
    >>> EngineOptions(threads=-1)
    Traceback (most recent call last):
    ...
    ValueError: threads must be >= 0 (0: every core), got -1
    """

    device: str = "auto"
    precision: str = "auto"
    engine: str = "auto"
    threads: int = 0
    gpus: tuple[str, ...] = ()
    cache_root: str | None = None
    machine_cores: int = 0
    core_group: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", check_device(self.device))
        object.__setattr__(self, "precision", check_precision(self.precision))
        object.__setattr__(self, "engine", check_engine(self.engine))
        object.__setattr__(self, "gpus", tuple(str(address) for address in self.gpus))
        if int(self.threads) < 0:
            raise ValueError(f"threads must be >= 0 (0: every core), got {self.threads}")
        if int(self.machine_cores) < 0:
            raise ValueError(f"machine_cores must be >= 0 (0: off), got {self.machine_cores}")

    def cpu_threads(self) -> int:
        """``threads``, or for 0 the cores this process may run on."""
        if self.threads:
            return int(self.threads)
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

    def task_slots(self) -> int:
        """How many tasks of ``threads`` cores each the machine's shared cores hold (1: none
        to borrow)."""
        return max(1, int(self.machine_cores) // self.cpu_threads())


#: Where a Linux machine shows a GPU driver (NVIDIA's, inside containers too; WSL's; AMD's for
#: ROCm builds of torch): without any, CUDA cannot be available.
GPU_DRIVER_PATHS = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia", "/dev/dxg", "/dev/kfd")


def gpu_driver_present() -> bool:
    """Whether this machine may have a usable GPU. False only where that is certain without
    importing torch -- a Linux machine with no GPU driver -- so that a worker running OpenVINO
    or ONNX Runtime on the CPU never pays torch's import (seconds, ~180 MB) to be told so."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(path) for path in GPU_DRIVER_PATHS)


#: CPU feature flags (``/proc/cpuinfo``) of bf16 matrix instructions: x86's AVX-512 BF16 and
#: AMX, Arm's BF16. Without one, bf16 buys no speed: OpenVINO computes in fp32 instead, and
#: PyTorch emulates bf16, several times slower than fp32 (docs/performance.md).
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_multiplies_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether this CPU has bf16 matrix instructions (:data:`BF16_CPU_FLAGS`); None where
    that cannot be told (no ``cpuinfo`` file, as outside Linux)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features"):  # x86, Arm
                    return not BF16_CPU_FLAGS.isdisjoint(value.split())
    except OSError:
        return None
    return None


def resolve_device(setting: str, gpus: tuple[str, ...] = ()) -> str:
    """A torch device string for ``setting``, given the task's GPU addresses ``gpus`` (``auto``:
    the task's GPU, else the first, else CPU)."""
    setting = check_device(setting)
    if setting == "cpu" or (setting == "auto" and not gpu_driver_present()):
        return "cpu"
    import torch

    if setting.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {setting!r} was asked for but CUDA is not available on this machine")
        if setting == "cuda":
            return f"cuda:{gpus[0]}" if gpus else "cuda:0"
        return setting
    if torch.cuda.is_available():
        return f"cuda:{gpus[0]}" if gpus else "cuda:0"
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
