#!/usr/bin/env bash
# Packs what bench/gpu_check.sh needs from a build into BUILD_DIR/gpu_bundle.tar.xz (~24 MiB; the
# binaries are ~113 MiB unpacked, mostly statically linked OpenBLAS), so a GPU machine without
# Debian packages can be handed one small file: carry build/gpu_bundle.tar.xz, then run
# bench/gpu_check.sh RESULTS_DIR build (it unpacks the bundle when build/bin is missing).
#   scripts/pack_gpu_bundle.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
bins="sptrain test_parity_gpu test_parity_ops_gpu test_parity_train_gpu test_model test_simulate bench_simulate"
for b in $bins; do [ -x "$build/bin/$b" ] || { echo "missing $build/bin/$b (build first: scripts/build.sh)" >&2; exit 1; }; done
# The Debian libraries the binaries link (libgomp for the CPU backend, OpenMPI for data-parallel
# runs, toml++, and what those pull in) travel too: a GPU machine's image may lack them. The C/C++
# runtime and the CUDA libraries stay behind (the machine has its own, or PyTorch's nvidia wheels,
# which gpu_check.sh finds). gpu_check.sh puts bundle/lib last on the library path, so a system
# copy wins where there is one.
mkdir -p "$build/lib"
for b in $bins; do ldd "$build/bin/$b"; done |
  awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
  grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so|/cuda|/libcu|/libnv|/libnccl' |
  while read -r lib; do cp -L "$lib" "$build/lib/"; done
tmp="$build/gpu_bundle.tar.xz.tmp"
tar -cJf "$tmp" -C "$build" $(for b in $bins; do echo "bin/$b"; done) lib
mv "$tmp" "$build/gpu_bundle.tar.xz"
ls -l "$build/gpu_bundle.tar.xz"
