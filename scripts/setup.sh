#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with everything the job,
# the tests and the benchmarks need. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
VENV_PY="$PWD/.venv/bin/python"
"$VENV_PY" -m pip install --quiet --upgrade pip

# PyTorch's CPU build first and pinned: an unpinned `torch` pulls a multi-GB CUDA build.
# For GPUs install the CUDA build of the same version instead (see docs/cluster_and_gpu.md).
if ! "$VENV_PY" -c "import torch" 2>/dev/null; then
  "$VENV_PY" -m pip install --quiet "torch==2.13.0" || \
    "$VENV_PY" -m pip install --quiet "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
fi
"$VENV_PY" -m pip install --quiet -e ".[test]"

# Spark starts its Python workers with PYSPARK_PYTHON: the scripts point it at this venv.
echo "sparktext environment ready: $VENV_PY"
