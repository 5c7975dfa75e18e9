"""Getting a model folder onto every executor without a shared filesystem.

On a cluster the driver's model files are shipped with Spark's own file distribution
(``SparkContext.addFile``, one call per file: Spark refuses local directories outside local
mode): each executor fetches them once into its work directory, and a Python worker gathers
them into a model folder there (links, no copies) and loads it. In local mode the executors
share the driver's disk, so nothing is shipped. A Spark Connect client ships the same files
as session artifacts (``SparkSession.addArtifacts(..., file=True)``), always: it cannot
know where the server runs.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading

from sparktext.errors import ModelFileError
from sparktext.pretrained.checkpoint import checkpoint_fingerprint, model_files
from sparktext.session import local_master_threads

logger = logging.getLogger(__name__)

SEPARATOR = "--"
MANIFEST = "files.txt"
_SHIPPED: dict[tuple[str, str], str] = {}
_LOCK = threading.Lock()


def needs_shipping(master: str) -> bool:
    """Whether executors may not see the driver's disk: every master but plain local mode.

    Examples
    --------
    >>> [needs_shipping(m) for m in ("local[2]", "local", "local-cluster[2,1,1024]", "yarn")]
    [False, False, True, True]
    """
    return local_master_threads(master) is None


def is_connect_session(spark) -> bool:
    """Whether ``spark`` is a Spark Connect client session (no SparkContext on this side)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def ship_model_folder(spark, folder: str) -> str | None:
    """Ship ``folder``'s checkpoint files to the executors when the master needs it; the
    shipment's name (see :func:`executor_model_path`), or None when executors read ``folder``.

    Spark keys shipped files by their base name, so each file is staged (a hard link where
    the filesystem allows, else a copy) as ``<shipment>--<name>``, the shipment named after
    the folder's path and contents; shipping the same folder again in one application reuses it.
    """
    if spark is None:
        return None
    if is_connect_session(spark):
        # A Spark Connect client: the server and its executors may be anywhere; the files go
        # as session artifacts, which executors see through SparkFiles like addFile's.
        def add_file(path: str) -> None:
            spark.addArtifacts(path, file=True)

        key_scope = f"connect-{spark.session_id}"
    else:
        context = spark.sparkContext
        if not needs_shipping(context.master):
            return None
        add_file, key_scope = context.addFile, context.applicationId
    folder = os.path.abspath(folder)
    names = model_files(folder)
    alias = f"sparktext-model-{checkpoint_fingerprint(folder)}"
    key = (key_scope, alias)
    with _LOCK:
        if key not in _SHIPPED:
            staging = tempfile.mkdtemp(prefix="sparktext-ship-")
            manifest = os.path.join(staging, f"{alias}{SEPARATOR}{MANIFEST}")
            with open(manifest, "w", encoding="utf-8") as handle:  # each file's name and size
                handle.write("\n".join(f"{name}\t{os.path.getsize(os.path.join(folder, name))}" for name in names))
            add_file(manifest)
            for name in names:
                source, target = os.path.join(folder, name), os.path.join(staging, f"{alias}{SEPARATOR}{name}")
                try:
                    os.link(source, target)
                except OSError:  # another filesystem, or no hard links there
                    shutil.copyfile(source, target)
                add_file(target)
            logger.info("shipping model %s to the executors as %s", folder, alias)
            _SHIPPED[key] = alias
    return _SHIPPED[key]


def executor_model_path(model_path: str, shipped_name: str | None) -> str:
    """Where a Python worker reads the model: ``model_path`` itself in local mode, else a
    folder in its executor's work directory linking the shipped files under their own names.

    Several workers of one executor may get here at once: each builds the folder under a
    private name and renames it into place; the first rename wins, the others use it. Each
    fetched file must have the size the driver's had (the manifest says it): a file cut short
    on this executor's disk is a :class:`ModelFileError` naming it, never a model loaded from it.
    """
    if shipped_name is None:
        return model_path
    from pyspark import SparkFiles

    root = os.path.abspath(SparkFiles.getRootDirectory())
    folder = os.path.join(root, shipped_name)
    if os.path.isdir(folder):
        return folder
    with open(SparkFiles.get(f"{shipped_name}{SEPARATOR}{MANIFEST}"), encoding="utf-8") as handle:
        sizes = {name: int(size) for name, size in (line.rsplit("\t", 1) for line in handle.read().split("\n"))}
    fetched = {name: SparkFiles.get(f"{shipped_name}{SEPARATOR}{name}") for name in sizes}
    for name, path in fetched.items():
        found = os.path.getsize(path) if os.path.exists(path) else None
        if found != sizes[name]:
            raise ModelFileError(
                f"shipped model file {name} ({path}) has {'no file' if found is None else f'{found} bytes'} on this "
                f"executor, the driver's has {sizes[name]} bytes: the executor's copy is missing or cut short "
                f"(a full or failing disk?); free its work directory's disk and rerun the job"
            )
    building = f"{folder}.building-{os.getpid()}"
    os.makedirs(building, exist_ok=True)
    for name, path in fetched.items():
        os.symlink(path, os.path.join(building, name))
    try:
        os.rename(building, folder)
    except OSError:  # another worker renamed its folder first
        shutil.rmtree(building, ignore_errors=True)
    return folder
