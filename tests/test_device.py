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

from sparktext.inference.device import resolve_device, resolve_precision, task_cpus
from sparktext.inference.engine import BertEngine


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
    assert resolve_precision("auto", "cuda:1") == "fp16"
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("fp32", "cuda:0") == "fp32"


@pytest.mark.parametrize("cpus", [1, 2])  # OpenVINO caps threads at the machine's cores
def test_threads_follow_the_cores_spark_gave_the_task(in_task, tiny_bert_path, cpus):
    in_task(StandInTaskContext(cpus=cpus))
    before = torch.get_num_threads()
    try:
        assert task_cpus() == cpus
        BertEngine(tiny_bert_path, "cpu", "fp32", engine="torch")
        assert torch.get_num_threads() == cpus
        openvino = BertEngine(tiny_bert_path, "cpu", "fp32", engine="openvino")
        assert int(openvino.runtime.compiled.get_property("INFERENCE_NUM_THREADS")) == cpus
        # Unpinned: pinned, every worker's threads land on the same first cores (half speed on local[2]).
        assert openvino.runtime.compiled.get_property("ENABLE_CPU_PINNING") is False
        onnx = BertEngine(tiny_bert_path, "cpu", "fp32", engine="onnx")
        assert onnx.runtime.session.get_session_options().intra_op_num_threads == cpus
    finally:
        torch.set_num_threads(before)


def test_outside_a_task_the_whole_machine_is_used(in_task):
    in_task(None)
    assert task_cpus() == len(os.sched_getaffinity(0))
    assert task_cpus(default=5) == 5
