#!/usr/bin/env bash
# Builds the Python package and runs its pytest suite (tests/python). Installs the Python
# dependencies, builds the CLI and the extension into $SPTRAIN_BUILD_DIR (default build-cpu, CPU
# only, SPTRAIN_PYTHON=ON) and runs pytest with PYTHONPATH=<build>/python, comparing with that CLI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SPTRAIN_BUILD_DIR:-$root/build}
py=${PYTHON:-python3}
"$root/scripts/install-python-deps.sh"
SPTRAIN_BUILD_DIR="$build" "$root/scripts/build.sh" -DSPTRAIN_PYTHON=ON \
  -DPython_EXECUTABLE="$(command -v "$py")" "$@"
SPTRAIN_CLI="$build/bin/sptrain" PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}" \
  "$py" -m pytest -q "$root/tests/python"
