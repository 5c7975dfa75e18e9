#!/usr/bin/env bash
# Make .venv-pyspark-X.Y: the project's environment (.venv) with another PySpark release in
# front of it, for running the tests on the Spark versions we support besides the newest.
# Usage: bash scripts/setup_spark.sh 3.5.9   (prints the venv's python on its last line)
#
# Only PySpark (and its py4j) is installed there; every other package, sparktext included, is
# .venv's, added behind it on sys.path by a .pth file. That tests the one thing that differs
# between the runs, in seconds and without a second copy of torch.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${1:?usage: setup_spark.sh PYSPARK_VERSION, e.g. 3.5.9}"
SERIES="${VERSION%.*}"
VENV="$PWD/.venv-pyspark-$SERIES"
BASE_SITE="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
if [ "$("$VENV/bin/python" -c 'import pyspark; print(pyspark.__version__)' 2>/dev/null || true)" != "$VERSION" ]; then
  "$VENV/bin/python" -m pip install --quiet "pyspark==$VERSION"
fi
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "import site; site.addsitedir('$BASE_SITE')" > "$SITE/zz_sparktext_base_env.pth"
"$VENV/bin/python" -c "import pyspark, sparktext, torch; assert pyspark.__version__ == '$VERSION', pyspark.__version__" >&2
echo "$VENV/bin/python"
