#!/usr/bin/env bash
# Simulator benchmark against the numpy peer, side by side on this machine.
#   bench/run_sim_bench.sh [BUILD_DIR] [N] [RESULTS_JSON]
# Runs build/bin/bench_simulate (CPU with all threads, and the GPU when one answers) and
# ../shared/peers/numpy_peer.py on the same work (N switching trajectories of 1000 steps, states
# sigma 1 and 10, Poisson rate 0.01 per step), prints the ratio and writes one JSON summary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
n=${2:-1000000}
out=${3:-}
# The peers live in shared/peers beside the repository (or inside it on a GPU machine's copy).
peer=""
for d in ${SPTRAIN_PEERS:-} "$root/../shared/peers" "$root/shared/peers"; do
  if [ -f "$d/numpy_peer.py" ]; then peer="$d/numpy_peer.py"; break; fi
done
[ -n "$peer" ] || { echo "numpy_peer.py not found (set SPTRAIN_PEERS to the peers folder)" >&2; exit 1; }
py=""
for cand in python3 /usr/bin/python3; do
  if "$cand" -c 'import numpy' 2>/dev/null; then py=$cand; break; fi
done
[ -n "$py" ] || { echo "no python3 with numpy (install python3-numpy)" >&2; exit 1; }

ours=$("$build/bin/bench_simulate" --n "$n" --steps 1000 --chunk 100000 --repeat 3 --device all)
echo "$ours"
# The peer's chunk and n: numpy needs ~40 bytes per step per chunk row, keep the chunk at 10^4.
peer_n=$(( n < 200000 ? n : 200000 ))
theirs=$("$py" "$peer" --n "$peer_n" --steps 1000 --states 1,10 --rate 0.01 --repeat 2)
echo "$theirs"
"$py" - "$out" <<PY
import json, sys, platform, datetime, os
ours = [json.loads(l) for l in """$ours""".strip().splitlines()]
peer = json.loads("""$theirs""")
rows = []
for o in ours:
    if "trajectories_per_s" not in o: continue
    rows.append(dict(device=o["device"], trajectories_per_s=o["trajectories_per_s"],
                     positions_gb_per_s=o["positions_gb_per_s"], all_outputs_gb_per_s=o["all_outputs_gb_per_s"],
                     ratio_vs_numpy=o["trajectories_per_s"] / peer["trajectories_per_s"],
                     fraction_of_copy=o.get("fraction_of_copy")))
    print(f"{o['device']:5s} {o['trajectories_per_s']:12.0f} traj/s  {o['positions_gb_per_s']:7.3f} GB/s positions"
          f"  {o['all_outputs_gb_per_s']:7.3f} GB/s all outputs  = {rows[-1]['ratio_vs_numpy']:.1f}x numpy"
          + (f", {100*o['fraction_of_copy']:.0f} % of D2D copy" if o.get('fraction_of_copy') else ""))
print(f"numpy {peer['trajectories_per_s']:12.0f} traj/s  {peer['gb_per_s']:7.3f} GB/s positions  (numpy {peer['numpy']})")
summary = dict(date=datetime.date.today().isoformat(), machine=platform.machine(), cpu=platform.processor() or "",
               cores=os.cpu_count(), work=dict(steps=1000, states=[1, 10], rate=0.01), sptrain=ours, numpy_peer=peer,
               rows=rows)
if sys.argv[1]:
    with open(sys.argv[1], "w") as f: json.dump(summary, f, indent=2)
PY
