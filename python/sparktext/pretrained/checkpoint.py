"""Checkpoint folders: what sparktext checks before it trusts one, and which files make one.

A checkpoint is a plain Hugging Face model folder: ``config.json``, safetensors weights and
the tokenizer files. Everything here runs on the driver, before any Spark job, so a broken
folder fails fast with a message naming the file, not as a stack trace on an executor.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile

from sparktext.errors import ModelFileError

logger = logging.getLogger(__name__)

#: Model types whose tokenizers are WordPiece and whose encoders take (input_ids, attention_mask).
SUPPORTED_MODEL_TYPES = ("bert", "distilbert", "electra", "mobilebert", "convbert")

#: The files a BERT checkpoint needs: what the hub download fetches, what persistence copies.
MODEL_FILE_PATTERNS = (
    "config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


def model_files(folder: str) -> list[str]:
    """Names of the files in ``folder`` that make the checkpoint (see MODEL_FILE_PATTERNS)."""
    return sorted(
        name for name in os.listdir(folder)
        if os.path.isfile(os.path.join(folder, name))
        and any(fnmatch.fnmatch(name, pattern) for pattern in MODEL_FILE_PATTERNS)
    )


def read_checkpoint_config(folder: str) -> dict:
    """``config.json`` of a checkpoint folder, checked for what BertEmbeddings can run.

    Checks: the folder and its config exist; the config is JSON of a BERT-family model; the
    weights are safetensors (pickle checkpoints are refused, with how to convert them); every
    safetensors file is whole (its header parses and its size matches what the header says).
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"model folder {folder!r} does not exist")
    config_path = os.path.join(folder, "config.json")
    if not os.path.exists(config_path):
        raise FileNotFoundError(f"{config_path} is missing: not a Hugging Face checkpoint folder")
    try:
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{config_path} is not valid JSON: {error}") from error
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelFileError(
            f"{config_path}: model_type {model_type!r} is not a BERT-family model; "
            f"supported: {list(SUPPORTED_MODEL_TYPES)}"
        )
    weights = [n for n in os.listdir(folder) if n.endswith(".safetensors")]
    if not weights:
        pickled = [n for n in os.listdir(folder) if n.endswith(PICKLE_SUFFIXES)]
        hint = (
            f" It has {pickled}: pickle checkpoints can run code when loaded, so sparktext does not "
            "load them by default. Opt in with BertEmbeddings.loadSavedModel(folder, allow_pickle=True) "
            "(converts the weights to safetensors once, loading them with torch.load(weights_only=True)), "
            "or convert them yourself: sparktext.pretrained.convert_to_safetensors(folder, new_folder)."
            if pickled else ""
        )
        raise FileNotFoundError(f"{folder}: no safetensors weights (model.safetensors).{hint}")
    for name in weights:
        check_safetensors_file(os.path.join(folder, name))
    if "hidden_size" not in config and "dim" in config:  # distilbert names it dim
        config["hidden_size"] = config["dim"]
    return config


