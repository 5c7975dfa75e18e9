#!/usr/bin/env bash
# Set up the environment and run the main job on the bundled sample: documents, sentences
# and tokens of examples/data/sample.jsonl, written as Parquet to output/sample_annotated.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYSPARK_PYTHON="$PWD/.venv/bin/python" PYSPARK_DRIVER_PYTHON="$PWD/.venv/bin/python"
.venv/bin/sparktext annotate examples/data/sample.jsonl output/sample_annotated --master "local[2]" "$@"
