#!/usr/bin/env bash
# Spark's GPU discovery script (spark.executor.resource.gpu.discoveryScript): prints the GPU
# addresses this container sees, as the JSON Spark expects, e.g.
#   {"name": "gpu", "addresses": ["0", "1"]}
# (Spark's distribution has an equivalent in examples/src/main/scripts; the pip package does not.)
set -euo pipefail
addresses=$(nvidia-smi --query-gpu=index --format=csv,noheader | sed -e 's/^ *//' -e 's/^/"/' -e 's/$/"/' | paste -sd, -)
echo "{\"name\": \"gpu\", \"addresses\": [${addresses}]}"
