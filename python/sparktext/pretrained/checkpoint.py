"""Checkpoint folders: what sparktext checks before it trusts one, and which files make one.

A checkpoint is a plain Hugging Face model folder: ``config.json``, safetensors weights and
the tokenizer files. Everything here runs on the driver, before any Spark job, so a broken
folder fails fast with a message naming the file, not as a stack trace on an executor.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import importlib.metadata
import json
import logging
import os
import re
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
    "added_tokens.json",
    "vocab.txt",
)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


#: The tokenizer files a fast WordPiece tokenizer can be built from (one is enough).
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")

#: Rows an embedding table may have beyond its tokenizer's vocabulary: some checkpoints pad
#: ``vocab_size`` to a multiple of 8, 64 or 128 for the hardware. A tokenizer smaller by more
#: than this, or larger at all, belongs to another model.
VOCAB_PADDING_ROWS = 128


def model_files(folder: str) -> list[str]:
    """Names of the files in ``folder`` that make the checkpoint (see MODEL_FILE_PATTERNS).

    Raises :class:`ModelFileError` for a file that is a symbolic link resolving outside the
    folder: it is copied into saved pipelines and shipped to executors, and a link could
    carry any file of this machine along. The one exception is huggingface_hub's own cache,
    whose ``snapshots/<revision>/`` files link into the repository's ``blobs/``.
    """
    names = sorted(
        name for name in os.listdir(folder)
        if os.path.isfile(os.path.join(folder, name))
        and any(fnmatch.fnmatch(name, pattern) for pattern in MODEL_FILE_PATTERNS)
    )
    for name in names:
        _check_link(folder, name)
    return names


def _check_link(folder: str, name: str) -> None:
    path = os.path.join(folder, name)
    if not os.path.islink(path):
        return
    target = os.path.realpath(path)
    allowed = [os.path.realpath(folder)]
    if os.path.basename(os.path.dirname(os.path.abspath(folder))) == "snapshots":
        allowed.append(os.path.realpath(os.path.join(folder, os.pardir, os.pardir, "blobs")))
    if not any(target.startswith(root + os.sep) for root in allowed):
        raise ModelFileError(
            f"{path} is a link to {target}, outside the model folder: refused, because the checkpoint's files "
            "are copied into saved pipelines and shipped to executors. Copy the file into the folder instead."
        )


def read_checkpoint_config(folder: str) -> dict:
    """``config.json`` of a checkpoint folder, checked for what BertEmbeddings can run.

    Checks: the folder and its config exist; the config is JSON of a BERT-family model; the
    weights are safetensors (pickle checkpoints are refused, with how to convert them); every
    safetensors file is whole (its header parses and its size matches what the header says);
    no file is a link leaving the folder (:func:`model_files`); there are tokenizer files
    whose vocabulary fits the embedding table; the weights are exactly the encoder the config
    describes (:func:`check_weight_names`). Each failure is a :class:`ModelFileError` or
    ``FileNotFoundError`` naming the folder or file.
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"model folder {folder!r} does not exist")
    fingerprint = checkpoint_fingerprint(folder)  # also refuses links leaving the folder
    if fingerprint in _CHECKED:
        return dict(_CHECKED[fingerprint])
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
    stored: dict[str, list[int]] = {}
    for name in weights:
        header = check_safetensors_file(os.path.join(folder, name))
        stored.update((key, list(value.get("shape", []))) for key, value in header.items() if key != "__metadata__")
    _check_tokenizer(folder, config)
    check_weight_names(folder, stored)
    if "hidden_size" not in config and "dim" in config:  # distilbert names it dim
        config["hidden_size"] = config["dim"]
    _CHECKED[fingerprint] = dict(config)
    return config


#: The configs of the checkpoints this process checked, by :func:`checkpoint_fingerprint`: the
#: stages check before every job and LightPipeline call, and the first check of a model builds
#: its skeleton (an import of transformers and torch); files that change get a new fingerprint.
_CHECKED: dict[str, dict] = {}


def has_pooler_weights(folder: str) -> bool:
    """Whether the checkpoint's weights hold a trained pooler (read from the safetensors headers)."""
    from safetensors import safe_open

    for name in os.listdir(folder):
        if name.endswith(".safetensors"):
            with safe_open(os.path.join(folder, name), framework="numpy") as weights:
                if any(key.endswith("pooler.dense.weight") for key in weights.keys()):
                    return True
    return False


