#!/usr/bin/env bash
# Installs what is missing (Debian packages), then configures and builds sptrain into ./build
# (or $SPTRAIN_BUILD_DIR). Extra arguments go to the CMake configure step, e.g.
#   scripts/build.sh -DSPTRAIN_CUDA_ARCHITECTURES=80
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SPTRAIN_BUILD_DIR:-$root/build}
"$root/scripts/install-deps.sh"
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
jobs=${SPTRAIN_JOBS:-$(nproc)}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j "$jobs"
