#!/usr/bin/env bash
# The one script run on a GPU machine (DESIGN.md, "Running on a GPU machine").
#   bench/gpu_check.sh RESULTS_DIR [BUILD_DIR]
# Expects a build made on a development machine (scripts/build.sh with -DCMAKE_CUDA_ARCHITECTURES=90,
# then scripts/pack_gpu_bundle.sh BUILD_DIR; carry BUILD_DIR/gpu_bundle.tar.xz, which holds
# bin/{sptrain,test_parity_gpu,test_parity_ops_gpu,test_parity_train_gpu,test_model,test_simulate,bench_simulate}
# and lib/ (libgomp, OpenMPI, toml++: the Debian libraries they link; OpenBLAS, GoogleTest and cudart
# are linked statically; cuRAND/cuDNN/cuBLAS/NCCL come from the machine's own copies or PyTorch's
# nvidia wheels). In order of importance:
#   1. the `gpu`-labelled parity tests (ops, models, device batch source, whole training runs);
#   2. a short CUDA training run end to end, and the same run as one MPI rank over NCCL (equal
#      weights);
#   3. compute-sanitizer memcheck on short training and simulation runs;
#   4. the cuDNN engines Model 2's convolutions run on (SPTRAIN_CUDNN_LOG=1);
#   5. the training benchmark against PyTorch on the same GPU (bench/run_gpu_train_bench.sh, FP32),
#      then again in TF32;
#   6. the simulator benchmark against numpy and a device-to-device copy (bench/run_sim_bench.sh);
#   7. a slice of the large-batch study (experiments/sweep-gpu.sh --slice): the windowed detector
#      at batches 4096 to 2^20, and the report's Model 2 at batch 512 and 16384;
#   8. the Python package's GPU tests (tests/python/test_torch.py) and one PyTorch training loop fed
#      by sptrain.torch.Batches on the GPU, by the PyTorch peer's
#      generator ($SPTRAIN_PEERS/torch_peer.py; left out when SPTRAIN_PEERS is unset)
#      (bench/torch_batches.py --device cuda); needs the Python extension of a CUDA build in
#      BUILD_DIR/python, skipped without it. andi-datasets is left out: it makes trajectories on
#      the host in Python (about 40 per second on one core), so a batch of 4096 takes minutes
#      whatever the GPU; its rate is in the CPU results.
# Every step has a time limit and the whole script a budget (GPU_CHECK_BUDGET seconds, default 420):
# a step that would start past it is skipped, so RESULTS_DIR/summary.md is always written. Logs go
# to RESULTS_DIR/<step>.log, step status to RESULTS_DIR/status.txt. GPU_CHECK_SKIP="step1 step2"
# leaves steps out (a rerun after a partial one); SPTRAIN_CUDNN_LOG=1 in cudnn_engines shows which
# cuDNN engine each convolution of the report's Model 2 runs on.
set -uo pipefail
res=${1:?usage: bench/gpu_check.sh RESULTS_DIR [BUILD_DIR]}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$root/build}
budget=${GPU_CHECK_BUDGET:-420}
deadline=$((SECONDS + budget))
mkdir -p "$res"
: >"$res/status.txt"
# A carried bundle (scripts/pack_gpu_bundle.sh) instead of a build folder: unpack it.
if [ ! -x "$build/bin/sptrain" ] && [ -f "$build/gpu_bundle.tar.xz" ]; then
  tar -xJf "$build/gpu_bundle.tar.xz" -C "$build"
fi
log() { echo "== $*" | tee -a "$res/gpu_check.log"; }
run() {  # run NAME LIMIT_S CMD...: output to RESULTS_DIR/NAME.log, status recorded
  local name=$1 limit=$2; shift 2
  if [[ " ${GPU_CHECK_SKIP:-} " == *" $name "* ]]; then
    echo "$name skipped (GPU_CHECK_SKIP)" | tee -a "$res/status.txt"
    return 0
  fi
  local left=$((deadline - SECONDS - 10))
  if [ "$left" -lt 15 ]; then
    echo "$name skipped (budget spent)" | tee -a "$res/status.txt"
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  log "$name (limit ${limit}s): $*"
  local t0=$SECONDS
  timeout -k 5 "$limit" "$@" >"$res/$name.log" 2>&1
  local rc=$?
  [ $rc -eq 124 ] && rc="124(timeout)"
  echo "$name rc=$rc $((SECONDS - t0))s" | tee -a "$res/status.txt"
  tail -n 12 "$res/$name.log"
  return 0
}