def _check_tokenizer(folder: str, config: dict) -> None:
    """A fast tokenizer can be built from the folder, and its vocabulary fits the model's
    embedding table: without tokenizer files transformers would build one from a handful of
    special tokens and every word would become [UNK]; another model's tokenizer would map
    words to the wrong rows."""
    present = [name for name in TOKENIZER_FILES if os.path.isfile(os.path.join(folder, name))]
    if not present:
        raise ModelFileError(
            f"{folder}: no tokenizer files (needs one of {list(TOKENIZER_FILES)}); copy them from the model's "
            "repository along with config.json and the weights"
        )
    size = tokenizer_vocabulary_size(folder)
    vocab_size = config.get("vocab_size")
    if isinstance(vocab_size, int) and not vocab_size - VOCAB_PADDING_ROWS < size <= vocab_size:
        raise ModelFileError(
            f"{folder}: the tokenizer ({present[0]}) has {size} entries but config.json's vocab_size is "
            f"{vocab_size}: the tokenizer files belong to another model"
        )


def tokenizer_vocabulary_size(folder: str) -> int:
    """How many ids the folder's tokenizer gives out: one more than the largest id of
    ``tokenizer.json`` (its vocabulary and added tokens), else the lines of ``vocab.txt``."""
    tokenizer_json = os.path.join(folder, "tokenizer.json")
    if os.path.isfile(tokenizer_json):
        try:
            with open(tokenizer_json, encoding="utf-8") as handle:
                tokenizer = json.load(handle)
            ids = list((tokenizer.get("model") or {}).get("vocab", {}).values())
            ids += [token["id"] for token in tokenizer.get("added_tokens") or []]
            return max(int(i) for i in ids) + 1 if ids else 0
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, KeyError, TypeError, ValueError) as error:
            raise ModelFileError(f"{tokenizer_json} is not a readable tokenizer file: {error}") from error
    with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as handle:
        return sum(1 for _ in handle)


