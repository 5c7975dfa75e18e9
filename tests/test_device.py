"""Where the model runs, in what precision and on how many threads: the task's GPU from Spark's
resource scheduling, half precision on a GPU, and no more CPU threads than the task was given.

No GPU is available to CI, so these tests stand in for CUDA and for the TaskContext that Spark
gives a running task; the engine's own use of the answer (``model.to(device)``) is torch's.
The stage layer reads the task (``EmbeddingSettings.engine``); the inference core gets what it
read as :class:`EngineOptions`.
"""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch
from pyspark import TaskContext
from pyspark.resource import ResourceInformation

from sparktext.inference import device
from sparktext.inference.device import EngineOptions, cpu_multiplies_bf16, resolve_device, resolve_precision
from sparktext.inference.engine import BertEngine
from sparktext.stages._bert_model import EmbeddingSettings


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
    monkeypatch.setattr(device, "gpu_driver_present", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def settings_for(model_path: str, device: str = "auto") -> EmbeddingSettings:
    return EmbeddingSettings(model_path, None, device, "auto", "torch", "", 0, 128, "first", False)


def test_auto_uses_the_gpu_spark_assigned_to_the_task(cuda_present):
    assert resolve_device("auto", ("1",)) == "cuda:1"
    assert resolve_device("cuda", ("1",)) == "cuda:1"


def test_an_explicit_gpu_overrides_the_assignment(cuda_present):
    assert resolve_device("cuda:0", ("1",)) == "cuda:0"
    assert resolve_device("cpu", ("1",)) == "cpu"


def test_without_an_assignment_the_first_gpu_is_used(cuda_present):
    assert resolve_device("auto") == "cuda:0"
    assert resolve_device("cuda") == "cuda:0"


def test_without_cuda_auto_runs_on_the_cpu_and_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", ("0",)) == "cpu"
    with pytest.raises(RuntimeError, match=r"device 'cuda:1' was asked for but CUDA is not available"):
        resolve_device("cuda:1")


def test_the_stage_gives_the_engine_the_task_gpu_and_cores(in_task, tiny_bert_path, monkeypatch):
    """Inside a task the stage passes the task's GPU addresses and CPU share to the engine."""
    seen = []
    monkeypatch.setattr("sparktext.stages._bert_model.get_engine", lambda path, options: seen.append(options))
    in_task(StandInTaskContext(cpus=3, gpus=["1"]))
    settings_for(tiny_bert_path).engine()
    in_task(StandInTaskContext(cpus=2, gpus=None))
    settings_for(tiny_bert_path).engine()
    in_task(None)  # the driver (LightPipeline): the whole machine, the first GPU
    settings_for(tiny_bert_path).engine()
    assert [(o.threads, o.gpus) for o in seen] == [(3, ("1",)), (2, ()), (0, ())]
    assert EngineOptions(threads=0).cpu_threads() == len(os.sched_getaffinity(0))


def test_half_precision_by_default_on_a_gpu_fp32_on_the_cpu():
    assert resolve_precision("auto", "cuda:1") == "fp16"
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("fp32", "cuda:0") == "fp32"


@pytest.mark.parametrize("lines, expected", [
    (["processor\t: 0", "flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 avx512_vnni"], True),  # AVX-512 BF16
    (["flags\t\t: fpu avx2 amx_bf16 amx_tile"], True),  # AMX
    (["flags\t\t: fpu sse2 avx avx2 fma"], False),  # AVX2 only: bf16 is emulated
    (["flags\t\t: fpu avx512f avx512bw avx512_vnni"], False),  # AVX-512 without BF16
    (["Features\t: fp asimd sve bf16 i8mm"], True),  # Arm
    (["Features\t: fp asimd evtstrm"], False),
    (["processor\t: 0"], None),  # no flags line: cannot tell
])
def test_bf16_instructions_are_read_from_the_cpu_flags(tmp_path, lines, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("\n".join(lines) + "\n")
    assert cpu_multiplies_bf16(str(cpuinfo)) is expected
    assert cpu_multiplies_bf16(str(tmp_path / "absent")) is None


@pytest.mark.parametrize("cpus", [1, 2])  # OpenVINO caps threads at the machine's cores
def test_threads_follow_the_cores_spark_gave_the_task(tiny_bert_path, cpus):
    before = torch.get_num_threads()
    options = EngineOptions("cpu", "fp32", threads=cpus)
    torch_engine = BertEngine(tiny_bert_path, dataclasses.replace(options, engine="torch"))
    seen = []
    forward = torch_engine.runtime.model.forward

    def counting(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return forward(*args, **kwargs)

    torch_engine.runtime.model.forward = counting
    torch_engine.embed([["hello", "world"]])
    assert seen == [cpus]
    # torch's thread count is the process's: the pass puts it back (LightPipeline runs in the user's process).
    assert torch.get_num_threads() == before
    openvino = BertEngine(tiny_bert_path, dataclasses.replace(options, engine="openvino"))
    assert int(openvino.runtime.compiled.get_property("INFERENCE_NUM_THREADS")) == cpus
    # Unpinned: pinned, every worker's threads land on the same first cores (half speed on local[2]).
    assert openvino.runtime.compiled.get_property("ENABLE_CPU_PINNING") is False
    onnx = BertEngine(tiny_bert_path, dataclasses.replace(options, engine="onnx"))
    assert onnx.runtime.session.get_session_options().intra_op_num_threads == cpus


def test_options_are_checked_when_made():
    with pytest.raises(ValueError, match="device must be one of"):
        EngineOptions(device="gpu")
    with pytest.raises(ValueError, match="engine must be one of"):
        EngineOptions(engine="tensorrt")
