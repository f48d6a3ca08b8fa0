#!/usr/bin/env bash
# Packs what bench/gpu_check.sh needs from a build into BUILD_DIR/gpu_bundle.tar.xz (~10 MiB; the
# binaries are ~113 MiB unpacked, mostly statically linked OpenBLAS), so a GPU machine without
# Debian packages can be handed one small file: carry build/gpu_bundle.tar.xz, then run
# bench/gpu_check.sh RESULTS_DIR build (it unpacks the bundle when build/bin is missing).
#   scripts/pack_gpu_bundle.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
bins="sptrain test_parity_gpu test_parity_ops_gpu test_parity_train_gpu test_model test_simulate bench_simulate"
for b in $bins; do [ -x "$build/bin/$b" ] || { echo "missing $build/bin/$b (build first: scripts/build.sh)" >&2; exit 1; }; done
# libgomp (OpenMP of the CPU backend) travels too: a GPU machine's image may lack it. gpu_check.sh
# puts bundle/lib last on the library path, so a system copy wins where there is one.
mkdir -p "$build/lib"
gomp=$(ldd "$build/bin/sptrain" | awk '/libgomp/ {print $3}')
[ -n "$gomp" ] && cp -L "$gomp" "$build/lib/"
tmp="$build/gpu_bundle.tar.xz.tmp"
tar -cJf "$tmp" -C "$build" $(for b in $bins; do echo "bin/$b"; done) lib
mv "$tmp" "$build/gpu_bundle.tar.xz"
ls -l "$build/gpu_bundle.tar.xz"