def check_weight_names(folder: str, stored: dict[str, list[int]]) -> None:
    """Raise :class:`ModelFileError` unless the safetensors weights ``stored`` (name -> shape)
    are exactly the encoder the folder's ``config.json`` describes.

    transformers loads what matches and fills the rest with random numbers, with only a log
    table to say so: weights saved under another prefix (``model.bert.``, as a converted
    Lightning checkpoint has) would give random vectors. The expected names and shapes come
    from the model built on PyTorch's ``meta`` device (no memory, no weights read). A task
    model's weights (``bert.`` prefix plus its heads) are read as transformers reads them;
    the pooler may be missing (masked-LM checkpoints have none; token vectors do not use it,
    and BertSentenceEmbeddings refuses pooler vectors without it).
    """
    layout = encoder_layout(folder)
    expected = layout["expected"]
    prefix = f"{layout['prefix']}."
    renamed = {_current_weight_name(key): shape for key, shape in stored.items()}
    if any(key.startswith(prefix) for key in renamed):  # a task model: its encoder under the prefix, then heads
        encoder = {key[len(prefix):]: shape for key, shape in renamed.items() if key.startswith(prefix)}
    else:
        encoder = renamed
    ignored = [re.compile(p) for p in layout["ignored"]]
    unexpected = sorted(
        key for key in encoder
        if key not in expected and not key.endswith("position_ids") and not any(p.search(key) for p in ignored)
    )
    pooler = [key for key in expected if key.startswith("pooler.")]
    optional = pooler if not any(key in encoder for key in pooler) else []
    missing = sorted(key for key in expected if key not in encoder and key not in optional)
    mismatched = [
        f"{key} {encoder[key]} (the config makes {shape})"
        for key, shape in expected.items() if key in encoder and encoder[key] != shape
    ]
    if not (missing or unexpected or mismatched):
        return
    problems = []
    if missing:
        problems.append(f"{len(missing)} weights missing (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
    if mismatched:
        problems.append(f"{len(mismatched)} of another shape ({'; '.join(mismatched[:3])})")
    hint = _prefix_hint(missing, list(stored))
    raise ModelFileError(
        f"{folder}: the safetensors weights do not fit the {layout['model_type']} model config.json describes: "
        f"{'; '.join(problems)}. transformers would fill what is missing with random numbers.{hint}"
    )


def derived_key(folder: str, names: tuple[str, ...], packages: tuple[str, ...], form: str) -> str:
    """The cache key of something derived from the files ``names`` of ``folder`` (an absent
    one counts as absent) by the installed ``packages``, in format ``form``: 20 hex digits
    that change when any of the files, any package's version or the format does."""
    digest = hashlib.sha256(f"v{form}".encode())
    for package in packages:
        digest.update(f"\0{package}={importlib.metadata.version(package)}".encode())
    for name in names:
        path = os.path.join(folder, name)
        digest.update(b"\0" + name.encode() + b"\0")
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
        else:
            digest.update(b"absent")
    return digest.hexdigest()[:20]


def read_derived(path: str) -> dict | None:
    """The JSON object :func:`write_derived` saved at ``path``, or None when there is none."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):  # not cached yet (or unreadable): the caller builds it
        return None


def write_derived(path: str, value: dict) -> None:
    """Save ``value`` as JSON at ``path``, written whole and then renamed into place: a reader
    never sees half of it, and of several processes saving the same key at once the last
    wins (their contents are the same). A read-only or full cache folder only logs: what was
    derived still serves this process."""
    partial = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(path), suffix=".partial", delete=False,
                                         encoding="utf-8") as handle:
            partial = handle.name
            json.dump(value, handle)
        os.chmod(partial, 0o644)  # NamedTemporaryFile's file is private; the cache is shared
        os.replace(partial, path)
        partial = None
    except OSError as error:
        logger.warning("could not cache %s: %s", path, error)
    finally:
        if partial is not None:  # a half-written file helps nobody, least of all on a full disk
            try:
                os.remove(partial)
            except OSError:
                logger.debug("could not remove %s", partial)


#: Part of :func:`encoder_layout`'s cache key: bump it when what is saved changes.
LAYOUT_FORMAT = "1"


def encoder_layout(folder: str) -> dict:
    """What the encoder ``config.json`` describes holds: ``expected`` (weight name -> shape),
    ``prefix`` (where a task model keeps it), ``ignored`` (patterns of stored names
    transformers skips) and ``model_type``.

    Built by transformers on PyTorch's ``meta`` device, which takes importing both (seconds,
    and hundreds of MB in the driver), then saved under the default cache folder
    (``$SPARKTEXT_CACHE`` or ``~/.cache/sparktext``: ``layouts/<hash of config.json and both
    versions>.json``; nothing is saved where it cannot be written): a later process --
    every run of the command line -- checks the same model without either.
    """
    from sparktext.pretrained.resolve import default_cache_folder

    key = derived_key(folder, ("config.json",), ("torch", "transformers"), LAYOUT_FORMAT)
    path = os.path.join(default_cache_folder(), "layouts", f"{key}.json")
    cached = read_derived(path)
    if cached is not None:
        return cached
    import torch
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    with torch.device("meta"):
        skeleton = AutoModel.from_config(config)
    layout = {
        "model_type": config.model_type,
        "prefix": skeleton.base_model_prefix,
        "expected": {name: list(tensor.shape) for name, tensor in skeleton.state_dict().items()},
        "ignored": [getattr(p, "pattern", p) for p in getattr(skeleton, "_keys_to_ignore_on_load_unexpected", None) or []],
    }
    write_derived(path, layout)
    return layout


def _current_weight_name(key: str) -> str:
    """The name transformers loads ``key`` under: TensorFlow-era checkpoints (the original
    BERTs among them) call LayerNorm's weight and bias ``gamma`` and ``beta``."""
    if key.endswith(".gamma"):
        return key[: -len("gamma")] + "weight"
    if key.endswith(".beta"):
        return key[: -len("beta")] + "bias"
    return key


def _prefix_hint(missing: list[str], stored: list[str]) -> str:
    """A sentence naming the prefix the stored names carry, when they are the missing ones
    with something in front."""
    for key in stored:
        for name in missing:
            if key.endswith("." + name):
                return (
                    f" The stored names carry the prefix {key[: -len(name)]!r} ({key}): save the encoder with "
                    "transformers' save_pretrained, or rename the weights without it."
                )
    return ""


def check_safetensors_file(path: str) -> dict:
    """Raise :class:`ModelFileError` naming ``path`` when it is not a whole safetensors file;
    return its header (tensor name -> dtype, shape and byte range).

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
    return header


#: errno values that mean "the disk (or the process's file size limit, or a quota) is full".
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


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
        names = model_files(source)  # inside the try: a missing source leaves no staging folder
        for name in names:
            source_file, staged_file = os.path.join(source, name), os.path.join(staging, name)
            if link:
                try:
                    os.link(source_file, staged_file)
                    continue
                except OSError:  # another filesystem, or no hard links there: copy
                    pass
            try:
                shutil.copyfile(source_file, staged_file)
            except OSError as error:
                if error.errno not in NO_ROOM:
                    raise
                needed = sum(os.path.getsize(os.path.join(source, n)) for n in names)
                raise OSError(error.errno, (
                    f"no room to copy the model into {destination} ({os.strerror(error.errno)} while writing "
                    f"{name}; its files take {needed / 1e6:.1f} MB): free space there, or use another cache "
                    f"folder (SPARKTEXT_CACHE); nothing was left half-written")) from error
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
