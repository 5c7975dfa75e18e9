"""The Dockerfiles cannot be built here (no Docker engine): check the pieces they need."""

from __future__ import annotations

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def instructions(path: pathlib.Path) -> list[tuple[str, str]]:
    joined = path.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_cpu_image_has_java_cpu_torch_sparktext_and_worker_python():
    steps = instructions(ROOT / "docker" / "Dockerfile.cpu")
    runs = " ".join(arg for op, arg in steps if op == "RUN")
    envs = " ".join(arg for op, arg in steps if op == "ENV")
    assert steps[0][0] == "FROM" and "python:3.1" in steps[0][1]
    assert "openjdk-17-jre-headless" in runs
    assert "torch==2.13.0" in runs and "download.pytorch.org/whl/cpu" in runs
    torch_step = next(i for i, (op, arg) in enumerate(steps) if "torch==" in arg)
    sparktext_step = next(i for i, (op, arg) in enumerate(steps) if op == "RUN" and '".[minilm]"' in arg)
    assert torch_step < sparktext_step, "the CPU torch must be installed before sparktext pulls one in"
    assert "PYSPARK_PYTHON=" in envs and "JAVA_HOME=" in envs
    copied = [source for op, arg in steps if op == "COPY" for source in arg.split()[:-1]]
    for source in copied:
        assert (ROOT / source).exists(), f"COPY source {source} is missing"
