"""sparktext.start(): the driver JVM it starts (a fresh JVM per case, in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sparktext import session

COLLECTOR_OF_A_NEW_SESSION = """
import json, sys
import sparktext
spark = sparktext.start(master=sys.argv[1], conf=json.loads(sys.argv[2]))
beans = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
print("COLLECTORS", sorted(bean.getName() for bean in beans))
spark.stop()
"""


def collectors(master: str = "local[1]", conf: str = "{}", **environment: str) -> str:
    env = {key: value for key, value in os.environ.items() if key not in session.JAVA_OPTIONS_ENVIRONMENT}
    env.update(environment)
    done = subprocess.run([sys.executable, "-c", COLLECTOR_OF_A_NEW_SESSION, master, conf], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return next(line for line in done.stdout.splitlines() if line.startswith("COLLECTORS"))


def test_a_local_driver_runs_the_throughput_collector_unless_told_otherwise():
    # Java's default is G1 ("G1 Young Generation"); the throughput collector's beans are "PS ...".
    assert "PS MarkSweep" in collectors()
    # A collector the user chose, in the session's settings or the JVM's environment, is kept,
    # and the JVM still starts (two collectors chosen would stop it).
    assert "G1 Old Generation" in collectors(conf='{"spark.driver.extraJavaOptions": "-XX:+UseG1GC"}')
    assert "G1 Old Generation" in collectors(JAVA_TOOL_OPTIONS="-XX:+UseG1GC")


@pytest.mark.parametrize("master", ["spark://host:7077", "yarn", "local-cluster[2,1,1024]"])
def test_a_cluster_drivers_java_options_are_left_alone(master):
    assert session.driver_java_options(master, {}) is None


def test_java_options_in_spark_defaults_are_not_replaced(tmp_path, monkeypatch):
    for name in session.JAVA_OPTIONS_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    assert session.driver_java_options("local[2]", {}) == session.LOCAL_DRIVER_JAVA_OPTIONS
    (tmp_path / "spark-defaults.conf").write_text("# site settings\n\nspark.driver.extraJavaOptions -Dsite=1\n")
    assert session.driver_java_options("local[2]", {}) is None
    assert session.driver_java_options("local[2]", {"spark.driver.defaultJavaOptions": "-Dx=1"}) is None
