"""The engines that run a BERT forward pass: PyTorch, ONNX Runtime and OpenVINO.

Each takes a padded batch of wordpiece ids and its attention mask and returns, as float32
numpy, the last hidden state at the positions read (or the pooler output of the rows read):
everything before and after -- tokenizing, windows, batching, pooling -- is the same code for
all three (inference/engine.py). ONNX Runtime and OpenVINO run the checkpoint's ONNX graph
(inference/export.py exports it once per machine).

Which engine ``auto`` takes (:func:`choose_engine`) follows what ``benchmarks/bench_bert.py``
measures, written up in docs/performance.md: on a CPU, OpenVINO for fp32 and bf16, then ONNX
Runtime for fp32, then PyTorch; on a GPU, PyTorch (its fp16 path is the one tested on CUDA).
An engine that is not installed is skipped by ``auto`` and named in an error when asked for.
"""

from __future__ import annotations

import importlib.util
import logging
import threading

import numpy as np

logger = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "onnx", "openvino")

#: What each engine runs: devices ("cpu", "cuda") and precisions.
SUPPORT = {
    "torch": ({"cpu", "cuda"}, {"fp32", "fp16", "bf16"}),
    "onnx": ({"cpu", "cuda"}, {"fp32"}),
    "openvino": ({"cpu"}, {"fp32", "bf16"}),
}
#: The package each engine needs, and how to install it.
PACKAGES = {
    "torch": ("torch", "pip install torch"),
    "onnx": ("onnxruntime", "pip install onnxruntime (onnxruntime-gpu for CUDA)"),
    "openvino": ("openvino", "pip install openvino"),
}
#: ``auto``'s order of preference, fastest first, per device kind and precision.
AUTO_ORDER = {
    ("cpu", "fp32"): ("openvino", "onnx", "torch"),
    ("cpu", "bf16"): ("openvino", "torch"),
    ("cpu", "fp16"): ("torch",),
    ("cuda", "fp32"): ("torch", "onnx"),
    ("cuda", "fp16"): ("torch",),
    ("cuda", "bf16"): ("torch",),
}


#: OpenVINO's per-shape kernel cache, in entries (see OpenVinoRuntime; the figures are in
#: docs/performance.md).
RUNTIME_CACHE_CAPACITY = 64


class EngineNotAvailableError(ImportError):
    """The engine asked for is not installed, or cannot run the device or precision asked for."""


def check_engine(value: str) -> str:
    """Normalise an ``engine`` setting, or raise ``ValueError`` naming what is allowed.

    Examples
    --------
    >>> check_engine(" OpenVINO ")
    'openvino'
    """
    text = str(value).strip().lower()
    if text not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got {value!r}")
    return text


def is_installed(engine: str) -> bool:
    return importlib.util.find_spec(PACKAGES[engine][0]) is not None


def choose_engine(engine: str, device: str, precision: str) -> str:
    """The engine that runs ``precision`` (fp32, fp16 or bf16) on ``device`` (a torch device
    string): ``engine`` itself, checked, or for ``auto`` the fastest installed one."""
    engine = check_engine(engine)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    if engine == "auto":
        for candidate in AUTO_ORDER[(kind, precision)]:
            if is_installed(candidate):
                return candidate
        raise EngineNotAvailableError(f"no engine for {precision} on {kind} is installed: {PACKAGES['torch'][1]}")
    devices, precisions = SUPPORT[engine]
    if kind not in devices or precision not in precisions:
        runs = [f"{p} on {d}" for d in sorted(devices) for p in sorted(precisions)]
        others = [name for name in AUTO_ORDER[(kind, precision)] if name != engine]
        raise EngineNotAvailableError(
            f"engine {engine!r} does not run {precision} on {kind} (it runs {', '.join(runs)}); "
            f"for {precision} on {kind} use engine 'auto' or one of {others}"
        )
    if not is_installed(engine):
        raise EngineNotAvailableError(f"engine {engine!r} is not installed here: {PACKAGES[engine][1]}")
    return engine


def check_engine_settings(engine: str, device: str, precision: str) -> None:
    """On the driver, before any job: an engine asked for by name is installed, and runs the
    device and precision asked for where those are explicit (``auto`` settings are resolved
    on the executors, which may have a GPU where the driver has none)."""
    engine = check_engine(engine)
    if engine == "auto":
        return
    if device == "auto":
        if not is_installed(engine):
            raise EngineNotAvailableError(f"engine {engine!r} is not installed here: {PACKAGES[engine][1]}")
        return
    resolved = "cuda" if device.startswith("cuda") else "cpu"
    choose_engine(engine, resolved, precision if precision != "auto" else ("fp16" if resolved == "cuda" else "fp32"))


