#!/usr/bin/env bash
# CPU training throughput against the PyTorch peer, side by side on this machine with the same
# thread count: full training steps (generate, forward, backward, Adam) in samples/s.
#   bench/run_train_bench.sh [BUILD_DIR] [THREADS] [RESULTS_JSON]
# Model 1 on task 3.2 at batch 1000 and Model 2 on task 3.4.3 at batch 256. Installs Debian's
# python3-torch if no python3 has torch. sptrain's figure is the best epoch's samples/s from
# metrics.jsonl (validation excluded), PyTorch's the mean over its timed steps after warm-up.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
threads=${2:-$(nproc)}
out=${3:-}
# The peers live in shared/peers beside the repository (or inside it on a GPU machine's copy).
peer=""
for d in ${SPTRAIN_PEERS:-} "$root/../shared/peers" "$root/shared/peers"; do
  if [ -f "$d/torch_peer.py" ]; then peer="$d/torch_peer.py"; break; fi
done
[ -n "$peer" ] || { echo "torch_peer.py not found (set SPTRAIN_PEERS to the peers folder)" >&2; exit 1; }
py=""
for cand in python3 /usr/bin/python3; do
  if "$cand" -c 'import torch' 2>/dev/null; then py=$cand; break; fi
done
if [ -z "$py" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
  py=/usr/bin/python3
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=$threads
best() { "$py" -c "import json,sys; print(max(json.loads(l)['samples_per_s'] for l in open(sys.argv[1])))" "$1/metrics.jsonl"; }
"$build/bin/sptrain" train --config "$root/bench/configs/train_m1.toml" --run-dir "$work/m1" --device cpu --quiet >/dev/null
m1=$(best "$work/m1")
"$build/bin/sptrain" train --config "$root/bench/configs/train_m2.toml" --run-dir "$work/m2" --device cpu --quiet >/dev/null
m2=$(best "$work/m2")
t1=$("$py" "$peer" --model m1 --task sigma --batch 1000 --steps 80 --warmup 5 --threads "$threads" --val 1000)
t2=$("$py" "$peer" --model m2 --task hasswitch --batch 256 --steps 4 --warmup 1 --threads "$threads" --val 256)
"$py" - "$out" "$m1" "$m2" "$t1" "$t2" "$threads" <<'PY'
import json, sys, datetime, platform
out, m1, m2, t1, t2, threads = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4]), json.loads(sys.argv[5]), int(sys.argv[6])
rows = [dict(model="model1", task="3.2", batch=1000, sptrain=m1, pytorch=t1["samples_per_s"], ratio=m1 / t1["samples_per_s"]),
        dict(model="model2", task="3.4.3", batch=256, sptrain=m2, pytorch=t2["samples_per_s"], ratio=m2 / t2["samples_per_s"])]
for r in rows:
    print(f"{r['model']} batch {r['batch']:5d}: sptrain {r['sptrain']:10.0f} samples/s  pytorch {r['pytorch']:10.0f} samples/s  = {r['ratio']:.2f}x")
if out:
    json.dump(dict(date=datetime.date.today().isoformat(), machine=platform.machine(), threads=threads, torch=t1["torch"],
                   rows=rows, pytorch_raw=[t1, t2]), open(out, "w"), indent=2)
PY
