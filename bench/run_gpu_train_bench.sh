#!/usr/bin/env bash
# GPU training throughput against the PyTorch peer on the same GPU: full training steps (generate,
# forward, backward, Adam) in samples/s, Model 1 on task 3.2 at batch 1000 and 10^5, Model 2 on
# task 3.4.3 at batch 256, 4096 and 16384 (micro-batches of 4096), and the device memory of
# Model 1 at batch 10^6 through micro-batches of 10^5.
#   bench/run_gpu_train_bench.sh BUILD_DIR RESULTS_JSON [PRECISION]
# sptrain's figure is the best epoch's samples/s from metrics.jsonl (validation excluded);
# PyTorch's (eager, its defaults: cuDNN convolutions may use TF32, GEMMs FP32) is the mean over its
# timed steps after warm-up. A peer run that fails (e.g. out of memory) is recorded as
# null. SPTRAIN_BENCH_NO_PEER=1 skips the peer (the TF32 pass of gpu_check.sh).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: bench/run_gpu_train_bench.sh BUILD_DIR RESULTS_JSON [PRECISION]}
out=${2:?usage: bench/run_gpu_train_bench.sh BUILD_DIR RESULTS_JSON [PRECISION]}
precision=${3:-fp32}
peer=""
for d in ${SPTRAIN_PEERS:-} "$root/../shared/peers" "$root/shared/peers"; do
  if [ -f "$d/torch_peer.py" ]; then peer="$d/torch_peer.py"; break; fi
done
py=python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rows="$work/rows.jsonl"
: >"$rows"

# one MODEL BATCH MICRO STEPS EPOCHS PEER_STEPS
one() {
  local model=$1 B=$2 MB=$3 steps=$4 epochs=$5 psteps=$6 cfg task
  if [ "$model" = m1 ]; then cfg=$root/bench/configs/train_m1.toml; task=sigma; else cfg=$root/bench/configs/train_m2.toml; task=hasswitch; fi
  local run=$work/${model}_$B
  "$build/bin/sptrain" train --config "$cfg" --run-dir "$run" --device cuda --precision "$precision" --quiet \
    --set train.batch=$B --set train.micro_batch=$MB --set train.steps_per_epoch=$steps --set train.epochs=$epochs \
    --set data.val_size=$MB --set data.test_size=$MB >"$run.log" 2>&1
  local rc=$?
  local sp="null" mem="null"
  if [ $rc -eq 0 ]; then
    sp=$($py -c "import json,sys; print(max(json.loads(l)['samples_per_s'] for l in open(sys.argv[1])))" "$run/metrics.jsonl")
    mem=$($py -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(max(x.get('device_memory_used_bytes',0) for x in r))" "$run/metrics.jsonl")
  else
    tail -n 5 "$run.log" >&2
  fi
  local pt="null"
  if [ -n "$peer" ] && [ "$psteps" -gt 0 ] && [ -z "${SPTRAIN_BENCH_NO_PEER:-}" ]; then
    pt=$(timeout 120 $py "$peer" --model "$model" --task "$task" --batch "$B" --steps "$psteps" --warmup 3 --device cuda --val 256 2>"$work/peer_${model}_$B.err" | tail -n 1)
    [ -n "$pt" ] || pt="null"
    [ "$pt" = null ] && tail -n 3 "$work/peer_${model}_$B.err" >&2
  fi
  echo "{\"model\": \"$model\", \"batch\": $B, \"micro_batch\": $MB, \"sptrain_rc\": $rc, \"sptrain\": $sp, \"device_memory_used_bytes\": $mem, \"peer\": $pt}" >>"$rows"
  echo "$model batch $B (micro $MB): sptrain rc=$rc ${sp} samples/s; pytorch $pt"
}

one m1 1000 1000 200 3 100
one m1 100000 100000 20 3 20
one m2 256 256 50 3 30
one m2 4096 4096 10 3 10
one m2 16384 4096 2 2 3
one m1 1000000 100000 2 2 0

$py - "$rows" "$out" "$precision" <<'PY'
import json, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    p = r["peer"]["samples_per_s"] if isinstance(r["peer"], dict) else None
    r["pytorch"] = p
    r["ratio"] = r["sptrain"] / p if (p and r["sptrain"]) else None
    mem = r["device_memory_used_bytes"]
    print(f"{r['model']} batch {r['batch']:8d} micro {r['micro_batch']:6d}: sptrain {r['sptrain'] or 0:12.0f}/s  "
          f"pytorch {p or 0:12.0f}/s  ratio {r['ratio'] or 0:6.2f}x  device memory {((mem or 0) / 2**30):6.2f} GiB")
json.dump(dict(date=datetime.date.today().isoformat(), precision=sys.argv[3], rows=rows), open(sys.argv[2], "w"), indent=2)
PY
