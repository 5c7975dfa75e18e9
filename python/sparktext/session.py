"""``sparktext.start()``: a local SparkSession set up for the library, like ``sparknlp.start()``."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from typing import Any, Mapping

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


#: Spark's local mode tries a task once: one Python worker lost (killed for memory, a crash)
#: would fail the whole job. ``[*,4]``: every core, and each failed task retried up to 4 times,
#: as a cluster retries by default (spark.task.maxFailures).
DEFAULT_MASTER = "local[*,4]"

_LOCAL_MASTER = re.compile(r"^local(\[(\*|[1-9]\d*)(,[1-9]\d*)?\])?$")


def local_master_threads(master: str) -> int | None:
    """The task threads of a local ``master`` (``local[*]``: this machine's cores), or None
    for any other master: the one reading of a master that sparktext's stages share (the
    driver is then the only executor, on this machine's disk and cores).

    Examples
    --------
    >>> [local_master_threads(m) for m in ("local", "local[2]", "local[3,4]", "local-cluster[2,1,1024]", "yarn")]
    [1, 2, 3, None, None]
    >>> local_master_threads("local[*]") == (os.cpu_count() or 1)
    True
    """
    matched = _LOCAL_MASTER.match(master)
    if not matched:
        return None
    threads = matched.group(2) or "1"
    return (os.cpu_count() or 1) if threads == "*" else int(threads)


def check_master(master: str) -> str:
    """Refuse a local master Spark would fail on with a Java stack trace (``local[0]``,
    ``local[two]``); other masters (``spark://``, ``yarn``, ``local-cluster[...]``) go to Spark.

    Examples
    --------
    >>> check_master("local[2,4]")
    'local[2,4]'
    >>> check_master("local[0]")
    Traceback (most recent call last):
    ...
    ValueError: master 'local[0]' is not a local master Spark accepts: local, local[N], local[*], local[N,F] or local[*,F] (N threads, F tries per task, both at least 1)
    """
    if master.startswith("local") and not master.startswith("local-cluster") and not _LOCAL_MASTER.match(master):
        raise ValueError(
            f"master {master!r} is not a local master Spark accepts: local, local[N], local[*], local[N,F] or "
            "local[*,F] (N threads, F tries per task, both at least 1)"
        )
    return master


#: Spark NLP's ``start()`` keywords that choose its jar or its own logging: accepted so its
#: code runs unchanged; they have no meaning here (no jar; a GPU is used when there is one).
SPARK_NLP_IGNORED_KEYWORDS = ("gpu", "apple_silicon", "aarch64", "log_folder", "cluster_tmp_dir",
                              "real_time_output", "output_level")

#: The driver JVM's garbage collector in local mode. There the driver is also the executor and
#: shares the machine's cores with the Python workers that run the models; Java's default
#: collector (G1) marks the heap concurrently, on threads that take those cores. The
#: throughput collector does its work in short pauses instead: the driver's CPU per
#: embedding job fell by about a third, and the rule stages and Parquet writes did not get
#: slower (docs/performance.md, "The driver's garbage collector").
LOCAL_DRIVER_JAVA_OPTIONS = "-XX:+UseParallelGC"

#: Where else the driver's Java options can come from. When any of them is set, start() adds
#: nothing: two collectors chosen stop the JVM ("Multiple garbage collectors selected"), and a
#: ``spark.driver.extraJavaOptions`` given to the session builder would replace the one in
#: spark-defaults.conf.
JAVA_OPTIONS_ENVIRONMENT = ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS")
DRIVER_JAVA_OPTIONS_KEYS = ("spark.driver.extraJavaOptions", "spark.driver.defaultJavaOptions")


def _spark_defaults_file() -> str:
    """The spark-defaults.conf that spark-submit reads (``$SPARK_CONF_DIR``, else the Spark
    home's ``conf/``; a pip-installed PySpark is its own Spark home)."""
    conf_dir = os.environ.get("SPARK_CONF_DIR")
    if not conf_dir:
        import pyspark

        conf_dir = os.path.join(os.environ.get("SPARK_HOME") or os.path.dirname(pyspark.__file__), "conf")
    return os.path.join(conf_dir, "spark-defaults.conf")


def driver_java_options(master: str, conf: Mapping[str, str]) -> str | None:
    """The ``spark.driver.extraJavaOptions`` start() sets: :data:`LOCAL_DRIVER_JAVA_OPTIONS`
    for a local master when nothing else sets the driver's Java options, else None (leave
    them alone).

    Examples
    --------
    >>> driver_java_options("local[2]", {"spark.driver.extraJavaOptions": "-Dx=1"}) is None
    True
    >>> driver_java_options("spark://host:7077", {}) is None
    True
    """
    if local_master_threads(master) is None:
        return None  # the executors are other JVMs, elsewhere: their collector is the cluster's
    if any(key in conf for key in DRIVER_JAVA_OPTIONS_KEYS):
        return None
    if any(os.environ.get(name) for name in JAVA_OPTIONS_ENVIRONMENT):
        return None
    defaults = _spark_defaults_file()
    if os.path.exists(defaults):
        with open(defaults, encoding="utf-8", errors="replace") as handle:
            if any(line.split(None, 1)[0] in DRIVER_JAVA_OPTIONS_KEYS for line in handle if line.strip()):
                return None
    return LOCAL_DRIVER_JAVA_OPTIONS


def start(
    *,
    master: str = DEFAULT_MASTER,
    app_name: str = "sparktext",
    driver_memory: str = "4g",
    conf: Mapping[str, str] | None = None,
    memory: str | None = None,
    cache_folder: str | None = None,
    params: Mapping[str, str] | None = None,
    **spark_nlp_keywords: Any,
):
    """Start (or return the running) SparkSession, configured for sparktext.

    Parameters
    ----------
    master : str, default "local[*,4]"
        Spark master URL. The default uses every core and retries a failed task up to 4
        times (plain ``local[*]`` tries each task once, so one lost Python worker fails the
        job).
    app_name : str, default "sparktext"
    driver_memory : str, default "4g"
    conf : mapping, optional
        Extra Spark settings, applied last.
    memory, cache_folder, params
        Spark NLP's ``start()`` keywords, with its meaning: the driver's memory (as
        ``driver_memory``), the folder of downloaded models (``spark.sparktext.cache_folder``)
        and extra Spark settings (as ``conf``).
    **spark_nlp_keywords
        Spark NLP's other keywords (``gpu``, ``apple_silicon``, ``aarch64``, ``log_folder``,
        ``cluster_tmp_dir``, ``real_time_output``, ``output_level``) are accepted and change
        nothing here (logged once): they choose Spark NLP's jar or its own logs. Any other
        keyword is a ``TypeError`` naming it.

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

    With a local master the driver JVM runs the throughput garbage collector
    (``-XX:+UseParallelGC`` in ``spark.driver.extraJavaOptions``), which leaves more of the
    cores to the Python workers, unless the driver's Java options are set elsewhere: in
    ``conf``, in spark-defaults.conf or in ``JAVA_TOOL_OPTIONS`` / ``JDK_JAVA_OPTIONS`` /
    ``_JAVA_OPTIONS``.
    """
    unknown = sorted(set(spark_nlp_keywords) - set(SPARK_NLP_IGNORED_KEYWORDS))
    if unknown:
        raise TypeError(
            f"start() got unexpected keyword argument(s) {unknown}; it takes master, app_name, driver_memory, conf, "
            f"Spark NLP's memory, cache_folder, params, and accepts (ignoring) {list(SPARK_NLP_IGNORED_KEYWORDS)}"
        )
    if spark_nlp_keywords:
        logger.info("start(): %s have no meaning in sparktext (no jar to choose; a GPU is used when there is one)",
                    ", ".join(f"{k}={v!r}" for k, v in sorted(spark_nlp_keywords.items())))
    if memory is not None:
        driver_memory = memory
    conf = {**(params or {}), **(conf or {})}
    if cache_folder:
        from sparktext.stages._model_storage import CACHE_CONF

        conf.setdefault(CACHE_CONF, cache_folder)
    check_master(master)
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
    java_options = driver_java_options(master, conf)
    if java_options:
        builder = builder.config("spark.driver.extraJavaOptions", java_options)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    logger.info("Spark %s session started (master %s)", session.version, master)
    return session