def quiet_transformers() -> None:
    """No progress bars from transformers: one per model load on every executor would flood
    the logs, and our own log line says enough."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


class TorchRuntime:
    """transformers' own model in PyTorch, eager, in the precision's dtype."""

    name = "torch"

    def __init__(self, model_path: str, device: str, precision: str, threads: int) -> None:
        import torch
        from transformers import AutoModel

        quiet_transformers()
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        self.model = AutoModel.from_pretrained(
            model_path, use_safetensors=True, dtype=dtype, trust_remote_code=False, local_files_only=True
        ).to(device).eval()
        self.device = device
        self.threads = threads
        self._torch = torch

    def run(self, input_ids: np.ndarray, mask: np.ndarray, rows: np.ndarray, cols: np.ndarray, pooler: bool) -> np.ndarray:
        torch = self._torch
        ids, attention, rows_t, cols_t = (torch.from_numpy(a).to(self.device) for a in (input_ids, mask, rows, cols))
        # torch's thread count belongs to the whole process (LightPipeline runs in the user's):
        # set for the pass, then put back.
        before = torch.get_num_threads()
        if self.device == "cpu" and before != self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                output = self.model(input_ids=ids, attention_mask=attention)
                # Gathered on the device: only the vectors read cross to the host.
                vectors = output.pooler_output[rows_t] if pooler else output.last_hidden_state[rows_t, cols_t]
                return vectors.float().cpu().numpy()
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)


class OnnxRuntime:
    """ONNX Runtime on the exported graph: the CPU provider, or CUDA's where asked for."""

    name = "onnx"

    def __init__(self, graph: str, device: str, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # the task's cores: several tasks share a machine
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                raise EngineNotAvailableError(
                    "engine 'onnx' on CUDA needs onnxruntime-gpu (pip install onnxruntime-gpu); this onnxruntime has "
                    f"{onnxruntime.get_available_providers()}"
                )
            index = int(device.partition(":")[2] or 0)
            providers = [("CUDAExecutionProvider", {"device_id": index})]
        else:
            providers = ["CPUExecutionProvider"]
        self.session = onnxruntime.InferenceSession(graph, options, providers=providers)

    def run(self, input_ids: np.ndarray, mask: np.ndarray, rows: np.ndarray, cols: np.ndarray, pooler: bool) -> np.ndarray:
        name = "pooler_output" if pooler else "last_hidden_state"
        (output,) = self.session.run([name], {"input_ids": input_ids, "attention_mask": mask})
        return output[rows] if pooler else output[rows, cols]


class OpenVinoRuntime:
    """OpenVINO's CPU plugin on the exported graph, with its precision set explicitly
    (``INFERENCE_PRECISION_HINT``: it would pick bf16 by itself on CPUs that have it)."""

    name = "openvino"

    def __init__(self, graph: str, precision: str, threads: int, streams: int = 1) -> None:
        import openvino

        config = {
            "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision],
            # Each stream runs one request on the task's cores; more than one stream lets the
            # engine run batches side by side on cores it borrows (inference/slots.py). A stream
            # with no request waits without spinning: two workers of two streams each ran as
            # fast as of one (docs/performance.md).
            "INFERENCE_NUM_THREADS": threads * streams,
            "NUM_STREAMS": streams,
            "PERFORMANCE_HINT": "THROUGHPUT" if streams > 1 else "LATENCY",
            # OpenVINO pins its threads to cores by default, and every worker process picks the
            # same first cores: two one-thread workers on two cores then share one, at half speed.
            "ENABLE_CPU_PINNING": False,
            # Kernels kept per input shape (5,000 by default): sorted batches come in hundreds of
            # shapes, and with the default a worker's memory grew with each new one.
            "CPU_RUNTIME_CACHE_CAPACITY": RUNTIME_CACHE_CAPACITY,
        }
        self.compiled = openvino.Core().compile_model(graph, "CPU", config)
        # What it computes in: a CPU without bf16 instructions runs a bf16 request in f32.
        computed = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        self.precision = "bf16" if computed == openvino.Type.bf16 else "fp32"
        self._outputs = {o.get_any_name(): o for o in self.compiled.outputs}
        # An infer request is not safe to share between threads (LightPipeline may call from several).
        self._local = threading.local()
        self._side_by_side: list = []  # run_many's requests, one per stream

    def run(self, input_ids: np.ndarray, mask: np.ndarray, rows: np.ndarray, cols: np.ndarray, pooler: bool) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        request.infer({"input_ids": input_ids, "attention_mask": mask})
        return self._read(request, rows, cols, pooler)

    def _read(self, request, rows: np.ndarray, cols: np.ndarray, pooler: bool) -> np.ndarray:
        """The vectors a finished request computed at ``rows``/``cols`` (or its pooler output)."""
        output = request.get_tensor(self._outputs["pooler_output" if pooler else "last_hidden_state"]).data
        # Fancy indexing copies: the request reuses its output memory on the next call.
        return output[rows] if pooler else output[rows, cols]

    def run_many(self, jobs: list[tuple]) -> list[np.ndarray]:
        """:meth:`run` for several batches at once, each on a stream of its own. Every call
        into OpenVINO comes from this (the calling) thread: requests started from several
        Python threads deadlocked in OpenVINO's input copy (each thread held one of the GIL
        and a lock of OpenVINO's and waited for the other)."""
        while len(self._side_by_side) < len(jobs):
            self._side_by_side.append(self.compiled.create_infer_request())
        requests = self._side_by_side[: len(jobs)]
        for request, (input_ids, mask, *_) in zip(requests, jobs):
            request.start_async({"input_ids": input_ids, "attention_mask": mask})
        vectors = []
        for request, (_, _, rows, cols, pooler) in zip(requests, jobs):
            request.wait()
            vectors.append(self._read(request, rows, cols, pooler))
        return vectors


def load_runtime(
    engine: str, model_path: str, device: str, precision: str, threads: int, cache_root: str, streams: int = 1
):
    """The runtime object for an engine :func:`choose_engine` picked; ``streams`` (OpenVINO
    only) is how many requests it may run at once."""
    if engine == "torch":
        return TorchRuntime(model_path, device, precision, threads)
    from sparktext.inference.export import onnx_graph

    graph = onnx_graph(model_path, cache_root)
    if engine == "onnx":
        return OnnxRuntime(graph, device, threads)
    return OpenVinoRuntime(graph, precision, threads, streams)
