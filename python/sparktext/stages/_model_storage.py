"""The driver's model files and Spark: the cache folder a session names, and moving model
folders between local disk and any filesystem Hadoop can read (HDFS, S3, GCS...).

Local paths (no ``scheme://``) are handled with the standard library. Anything with a scheme,
``file://`` included, goes through Spark's own Hadoop ``FileSystem`` on the driver, so every
filesystem the cluster is configured for works without extra Python packages.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from sparktext.errors import SparktextError
from sparktext.pretrained.resolve import CACHE_ENV, cache_subfolder as _subfolder, default_cache_folder, is_uri

#: The Spark setting naming the cache folder (``sparktext.start(cache_folder=...)`` sets it).
CACHE_CONF = "spark.sparktext.cache_folder"


def cache_folder(spark=None) -> str:
    """The folder holding downloaded models: ``$SPARKTEXT_CACHE``, else the Spark conf
    ``spark.sparktext.cache_folder`` of ``spark`` (or the active session), else
    ``~/.cache/sparktext``."""
    if os.environ.get(CACHE_ENV):
        return default_cache_folder()
    spark = spark or active_session()
    if spark is not None:
        configured = spark.conf.get(CACHE_CONF, None)
        if configured:
            return os.path.abspath(os.path.expanduser(configured))
    return default_cache_folder()


def cache_subfolder(kind: str, key: str, spark=None) -> str:
    """``<cache folder>/<kind>/<hash of key>`` (see :func:`sparktext.pretrained.resolve.cache_subfolder`)."""
    return _subfolder(cache_folder(spark), kind, key)


def active_session():
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


class HadoopFiles:
    """:class:`sparktext.pretrained.resolve.RemoteFiles` through a session's Hadoop filesystems."""

    def __init__(self, spark) -> None:
        self.spark = spark

    def exists(self, uri: str) -> bool:
        return exists(uri, self.spark)

    def copy_to_local(self, uri: str, destination: str) -> str:
        return copy_to_local(uri, destination, self.spark)


def _hadoop(spark, uri: str):
    if spark is None or getattr(spark, "_jvm", None) is None:
        raise SparktextError(
            f"{uri!r} is a Hadoop filesystem path; reading it needs a classic SparkSession on the "
            "driver (not Spark Connect). Copy the folder to local disk and pass that path instead."
        )
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return jvm, path, path.getFileSystem(spark._jsc.hadoopConfiguration())


def exists(path: str, spark=None) -> bool:
    """Whether a local path or a Hadoop URI exists."""
    if not is_uri(path):
        return os.path.exists(path)
    _, hadoop_path, filesystem = _hadoop(spark, path)
    return bool(filesystem.exists(hadoop_path))


def copy_to_local(uri: str, destination: str, spark=None) -> str:
    """Copy a folder from a Hadoop URI to a new local folder ``destination``, published by one
    rename (an existing ``destination`` is kept: it holds the same files)."""
    jvm, source, filesystem = _hadoop(spark, uri)
    parent = os.path.dirname(os.path.abspath(destination))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(destination)}.partial-", dir=parent)
    try:
        # useRawLocalFileSystem=True: no .crc side files next to the weights. Into a folder
        # below the staging one: Hadoop copies a folder *into* an existing destination.
        copied = os.path.join(staging, "copy")
        filesystem.copyToLocalFile(False, source, jvm.org.apache.hadoop.fs.Path(copied), True)
        try:
            os.rename(copied, destination)
        except OSError:  # published by another process first: never replace a live entry
            if not os.path.isdir(destination):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


def copy_from_local(folder: str, uri: str, spark=None, names: list[str] | None = None) -> None:
    """Copy a local folder's files (``names``, else all) to a Hadoop URI (a folder, created)."""
    jvm, destination, filesystem = _hadoop(spark, uri)
    filesystem.mkdirs(destination)
    for name in names if names is not None else sorted(os.listdir(folder)):
        source = jvm.org.apache.hadoop.fs.Path(os.path.abspath(os.path.join(folder, name)))
        filesystem.copyFromLocalFile(False, True, source, jvm.org.apache.hadoop.fs.Path(destination, name))