log "date $(date -u +%FT%TZ), budget ${budget}s"
nvidia-smi 2>&1 | tee "$res/nvidia-smi.txt"
# Library path: the machine's own cuRAND/cuDNN/cuBLAS/NVRTC where the loader finds them, else the
# folders of PyTorch's nvidia wheels that hold them; the bundle's libgomp last.
nvlibs=$(python3 - <<'PY' 2>/dev/null
import os, site, sys
want = {"libcudnn.so.9", "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libnvrtc.so.13", "libnccl.so.2"}
roots = [p for p in site.getsitepackages() + [site.getusersitepackages()] + sys.path if os.path.isdir(p)]
dirs = []
for r in dict.fromkeys(roots):
    for top in ("nvidia", "torch"):
        for dp, dn, fn in os.walk(os.path.join(r, top)):
            if want & set(fn) and dp not in dirs:
                dirs.append(dp)
print(":".join(dirs))
PY
)
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}${nvlibs:+$nvlibs:}$build/lib
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >"$res/env.txt"
for b in sptrain test_parity_ops_gpu; do ldd "$build/bin/$b" >"$res/ldd_$b.txt" 2>&1; done
grep -H "not found" "$res"/ldd_*.txt && log "missing libraries (see ldd_*.txt)"

run info 20 "$build/bin/sptrain" info
run gpu_tests 60 "$build/bin/test_parity_gpu" --gtest_color=no
run gpu_ops_tests 90 "$build/bin/test_parity_ops_gpu" --gtest_color=no
run gpu_train_tests 90 "$build/bin/test_parity_train_gpu" --gtest_color=no
# A layer registered at run time (defined in the test file) on the CUDA backend.
run gpu_layer_registry 30 "$build/bin/test_model" --gtest_color=no --gtest_filter='*OnCuda*'
# A short CUDA training run end to end (fresh data on the device, graphs, checkpoints, test set).
run train_smoke 40 "$build/bin/sptrain" train --config "$root/bench/configs/train_m2.toml" --run-dir "$res/train_smoke" \
  --force --device cuda --set train.epochs=2 --set train.steps_per_epoch=5 --set train.batch=512 --set train.micro_batch=128
# One rank over NCCL (mpirun -np 1, dist.reduce = "allreduce": the gradient slab summed by
# ncclAllReduce in device memory) must give the plain run's weights, running statistics and Adam
# moments bitwise: the same micro-batches accumulate in the same order, and an all-reduce over one
# rank returns its input (the logged loss travels as float32 there, so metrics are not compared).
if command -v mpirun >/dev/null 2>&1; then
  run nccl_one_rank 60 bash -c '
    mpirun --allow-run-as-root -np 1 "$0" train --config "$1" --run-dir "$2/nccl_one_rank" --force --device cuda \
      --set train.epochs=2 --set train.steps_per_epoch=5 --set train.batch=512 --set train.micro_batch=128 \
      --set dist.reduce=allreduce &&
    python3 - "$2/train_smoke/last.safetensors" "$2/nccl_one_rank/last.safetensors" <<"PY"
import json, struct, sys
def tensors(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
bad = [k for k in a if a[k] != b.get(k)]
print("tensors:", sorted(a), "differing:", bad)
sys.exit(1 if bad or set(a) != set(b) else 0)
PY' "$build/bin/sptrain" "$root/bench/configs/train_m2.toml" "$res"
else
  echo "nccl_one_rank skipped (mpirun not found)" | tee -a "$res/status.txt"
fi
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ -n "$sanitizer" ]; then
  run memcheck_train 45 "$sanitizer" --tool memcheck --error-exitcode 3 \
    "$build/bin/sptrain" train --config "$root/bench/configs/train_m2.toml" --run-dir "$res/memcheck_run" --force \
    --device cuda --quiet --set train.epochs=1 --set train.steps_per_epoch=3 --set train.batch=64 --set train.micro_batch=32 \
    --set data.val_size=64 --set data.test_size=64
  run memcheck 30 "$sanitizer" --tool memcheck --leak-check full --error-exitcode 3 \
    "$build/bin/sptrain" simulate --spec "$root/experiments/report-3.4.1-code.toml" --n 3000 --seed 1 --device cuda --stdout-summary
  run memcheck_blur 30 "$sanitizer" --tool memcheck --error-exitcode 3 \
    "$build/bin/sptrain" simulate --spec "$root/experiments/markov-3state-noise.toml" --set noise.exposure=0.5 --n 500 --device cuda --stdout-summary
