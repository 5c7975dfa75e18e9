"""The images cannot be built here (no Docker engine): parse the Dockerfiles for the pieces
they need, and run the entrypoint and GPU discovery scripts with stand-in programs."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"


def instructions(path: pathlib.Path) -> list[tuple[str, str]]:
    joined = path.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def check_common(steps, torch_index: str, extras: str) -> None:
    runs = " ".join(arg for op, arg in steps if op == "RUN")
    envs = " ".join(arg for op, arg in steps if op == "ENV")
    assert "openjdk-17-jre-headless" in runs
    assert "torch==2.13.0" in runs and torch_index in runs
    torch_step = next(i for i, (op, arg) in enumerate(steps) if "torch==" in arg)
    sparktext_step = next(i for i, (op, arg) in enumerate(steps) if op == "RUN" and f'".[{extras}]"' in arg)
    assert torch_step < sparktext_step, "the pinned torch must be installed before sparktext pulls one in"
    assert "PYSPARK_PYTHON=" in envs and "JAVA_HOME=" in envs
    copied = [source for op, arg in steps if op == "COPY" for source in arg.split()[:-1] if not source.startswith("--")]
    for source in copied:
        assert (ROOT / source).exists(), f"COPY source {source} is missing"


def test_cpu_image_has_java_cpu_torch_sparktext_and_worker_python():
    steps = instructions(DOCKER / "Dockerfile.cpu")
    assert steps[0][0] == "FROM" and "python:3.1" in steps[0][1]
    check_common(steps, "download.pytorch.org/whl/cpu", "minilm")


def test_cuda_image_has_cuda_torch_and_the_kubernetes_entrypoint():
    steps = instructions(DOCKER / "Dockerfile.cuda")
    assert steps[0][0] == "FROM" and steps[0][1].startswith("nvidia/cuda:12.8")
    check_common(steps, "download.pytorch.org/whl/cu128", "minilm,connect")
    envs = " ".join(arg for op, arg in steps if op == "ENV")
    assert "SPARK_HOME=/opt/venv/lib/python3.12/site-packages/pyspark" in envs  # Ubuntu 24.04's Python
    assert ("USER", "185") in steps  # the spark user of Spark's Kubernetes images
    runs = " ".join(arg for op, arg in steps if op == "RUN")
    assert "onnxruntime-gpu" in runs and "onnxruntime>=" not in runs.replace("onnxruntime-gpu>=", "")  # engine="onnx" on CUDA
    entrypoint = json.loads(next(arg for op, arg in steps if op == "ENTRYPOINT"))
    assert entrypoint[-1] == "/opt/sparktext/entrypoint.sh"


@pytest.fixture
def stand_ins(tmp_path):
    """Fake java, spark-submit, sparktext and nvidia-smi that print how they were called."""
    bin_dir, spark_home, java_home = tmp_path / "bin", tmp_path / "spark", tmp_path / "java"
    for folder, name in ((bin_dir, "sparktext"), (spark_home / "bin", "spark-submit"), (java_home / "bin", "java")):
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / name
        script.write_text(f'#!/usr/bin/env bash\necho "{name}" "$@"\n')
        script.chmod(0o755)
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/usr/bin/env bash\nprintf '0\\n1\\n'\n")
    smi.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SPARK_HOME": str(spark_home),
            "JAVA_HOME": str(java_home)}


def run(script: str, args: list[str], env: dict) -> str:
    done = subprocess.run(["bash", str(DOCKER / script), *args], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_entrypoint_runs_the_kubernetes_executor_with_spark_settings(stand_ins):
    env = {**stand_ins, "SPARK_JAVA_OPT_0": "-Dspark.driver.port=7078", "SPARK_JAVA_OPT_1": "-Dspark.app.id=a b",
           "SPARK_EXECUTOR_MEMORY": "8g", "SPARK_DRIVER_URL": "spark://driver:7078", "SPARK_EXECUTOR_ID": "3",
           "SPARK_EXECUTOR_CORES": "4", "SPARK_APPLICATION_ID": "app-1", "SPARK_EXECUTOR_POD_IP": "10.0.0.5",
           "SPARK_RESOURCE_PROFILE_ID": "0", "SPARK_EXECUTOR_POD_NAME": "pod-3"}
    out = run("entrypoint.sh", ["executor"], env)
    assert out.startswith("java -Dspark.driver.port=7078 -Dspark.app.id=a b -Xms8g -Xmx8g -cp ")
    assert "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend --driver-url spark://driver:7078" in out
    assert "--executor-id 3 --cores 4 --app-id app-1 --hostname 10.0.0.5 --resourceProfileId 0 --podName pod-3" in out


def test_entrypoint_runs_the_driver_and_the_command_line(stand_ins):
    driver = run("entrypoint.sh", ["driver", "--class", "x", "local:///opt/app/job.py"],
                 {**stand_ins, "SPARK_DRIVER_BIND_ADDRESS": "10.0.0.2"})
    assert driver == ("spark-submit --conf spark.driver.bindAddress=10.0.0.2 --conf "
                      "spark.executorEnv.SPARK_DRIVER_POD_IP=10.0.0.2 --deploy-mode client --class x local:///opt/app/job.py")
    assert run("entrypoint.sh", ["embed", "in.jsonl", "out"], stand_ins) == "sparktext embed in.jsonl out"


def test_gpu_discovery_script_prints_spark_resource_json(stand_ins):
    assert json.loads(run("getGpusResources.sh", [], stand_ins)) == {"name": "gpu", "addresses": ["0", "1"]}
