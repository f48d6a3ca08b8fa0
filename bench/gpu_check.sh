#!/usr/bin/env bash
# The one script run on a GPU machine (DESIGN.md, "Running on a GPU machine").
#   bench/gpu_check.sh RESULTS_DIR [BUILD_DIR]
# Expects a build made on a development machine (scripts/build.sh with -DCMAKE_CUDA_ARCHITECTURES=90,
# then scripts/pack_gpu_bundle.sh; carry build/gpu_bundle.tar.xz, which holds
# bin/{sptrain,test_parity_gpu,test_parity_ops_gpu,test_parity_train_gpu,test_simulate,bench_simulate}:
# OpenBLAS, GoogleTest and cudart are linked statically, cuRAND/cuDNN/cuBLAS come from the
# machine's PyTorch wheels): runs the `gpu`-labelled parity tests, a short CUDA training run,
# compute-sanitizer memcheck on a short CUDA simulation and training run, the simulator benchmark
# against the numpy peer and a device-to-device copy, and the training benchmark against PyTorch
# on the same GPU (bench/run_gpu_train_bench.sh); writes logs and RESULTS_DIR/summary.md. cuRAND/cuDNN/cuBLAS come from PyTorch's nvidia wheels when the machine
# has no system copies. Budget: 8 minutes.
set -uo pipefail
res=${1:?usage: bench/gpu_check.sh RESULTS_DIR [BUILD_DIR]}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$root/build}
mkdir -p "$res"
# A carried bundle (scripts/pack_gpu_bundle.sh) instead of a build folder: unpack it.
if [ ! -x "$build/bin/sptrain" ] && [ -f "$build/gpu_bundle.tar.xz" ]; then
  tar -xJf "$build/gpu_bundle.tar.xz" -C "$build"
fi
log() { echo "== $*" | tee -a "$res/gpu_check.log"; }
run() {  # run NAME CMD...: output to RESULTS_DIR/NAME.log, status recorded
  local name=$1; shift
  log "$name: $*"
  local t0=$SECONDS
  "$@" >"$res/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc $((SECONDS - t0))s" | tee -a "$res/status.txt"
  tail -n 15 "$res/$name.log"
  return 0
}

log "date $(date -u +%FT%TZ)"
nvidia-smi 2>&1 | tee "$res/nvidia-smi.txt"
# Library path: PyTorch's nvidia wheels (cuRAND, cuDNN, cuBLAS) when present.
nvlibs=$(python3 - <<'PY' 2>/dev/null
import glob, os
try:
    import nvidia
    print(":".join(sorted(glob.glob(os.path.join(list(nvidia.__path__)[0], "*", "lib")))))
except Exception:
    pass
PY
)
export LD_LIBRARY_PATH=${nvlibs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >"$res/env.txt"
for b in sptrain test_parity_gpu test_parity_ops_gpu test_parity_train_gpu bench_simulate; do ldd "$build/bin/$b" >"$res/ldd_$b.txt" 2>&1; done
grep -H "not found" "$res"/ldd_*.txt && log "missing libraries (see ldd_*.txt)"
: >"$res/status.txt"

run info "$build/bin/sptrain" info
run gpu_tests "$build/bin/test_parity_gpu" --gtest_color=no
run gpu_ops_tests "$build/bin/test_parity_ops_gpu" --gtest_color=no
run gpu_train_tests "$build/bin/test_parity_train_gpu" --gtest_color=no
run cpu_tests_sim "$build/bin/test_simulate" --gtest_color=no
# A short CUDA training run end to end (fresh data on the device, graphs, checkpoints, test set).
run train_smoke "$build/bin/sptrain" train --config "$root/bench/configs/train_m2.toml" --run-dir "$res/train_smoke" \
  --force --device cuda --set train.epochs=2 --set train.steps_per_epoch=5 --set train.batch=512 --set train.micro_batch=128
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ -n "$sanitizer" ]; then
  run memcheck "$sanitizer" --tool memcheck --leak-check full --error-exitcode 3 \
    "$build/bin/sptrain" simulate --spec "$root/experiments/report-3.4.1-code.toml" --n 3000 --seed 1 --device cuda --stdout-summary
  run memcheck_train "$sanitizer" --tool memcheck --error-exitcode 3 \
    "$build/bin/sptrain" train --config "$root/bench/configs/train_m2.toml" --run-dir "$res/memcheck_run" --force \
    --device cuda --quiet --set train.epochs=1 --set train.steps_per_epoch=3 --set train.batch=64 --set train.micro_batch=32 \
    --set data.val_size=64 --set data.test_size=64
  run memcheck_blur "$sanitizer" --tool memcheck --error-exitcode 3 \
    "$build/bin/sptrain" simulate --spec "$root/experiments/markov-3state-noise.toml" --set noise.exposure=0.5 --n 500 --device cuda --stdout-summary
else
  log "compute-sanitizer not found"
fi
run sim_bench "$root/bench/run_sim_bench.sh" "$build" 1000000 "$res/sim_bench.json"
run train_bench "$root/bench/run_gpu_train_bench.sh" "$build" "$res/train_bench.json" fp32
SPTRAIN_BENCH_NO_PEER=1 run train_bench_tf32 "$root/bench/run_gpu_train_bench.sh" "$build" "$res/train_bench_tf32.json" tf32

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1)
{
  echo "# gpu_check $(date -u +%F) on ${gpu:-unknown GPU}"
  echo
  echo '| step | status |'
  echo '|---|---|'
  sed 's/^\([a-z_0-9]*\) \(rc=[0-9]*\) \(.*\)$/| \1 | \2, \3 |/' "$res/status.txt"
  echo
  echo '## gpu tests'
  echo '```'; grep -HE '^\[  (PASSED|FAILED|SKIPPED) |^\[  FAILED  \] [A-Z]' "$res"/gpu_*tests.log; echo '```'
  echo '## simulator benchmark (1e6 trajectories x 1000 steps)'
  echo '```'; tail -n 4 "$res/sim_bench.log"; echo '```'
  echo '## training benchmark against PyTorch eager on the same GPU (FP32, then TF32)'
  echo '```'; grep -E '^m[12] batch' "$res/train_bench.log" | tail -n 6; grep -E '^m[12] batch' "$res/train_bench_tf32.log" | tail -n 6; echo '```'
} >"$res/summary.md"
cat "$res/summary.md"
