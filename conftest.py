"""Shared fixtures: one local[2] Spark session for the whole run, the EWT gold data."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # the EWT reader lives with the benchmarks

# Spark's Python workers must run this interpreter, or they will not find sparktext.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark():
    import sparktext

    session = sparktext.start(
        master="local[2]",
        driver_memory="6g",
        conf={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _doctest_spark(request, doctest_namespace):
    """Docstring examples that use ``spark`` get the session (started only for them)."""
    item = request.node
    if isinstance(item, pytest.DoctestItem) and any("spark." in ex.source for ex in item.dtest.examples):
        doctest_namespace["spark"] = request.getfixturevalue("spark")


@pytest.fixture(scope="session")
def ewt_documents():
    import ewt

    if not ewt.DEFAULT_PATH.exists():
        pytest.fail(f"the EWT dev file is missing at {ewt.DEFAULT_PATH} (../shared/data beside the checkout)")
    return ewt.load_documents()
