#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and a Python that has CUDA PyTorch and transformers (and,
# for engine="onnx" on CUDA, onnxruntime-gpu): the engine's parity checks on CUDA, then its
# speed per engine and precision (benchmarks/gpu_check.py). No Spark, no download; well under
# 8 minutes on one GPU. Extra arguments go to gpu_check.py (--sentences, --layers, --hidden).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec timeout 480 "$PYTHON" benchmarks/gpu_check.py "$@"
