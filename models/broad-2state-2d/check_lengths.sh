#!/usr/bin/env bash
# Per-step accuracy of this model at track lengths other than its training length (200), beside
# the HMM with the known parameters, on held-out simulations of experiments/broad-2state-2d.toml
# (seed 7, disjoint from training). Usage: check_lengths.sh SPTRAIN_BINARY [OUT_DIR]
set -euo pipefail
bin=$1
out=${2:-$(mktemp -d)}
here=$(cd "$(dirname "$0")" && pwd)
spec=$here/spec.toml
mkdir -p "$out"
printf '| positions | tracks | steps | model (predict, chain decoding) | HMM, known parameters (posterior) |\n|---|---|---|---|---|\n'
for L in 20 50 200 1000; do
  n=$(( 200000 / L ))
  "$bin" simulate --spec "$spec" --n $n --seed 7 --set length=$L --out "$out/sim$L.csv" --force >/dev/null 2>&1
  "$bin" predict --run "$here" --input "$out/sim$L.csv" --out-dir "$out/pred$L" --force --no-plots >/dev/null 2>&1
  "$bin" eval --baselines-only --spec "$spec" --set length=$L --n $n --seed 7 --out-dir "$out/hmm$L" --force --no-plots >/dev/null 2>&1
  python3 - "$out" $L $n <<'PY'
import csv, json, sys
out, L, n = sys.argv[1], sys.argv[2], sys.argv[3]
truth = {}
with open(f"{out}/sim{L}.csv") as f:
    for r in csv.DictReader(f):
        if r["state"] != "":
            truth[(r["particle"], r["frame"])] = r["state"]
right = total = 0
with open(f"{out}/pred{L}/steps.csv") as f:
    for r in csv.DictReader(f):
        right += truth[(r["track"], r["frame"])] == r["state"]
        total += 1
hmm = json.load(open(f"{out}/hmm{L}/eval.json"))["methods"]["hmm_count_map"]["metrics"]["per_step_state_accuracy"]
print(f"| {L} | {n} | {total} | {100 * right / total:.2f} % | {100 * hmm:.2f} % |")
PY
done
