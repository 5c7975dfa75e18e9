#!/usr/bin/env bash
# Set up the environment and run the whole test suite (the README's test command; CI runs it).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
#
# With no arguments it then runs the suite (less its slow cases) once more on each older
# PySpark we support, in its own environment (scripts/setup_spark.sh); the versions are
# SPARKTEXT_OLDER_PYSPARK's (default below; set it empty to skip those runs).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

run_pytest() {  # python, pytest arguments...
  local python="$1"
  shift
  PYSPARK_PYTHON="$python" PYSPARK_DRIVER_PYTHON="$python" "$python" -m pytest "$@"
  local status=$?
  if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    return 1
  fi
  return "$status"
}

run_pytest "$PWD/.venv/bin/python" "$@"
status=$?
if [ "$#" -eq 0 ]; then
  for version in ${SPARKTEXT_OLDER_PYSPARK-3.5.9 4.0.5}; do
    echo "=== the suite on PySpark $version (slow cases left out) ==="
    python="$(bash scripts/setup_spark.sh "$version" | tail -n 1)" || { status=1; continue; }
    run_pytest "$python" -m "not slow" -p no:cacheprovider || status=1
  done
fi
exit "$status"
