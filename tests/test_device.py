"""Where the model runs, in what precision and on how many threads: the task's GPU from Spark's
resource scheduling, half precision on a GPU, and no more CPU threads than the task was given.

No GPU is available to CI, so these tests stand in for CUDA and for the TaskContext that Spark
gives a running task; the engine's own use of the answer (``model.to(device)``) is torch's.
"""

from __future__ import annotations

import os

import pytest
import torch
from pyspark import TaskContext
from pyspark.resource import ResourceInformation

from sparktext.inference.device import resolve_device, resolve_dtype, task_cpus
from sparktext.inference.engine import configure_threads


class StandInTaskContext:
    """What a task sees in ``TaskContext.get()``: its CPU share and its assigned resources."""

    def __init__(self, cpus: int = 1, gpus: list[str] | None = None) -> None:
        self._cpus = cpus
        self._resources = {} if gpus is None else {"gpu": ResourceInformation("gpu", gpus)}

    def cpus(self) -> int:
        return self._cpus

    def resources(self) -> dict[str, ResourceInformation]:
        return self._resources


@pytest.fixture
def in_task(monkeypatch):
    """Run the code under test as if inside a Spark task with the given context."""

    def enter(context: StandInTaskContext | None) -> None:
        monkeypatch.setattr(TaskContext, "get", classmethod(lambda cls: context))

    return enter


@pytest.fixture
def cuda_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_auto_uses_the_gpu_spark_assigned_to_the_task(in_task, cuda_present):
    in_task(StandInTaskContext(gpus=["1"]))
    assert resolve_device("auto") == "cuda:1"
    assert resolve_device("cuda") == "cuda:1"


def test_an_explicit_gpu_overrides_the_assignment(in_task, cuda_present):
    in_task(StandInTaskContext(gpus=["1"]))
    assert resolve_device("cuda:0") == "cuda:0"
    assert resolve_device("cpu") == "cpu"


@pytest.mark.parametrize("context", [None, StandInTaskContext(gpus=None)], ids=["driver", "task without gpu"])
def test_without_an_assignment_the_first_gpu_is_used(in_task, cuda_present, context):
    in_task(context)
    assert resolve_device("auto") == "cuda:0"
    assert resolve_device("cuda") == "cuda:0"


def test_without_cuda_auto_runs_on_the_cpu_and_cuda_is_refused(in_task, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    in_task(StandInTaskContext(gpus=["0"]))
    assert resolve_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match=r"device 'cuda:1' was asked for but CUDA is not available"):
        resolve_device("cuda:1")


def test_half_precision_by_default_on_a_gpu_fp32_on_the_cpu():
    assert resolve_dtype("auto", "cuda:1") == torch.float16
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16
    assert resolve_dtype("fp32", "cuda:0") == torch.float32


@pytest.mark.parametrize("cpus", [1, 3])
def test_threads_follow_the_cores_spark_gave_the_task(in_task, cpus):
    in_task(StandInTaskContext(cpus=cpus))
    before = torch.get_num_threads()
    try:
        configure_threads()
        assert task_cpus() == cpus
        assert torch.get_num_threads() == cpus
    finally:
        torch.set_num_threads(before)


def test_outside_a_task_the_whole_machine_is_used(in_task):
    in_task(None)
    assert task_cpus() == len(os.sched_getaffinity(0))
    assert task_cpus(default=5) == 5
