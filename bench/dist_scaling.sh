#!/usr/bin/env bash
# Data-parallel step time on this machine's CPU: `mpirun -np 1` and `-np 2` of the same run
# (the same global batch), in exact and allreduce mode (docs/distributed.md#scaling).
#   bench/dist_scaling.sh [BUILD_DIR] [RESULTS_MD] [THREADS_PER_RANK]
# Two models: the report's Model 2 on task 3.4.3 (189762 trainable parameters, a 0.76 MB gradient
# slab, BatchNorm) at batch 64 in micro-batches of 16 (also with dist.batchnorm = "sync", under
# which exact mode runs the ranks at once instead of one after the other), and the one-layer estimator of
# experiments/train-3.2-better.toml (100 parameters: latency only) at batch 1000 in micro-batches
# of 250. The figure is the second epoch's seconds per step from metrics.jsonl (validation
# excluded; the first epoch pays start-up), the best and the median of DIST_SCALING_REPEATS runs
# (default 3: other processes sharing the cores only ever slow a run down); each rank gets
# THREADS_PER_RANK threads (default 1, so that 2 ranks use 2 cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
out=${2:-}
threads=${3:-1}
repeats=${DIST_SCALING_REPEATS:-3}
sptrain=$build/bin/sptrain
[ -x "$sptrain" ] || { echo "no $sptrain (build first: scripts/build.sh)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "mpirun not found (apt-get install openmpi-bin)" >&2; exit 1; }
cores=$(nproc --all)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
mpi="mpirun --oversubscribe --allow-run-as-root"

# name config steps_per_epoch overrides...
models=(
  "model2 experiments/train-3.4.3-report.toml 10 train.batch=64 train.micro_batch=16 data.val_size=64 data.test_size=64"
  "model2-syncbn experiments/train-3.4.3-report.toml 10 train.batch=64 train.micro_batch=16 data.val_size=64 data.test_size=64 dist.batchnorm=sync"
  "dense100 experiments/train-3.2-better.toml 40 train.batch=1000 train.micro_batch=250 data.val_size=256 data.test_size=256"
)
rows="| model | trainable parameters | ranks | reduce | s / step (best) | s / step (median) | samples / s (best) |\n|---|---|---|---|---|---|---|\n"
for m in "${models[@]}"; do
  read -r name cfg spe sets <<<"$m"
  set_args=(--set "train.steps_per_epoch=$spe" --set train.epochs=2 --set early_stopping.patience=0)
  for kv in $sets; do set_args+=(--set "$kv"); done
  for ranks in 1 2; do
    for reduce in exact allreduce; do
      secs_all=()
      for rep in $(seq "$repeats"); do
        run=$work/$name-$ranks-$reduce-$rep
        $mpi -np "$ranks" "$sptrain" train --quiet --device cpu --config "$root/$cfg" --run-dir "$run" \
          "${set_args[@]}" --set "dist.reduce=$reduce" >"$run.log" 2>&1 || { cat "$run.log" >&2; exit 1; }
        secs_all+=("$(python3 - "$run" <<'EOF2'
import json, sys
run = sys.argv[1]
cfg = json.load(open(run + "/config.json"))
recs = [json.loads(l) for l in open(run + "/metrics.jsonl")]
print(recs[-1]["seconds"] / cfg["train"]["steps_per_epoch"])
EOF2
)")
      done
      read -r params batch <<<"$(python3 -c "import json; c = json.load(open('$run/config.json')); print(c['model']['trainable_params'], c['train']['batch'])")"
      read -r secs med sps <<<"$(python3 -c "import statistics as s, sys; v = sorted(map(float, sys.argv[2:])); print(f'{v[0]:.4f} {s.median(v):.4f} {float(sys.argv[1]) / v[0]:.0f}')" "$batch" "${secs_all[@]}")"
      line="| $name | $params | $ranks | $reduce | $secs | $med | $sps |"
      echo "$line"
      rows+="$line\n"
    done
  done
done
if [ -n "$out" ]; then
  {
    echo "# Data-parallel step time on the CPU ($(date -u +%Y-%m-%d))"
    echo
    echo "\`bench/dist_scaling.sh\` on $cores cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)),"
    echo "$threads thread(s) per rank, $(mpirun --version 2>/dev/null | head -1). Load average (1, 5, 15 min) at the start:"
    echo "$load0, at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share the cores)."
    echo
    printf "%b" "$rows"
  } >"$out"
  echo "written: $out"
fi
