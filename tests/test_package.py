"""Import paths a Spark NLP user expects, and sparktext.start()."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sparktext
from sparktext import JavaNotFoundError


def test_spark_nlp_style_star_imports():
    namespace: dict = {}
    exec("from sparktext.base import *\nfrom sparktext.annotator import *", namespace)
    for name in ("DocumentAssembler", "SentenceDetector", "Tokenizer", "TokenizerModel"):
        assert name in namespace
    for module in (sparktext, sparktext.base, sparktext.annotator):
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_importing_does_not_start_spark_or_import_torch():
    code = "import sys, sparktext; print('pyspark.sql.session' in sys.modules and bool(__import__('pyspark').sql.SparkSession._instantiatedSession)); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_start_without_java_says_what_to_install(monkeypatch):
    monkeypatch.setenv("JAVA_HOME", "/nonexistent/jdk")
    monkeypatch.setenv("PATH", "/nonexistent/bin")
    with pytest.raises(JavaNotFoundError, match=r"needs a Java runtime.*JAVA_HOME is '/nonexistent/jdk'.*openjdk-17"):
        sparktext.start()


def test_start_returns_a_session_that_runs_python_workers_with_this_interpreter(spark):
    worker_python = spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("sys").executable).first()
    assert worker_python == sys.executable
    assert sparktext.start() is spark  # getOrCreate: the running session comes back
    assert spark.conf.get("spark.python.worker.reuse") == "true"