else
  log "compute-sanitizer not found"
fi
SPTRAIN_CUDNN_LOG=1 run cudnn_engines 30 "$build/bin/sptrain" train --config "$root/bench/configs/train_m2.toml" \
  --run-dir "$res/engines_run" --force --device cuda --quiet --set train.epochs=1 --set train.steps_per_epoch=2 \
  --set train.batch=4096 --set train.micro_batch=4096 --set data.val_size=256 --set data.test_size=256
run train_bench 180 "$root/bench/run_gpu_train_bench.sh" "$build" "$res/train_bench.json" fp32
SPTRAIN_BENCH_NO_PEER=1 run train_bench_tf32 60 "$root/bench/run_gpu_train_bench.sh" "$build" "$res/train_bench_tf32.json" tf32
run sim_bench 60 "$root/bench/run_sim_bench.sh" "$build" 1000000 "$res/sim_bench.json"
SWEEP_ONLY=windows-343-slice run sweep_windows 100 "$root/experiments/sweep-gpu.sh" "$build" "$res/sweep" --slice
SWEEP_ONLY=m2-343-slice run sweep_m2 200 "$root/experiments/sweep-gpu.sh" "$build" "$res/sweep" --slice
if [ -d "$build/python/sptrain" ]; then
  # The Python package's GPU cases (sptrain.torch.Batches and simulate(arrays="dlpack") on cuda).
  SPTRAIN_CLI="$build/bin/sptrain" PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}" run python_gpu 60 \
    python3 -m pytest -q -p no:cacheprovider "$root/tests/python/test_torch.py"
  torch_peer=${SPTRAIN_PEERS:+$SPTRAIN_PEERS/torch_peer.py}
  PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}" run torch_batches 120 python3 "$root/bench/torch_batches.py" \
    --device cuda --batch 4096 --steps 20 --skip andi ${torch_peer:+--peer "$torch_peer"} --out "$res/torch_batches.md"
else
  echo "python_gpu, torch_batches skipped (no $build/python/sptrain: the Python extension is not in this build)" | tee -a "$res/status.txt"
fi

# Last (the budget skips it first): the TF32 rows again with every convolution's engine chosen by
# timing (SPTRAIN_CUDNN_TUNE=1; the log lists each candidate's time), to measure what timing adds
# over the heuristics' first choice.
SPTRAIN_CUDNN_TUNE=1 SPTRAIN_CUDNN_LOG=1 SPTRAIN_BENCH_NO_PEER=1 run train_bench_tf32_tuned 70 \
  "$root/bench/run_gpu_train_bench.sh" "$build" "$res/train_bench_tf32_tuned.json" tf32

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1)
show() { [ -f "$1" ] && grep -E "$2" "$1"; }
{
  echo "# gpu_check $(date -u +%F) on ${gpu:-unknown GPU}"
  echo
  echo '| step | status |'
  echo '|---|---|'
  sed 's/^\([a-z_0-9]*\) \(.*\)$/| \1 | \2 |/' "$res/status.txt"
  echo
  echo '## gpu tests'
  echo '```'; grep -hE '^\[  (PASSED|FAILED|SKIPPED) |^\[  FAILED  \] [A-Za-z]|tests? ran' "$res"/gpu_*tests.log 2>/dev/null; echo '```'
  echo '## training benchmark against PyTorch eager on the same GPU (FP32, then TF32, then TF32 with timed engines)'
  echo '```'; show "$res/train_bench.log" "^m[12] batch +[0-9]+ micro"; show "$res/train_bench_tf32.log" "^m[12] batch +[0-9]+ micro"
  show "$res/train_bench_tf32_tuned.log" "^m[12] batch +[0-9]+ micro"; echo '```'
  echo '## engines chosen by timing'
  echo '```'; show "$res/train_bench_tf32_tuned.log" "cuDNN timed" | sort | uniq -c | sort -rn | head -n 20; echo '```'
  echo '## simulator benchmark (1e6 trajectories x 1000 steps)'
  echo '```'; show "$res/sim_bench.log" 'traj/s'; echo '```'
  echo '## large-batch slice'
  echo '```'; cat "$res"/sweep_*.log 2>/dev/null | grep -E '^==|^sweep: |B_crit|error'; echo '```'
  echo '## PyTorch loop fed by sptrain.torch.Batches, the peer and andi-datasets'
  cat "$res/torch_batches.md" 2>/dev/null || echo '(not run)'
} >"$res/summary.md"
cat "$res/summary.md"
