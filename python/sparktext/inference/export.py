"""A checkpoint's ONNX graph, exported once per machine and cached under a key of its content.

ONNX Runtime and OpenVINO both read one ONNX file, so one export serves both engines. It is
made with ``torch.onnx.export(..., dynamo=True)``: since PyTorch 2.9 that (torch.export-based)
exporter is torch's default and maintained path; the older TorchScript exporter is deprecated
and fails on transformers 5's BertModel, and optimum's exporter would add a package and a
second copy of the same tracing. The graph takes ``input_ids`` and ``attention_mask`` of any
batch size and length up to the model's positions, and returns ``last_hidden_state`` (and
``pooler_output`` where the model has a pooler).

The export lands in ``<cache folder>/onnx/<key>/``, the key made of a hash of the checkpoint's
config and weights, torch's version and :data:`EXPORT_FORMAT`: a changed checkpoint, or
another torch, exports anew; the same checkpoint at another path does not. Several Python
workers of one machine may ask at once: a file lock lets one export while the others wait and
then read its result; the export is written to a private folder and published by one rename,
so a half-written graph is never read, and nothing of a failed export is left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import logging
import os
import shutil
import tempfile
import time
import warnings
from typing import Iterator

from sparktext.errors import ModelOutputError

logger = logging.getLogger(__name__)

#: Part of the cache key: bump it when the exported graph's inputs or outputs change.
EXPORT_FORMAT = "1"
GRAPH_FILE = "model.onnx"


#: Loggers of the exporter's passes: each logs a line per rewritten node at INFO.
_EXPORTER_LOGGERS = ("onnx_ir", "onnxscript", "torch.onnx", "torch.export", "torch._export")


class ExportError(RuntimeError):
    """The checkpoint could not be exported to ONNX, or the export does not compute what the
    model computes."""


def content_key(model_path: str) -> str:
    """A hash of the checkpoint's config and weight files (names and bytes), 20 hex digits."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(model_path)):
        if not (name == "config.json" or name.endswith(".safetensors")):  # the tokenizer does not enter the graph
            continue
        digest.update(name.encode() + b"\0")
        with open(os.path.join(model_path, name), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()[:20]


def writable_cache_root(preferred: str) -> str:
    """``preferred`` when this machine can write there (an executor may not have the
    driver's cache folder), else a folder under the system's temporary directory."""
    for root in (preferred, os.path.join(tempfile.gettempdir(), f"sparktext-{os.getuid()}")):
        try:
            os.makedirs(os.path.join(root, "onnx"), exist_ok=True)
        except OSError:
            continue
        if os.access(os.path.join(root, "onnx"), os.W_OK):
            return root
    raise ExportError(f"no writable folder for the ONNX export: neither {preferred!r} nor the temporary directory")


def onnx_graph(model_path: str, cache_root: str) -> str:
    """The path of ``model_path``'s ONNX graph, exporting it first if this machine has none."""
    # torch's version from its metadata: importing torch takes seconds, and a cached graph
    # served by OpenVINO or ONNX Runtime needs no torch at all.
    torch_version = importlib.metadata.version("torch").replace("+", "_")
    root = os.path.join(writable_cache_root(cache_root), "onnx")
    key = f"{content_key(model_path)}-torch{torch_version}-v{EXPORT_FORMAT}"
    folder = os.path.join(root, key)
    graph = os.path.join(folder, GRAPH_FILE)
    if os.path.exists(graph):
        return graph
    with _file_lock(os.path.join(root, f"{key}.lock")):
        if os.path.exists(graph):  # another worker exported it while this one waited
            return graph
        staging = tempfile.mkdtemp(prefix=f".{key}.partial-", dir=root)
        try:
            _export(model_path, os.path.join(staging, GRAPH_FILE))
            os.chmod(staging, 0o755)  # mkdtemp's folder is private; the cache is shared
            os.rename(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return graph


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    """An exclusive lock between processes of this machine (``flock``; released if the
    holder dies)."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _export(model_path: str, destination: str) -> None:
    import torch
    from transformers import AutoModel

    from sparktext.inference.runtimes import quiet_transformers

    quiet_transformers()
    started = time.perf_counter()
    model = AutoModel.from_pretrained(
        model_path, use_safetensors=True, dtype=torch.float32, trust_remote_code=False, local_files_only=True
    ).eval()
    wrapped = _graph_module(model)
    max_positions = int(getattr(model.config, "max_position_embeddings", 512))
    probe_ids, probe_mask = _probe_batch(model.config)
    batch = torch.export.Dim("batch", min=1, max=4096)
    length = torch.export.Dim("length", min=1, max=max_positions)
    output_names = ["last_hidden_state"] + (["pooler_output"] if wrapped.has_pooler else [])
    try:
        with _quiet_exporter():
            torch.onnx.export(
                wrapped,
                (probe_ids, probe_mask),
                destination,
                dynamo=True,
                input_names=["input_ids", "attention_mask"],
                output_names=output_names,
                dynamic_shapes=({0: batch, 1: length}, {0: batch, 1: length}),
                external_data=True,
                verbose=False,
            )
    except Exception as error:  # torch.export raises many kinds (unsupported op, guard, ...): all mean "cannot"
        raise ExportError(f"{model_path}: torch.onnx.export failed: {type(error).__name__}: {error}") from error
    _check_graph(destination, wrapped, probe_ids, probe_mask, model_path)
    logger.info("exported %s to ONNX in %.1f s", model_path, time.perf_counter() - started)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's own chatter (a log line per rewritten node, warnings about shared axis
    names and deprecations inside torch) silenced; our one log line says what happened."""
    loggers = [logging.getLogger(name) for name in _EXPORTER_LOGGERS]
    levels = [each.level for each in loggers]
    for each in loggers:  # ERROR: "torchvision is not installed" is a warning about ops BERT never uses
        each.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for each, level in zip(loggers, levels):
            each.setLevel(level)


def _graph_module(model):
    """The model as a module of (input_ids, attention_mask) returning a tuple, the shape the
    exporter wants (transformers returns a ModelOutput object)."""
    import torch

    class GraphOutputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.has_pooler = getattr(model, "pooler", None) is not None

        def forward(self, input_ids, attention_mask):
            output = self.model(input_ids=input_ids, attention_mask=attention_mask)
            if self.has_pooler:
                return output.last_hidden_state, output.pooler_output
            return (output.last_hidden_state,)

    return GraphOutputs().eval()


def _probe_batch(config):
    """Two rows, the second padded: the exporter must see a batch and length above 1 (it
    specialises sizes 0 and 1), and the check must see padding."""
    import torch

    vocab = int(getattr(config, "vocab_size", 100))
    ids = torch.tensor([[2, 7 % vocab, 11 % vocab, 13 % vocab, 3], [2, 17 % vocab, 3, 0, 0]], dtype=torch.int64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.int64)
    return ids, mask


def _check_graph(graph: str, model, ids, mask, model_path: str) -> None:
    """Run the exported graph on the probe batch with ONNX Runtime (else OpenVINO) and compare
    it with the model's own output at the real positions: an export that computes something
    else must never serve vectors."""
    import numpy as np
    import torch

    with torch.inference_mode():
        expected = model(ids, mask)[0].numpy()
    if not np.isfinite(expected).all():  # no graph can be checked against NaN: name the model's fault
        raise ModelOutputError(
            f"{model_path} computed NaN or infinite vectors (torch, fp32, before its ONNX export): its weights hold "
            "non-finite numbers"
        )
    inputs = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    try:
        import onnxruntime

        session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
        got = session.run(["last_hidden_state"], inputs)[0]
    except ImportError:
        import openvino

        compiled = openvino.Core().compile_model(graph, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        got = compiled(inputs)[compiled.output("last_hidden_state")]
    real = mask.numpy().astype(bool)
    scale = float(np.abs(expected[real]).max()) or 1.0
    difference = float(np.abs(got[real] - expected[real]).max())
    if not difference <= 1e-4 * scale:
        raise ExportError(
            f"{model_path}: the exported ONNX graph differs from the model by {difference:.2e} (scale {scale:.2e})"
        )
