#!/usr/bin/env bash
# Builds the Python package and runs its pytest suite (tests/python). Installs the Python
# dependencies, builds the CLI and the extension into $SPTRAIN_BUILD_DIR (default build-cpu, CPU
# only, SPTRAIN_PYTHON=ON) and runs pytest with PYTHONPATH=<build>/python, comparing with that CLI.
# The PyTorch tests (tests/python/test_torch.py) run under TORCH_PYTHON (default: Debian's
# /usr/bin/python3 with its python3-torch, which install-python-deps.sh installs), importing the
# same extension: it is built for CPython 3.11 and both interpreters are 3.11.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SPTRAIN_BUILD_DIR:-$root/build}
py=${PYTHON:-python3}
"$root/scripts/install-python-deps.sh"
SPTRAIN_BUILD_DIR="$build" "$root/scripts/build.sh" -DSPTRAIN_PYTHON=ON \
  -DPython_EXECUTABLE="$(command -v "$py")" "$@"
SPTRAIN_CLI="$build/bin/sptrain" PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}" \
  "$py" -m pytest -q "$root/tests/python"
ver() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }
has_torch() { "$1" -c 'import torch' 2>/dev/null; }
torch_py=${TORCH_PYTHON:-/usr/bin/python3}
if has_torch "$py"; then
  :  # the run above included the PyTorch tests
elif has_torch "$torch_py" && [ "$(ver "$torch_py")" = "$(ver "$py")" ]; then
  SPTRAIN_CLI="$build/bin/sptrain" PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}" \
    "$torch_py" -m pytest -q -p no:cacheprovider "$root/tests/python/test_torch.py"
else
  echo "test-python: no PyTorch for Python $(ver "$py") ($torch_py); tests/python/test_torch.py skipped" >&2
fi
