#!/usr/bin/env bash
# The CPU test suite under AddressSanitizer and UndefinedBehaviorSanitizer (any report fails its test):
#   scripts/sanitize.sh [--configure-only] [CTEST_ARGS...]     e.g. scripts/sanitize.sh -R Checkpoint
# Configures $SPTRAIN_SANITIZE_BUILD_DIR (default build-fuzz) with clang, -DSPTRAIN_WITH_CUDA=OFF and
# -DSPTRAIN_FUZZ=ON (ASan + UBSan + libFuzzer coverage: the same build also holds bench/fuzz.sh's
# fuzz targets, so CI compiles the library once for both), builds it and runs `ctest -L cpu`.
# --configure-only stops after configuring (bench/fuzz.sh builds just its targets).
# Environment: SPTRAIN_CXX (the compiler; default clang++, else clang++-14), SPTRAIN_JOBS (build
# jobs, default all cores; also ctest's -j), extra CMake arguments in SPTRAIN_SANITIZE_CMAKE_ARGS
# (e.g. -DCMAKE_CXX_COMPILER_LAUNCHER=ccache).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SPTRAIN_SANITIZE_BUILD_DIR:-$root/build-fuzz}
jobs=${SPTRAIN_JOBS:-$(nproc)}
configure_only=0
if [ "${1:-}" = "--configure-only" ]; then configure_only=1; shift; fi

"$root/scripts/install-deps.sh" clang libclang-rt-dev
cxx=${SPTRAIN_CXX:-}
# An existing build folder keeps its compiler (naming it differently would make CMake start over).
if [ -z "$cxx" ] && [ -f "$build/CMakeCache.txt" ]; then
  cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
fi
if [ -z "$cxx" ]; then
  for c in clang++ clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then cxx=$c; break; fi
  done
fi
[ -n "$cxx" ] || { echo "sanitize.sh: no clang++ found (set SPTRAIN_CXX)" >&2; exit 1; }
# The CPU generator needs the CUDA toolkit's headers (cuRAND's Philox), not nvcc; find_package
# looks for nvcc on PATH to locate them.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" \
  -DSPTRAIN_WITH_CUDA=OFF -DSPTRAIN_FUZZ=ON -DSPTRAIN_BUILD_BENCH=OFF ${SPTRAIN_SANITIZE_CMAKE_ARGS:-} >/dev/null
[ "$configure_only" -eq 1 ] && exit 0
cmake --build "$build" -j "$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" -L cpu --output-on-failure -j "$jobs" "$@"