def check_safetensors_file(path: str) -> None:
    """Raise :class:`ModelFileError` naming ``path`` when it is not a whole safetensors file.

    The format is an 8-byte little-endian header length, a JSON header giving each tensor's
    byte range, then the data: a truncated download is caught by comparing the file's size
    with the end of the last tensor, without reading the weights.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ModelFileError(f"{path} is not a safetensors file: {size} bytes, shorter than its header")
        (header_length,) = struct.unpack("<Q", prefix)
        if header_length > min(size - 8, 100_000_000):
            raise ModelFileError(f"{path} is corrupt or truncated: header of {header_length} bytes in a {size}-byte file")
        try:
            header = json.loads(handle.read(header_length))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ModelFileError(f"{path} is corrupt: its safetensors header is not JSON ({error})") from error
    try:
        data_end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
    except (TypeError, KeyError, IndexError, ValueError, AttributeError) as error:
        raise ModelFileError(f"{path} is corrupt: its safetensors header has no valid tensor offsets") from error
    expected = 8 + header_length + data_end
    if size != expected:
        raise ModelFileError(
            f"{path} is truncated or corrupt: {size} bytes, its header describes {expected} "
            "(an interrupted download? delete the folder and fetch it again)"
        )


def tokenizer_lowercases(folder: str) -> bool:
    """Whether the checkpoint's tokenizer lowercases (an uncased model)."""
    path = os.path.join(folder, "tokenizer_config.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            settings = json.load(handle)
        if "do_lower_case" in settings:
            return bool(settings["do_lower_case"])
    tokenizer_json = os.path.join(folder, "tokenizer.json")
    if os.path.exists(tokenizer_json):
        with open(tokenizer_json, encoding="utf-8") as handle:
            normalizer = json.load(handle).get("normalizer") or {}
        return bool(normalizer.get("lowercase", False))
    return False


def copy_checkpoint(source: str, destination: str, *, link: bool = False) -> str:
    """Put the checkpoint files of ``source`` into a new folder ``destination``, atomically:
    they are staged in a uniquely named sibling folder and published by one rename, so a
    half-copied folder never appears under the final name, and several threads, processes or
    pods may do it at once. A folder already at ``destination`` is never replaced or deleted:
    the first to publish wins and the others use its files (``destination`` names content, so
    theirs are the same). ``link``: hard-link the files where the filesystem allows (no bytes
    copied, and the files outlive the source folder's deletion). Returns ``destination``."""
    parent = os.path.dirname(os.path.abspath(destination))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(destination)}.partial-", dir=parent)
    try:
        for name in model_files(source):
            source_file, staged_file = os.path.join(source, name), os.path.join(staging, name)
            if link:
                try:
                    os.link(source_file, staged_file)
                    continue
                except OSError:  # another filesystem, or no hard links there: copy
                    pass
            shutil.copyfile(source_file, staged_file)
        os.chmod(staging, 0o755)  # mkdtemp's folder is private; a cache is shared
        try:
            os.rename(staging, destination)
        except OSError:
            if not os.path.isdir(destination):
                raise
            logger.debug("%s was published by another writer first; using it", destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


def checkpoint_fingerprint(folder: str) -> str:
    """A short key for the checkpoint files in ``folder``: their names, sizes and modification
    times, and the folder's path (reading the weights to hash them would cost seconds).

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> len(checkpoint_fingerprint(folder))
    16
    """
    folder = os.path.abspath(folder)
    digest = hashlib.sha1(folder.encode())
    for name in model_files(folder):
        status = os.stat(os.path.join(folder, name))
        digest.update(f"{name}:{status.st_size}:{status.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def convert_to_safetensors(folder: str, output: str) -> str:
    """Write a safetensors copy of a pickle checkpoint (``pytorch_model.bin``) to ``output``.

    The weights are read with ``torch.load(weights_only=True)``, which refuses anything but
    tensors, so no code in the pickle runs. The config and tokenizer files are copied along.
    """
    import torch
    from safetensors.torch import save_file

    pickled = sorted(n for n in os.listdir(folder) if n.endswith(PICKLE_SUFFIXES))
    if not pickled:
        raise FileNotFoundError(f"{folder}: no pickle weights ({', '.join(PICKLE_SUFFIXES)}) to convert")
    if len(pickled) > 1:
        raise ModelFileError(f"{folder}: several pickle weight files {pickled}; convert sharded checkpoints with transformers")
    source = os.path.join(folder, pickled[0])
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise ModelFileError(f"{source} could not be read as plain tensors: {error}") from error
    os.makedirs(output, exist_ok=True)
    # safetensors refuses tensors that share memory (tied weights): store each one whole.
    tensors = {key: value.contiguous().clone() for key, value in state.items() if isinstance(value, torch.Tensor)}
    save_file(tensors, os.path.join(output, "model.safetensors"), metadata={"format": "pt"})
    for name in model_files(folder):
        if not name.endswith(".safetensors"):
            shutil.copyfile(os.path.join(folder, name), os.path.join(output, name))
    return output
