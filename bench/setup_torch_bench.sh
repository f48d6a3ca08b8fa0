#!/usr/bin/env bash
# Prepares bench/torch_batches.py: Debian's PyTorch (python3-torch, CPU) and python3-venv, then a
# virtual environment over Debian's python3 that sees its packages (torch) and adds andi-datasets
# from PyPI (source (c) of the benchmark), and the Python extension (CPU build) when BUILD_DIR has none.
#   bench/setup_torch_bench.sh [VENV] [BUILD_DIR]     (defaults build-torch-bench/venv, build-cpu)
# Then:
#   PYTHONPATH=BUILD_DIR/python VENV/bin/python bench/torch_batches.py --peer PATH/torch_peer.py
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$root/build-torch-bench/venv}
build=${2:-$root/build-cpu}
"$root/scripts/install-deps.sh" python3-torch python3-venv
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check andi-datasets
if [ ! -d "$build/python/sptrain" ]; then
  "$root/scripts/install-python-deps.sh"
  SPTRAIN_BUILD_DIR="$build" "$root/scripts/build.sh" -DSPTRAIN_WITH_CUDA=OFF -DSPTRAIN_PYTHON=ON \
    -DPython_EXECUTABLE="$(command -v "${PYTHON:-python3}")"  # CPython 3.11, as Debian's: one extension for both
fi
PYTHONPATH="$build/python" "$venv/bin/python" -c 'import torch, sptrain.torch, andi_datasets' &&
  echo "setup_torch_bench: $venv/bin/python has torch, sptrain.torch and andi_datasets"
