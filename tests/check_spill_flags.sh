#!/usr/bin/env bash
# Proves that the project's ptxas flags (SPTRAIN_PTXAS_FLAGS, src/CMakeLists.txt) turn a
# register spill into a build error: tests/spill_probe.cu held to 24 registers must fail to
# compile with them, naming the spill, and compile without them.
#   check_spill_flags.sh NVCC ARCH FLAG...
set -uo pipefail
nvcc=${1:?usage: check_spill_flags.sh NVCC ARCH FLAG...}
arch=$2
shift 2
probe=$(dirname "$0")/spill_probe.cu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! "$nvcc" -arch="sm_$arch" -maxrregcount=24 -c "$probe" -o "$work/plain.o" >"$work/plain.log" 2>&1; then
  echo "check_spill_flags: the probe does not compile even without the flags:"; cat "$work/plain.log"; exit 1
fi
if "$nvcc" -arch="sm_$arch" -maxrregcount=24 "$@" -c "$probe" -o "$work/strict.o" >"$work/strict.log" 2>&1; then
  echo "check_spill_flags: a spilling kernel compiled with the project's flags ($*):"; cat "$work/strict.log"; exit 1
fi
if ! grep -q "Registers are spilled" "$work/strict.log"; then
  echo "check_spill_flags: the probe failed for another reason:"; cat "$work/strict.log"; exit 1
fi
echo "check_spill_flags: the flags reject a spilling kernel:"; grep "Registers are spilled" "$work/strict.log" | head -n 3
