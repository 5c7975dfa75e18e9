"""``sparktext.start()``: a local SparkSession set up for the library, like ``sparknlp.start()``."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from typing import Mapping

from sparktext.errors import JavaNotFoundError

logger = logging.getLogger(__name__)


def find_java() -> str:
    """Path of the ``java`` that Spark will start, or raise :class:`JavaNotFoundError`."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        if os.path.exists(candidate):
            return candidate
    found = shutil.which("java")
    if found:
        return found
    raise JavaNotFoundError(
        "sparktext needs a Java runtime (JDK 17 or 21) to start Spark, and none was found: "
        f"JAVA_HOME is {java_home!r} and there is no 'java' on PATH. Install one "
        "(Debian/Ubuntu: 'apt-get install openjdk-17-jre-headless'; macOS: 'brew install openjdk@17') "
        "or point JAVA_HOME at an existing JDK."
    )


def start(
    *,
    master: str = "local[*]",
    app_name: str = "sparktext",
    driver_memory: str = "4g",
    conf: Mapping[str, str] | None = None,
):
    """Start (or return the running) SparkSession, configured for sparktext.

    Parameters
    ----------
    master : str, default "local[*]"
        Spark master URL.
    app_name : str, default "sparktext"
    driver_memory : str, default "4g"
    conf : mapping, optional
        Extra Spark settings, applied last.

    Returns
    -------
    pyspark.sql.SparkSession

    Raises
    ------
    JavaNotFoundError
        When no Java runtime is found.

    Notes
    -----
    Python workers are started with this interpreter (``PYSPARK_PYTHON``, unless already
    set), so that executors find sparktext, pyarrow and torch in the same environment.
    """
    find_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.memory", driver_memory)
        # Reuse Python workers across tasks: the BERT model is loaded once per worker.
        .config("spark.python.worker.reuse", "true")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    logger.info("Spark %s session started (master %s)", session.version, master)
    return session
