#!/usr/bin/env bash
# Per-step accuracy of this model beside the HMM that knows the true parameters, on held-out
# simulations (seed 7, disjoint from training) of the fixed-parameter points in points/ (each inside
# the training prior), at the lengths listed below. The model runs through `sptrain predict` (each
# track at its own length) with argmax decoding and with the default chain decoding; the HMM is
# `sptrain eval --baselines-only` on the same trajectories (per-step posterior states, noise folded
# into the state variances). About 400,000 steps per row.
# Usage: check_points.sh SPTRAIN_BINARY [OUT_DIR]
set -euo pipefail
bin=$1
out=${2:-$(mktemp -d)}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
printf '| point | positions | tracks | steps | model, argmax | model, chain decoding | HMM, known parameters | gap (HMM - model argmax) |\n|---|---|---|---|---|---|---|---|\n'
for row in ratio20:20 ratio20:50 ratio20:200 ratio20:1000 ratio5:200 ratio10-noisy:200 ratio20-noisy-short:50 \
           ratio5-clean-long:500; do
  point=${row%%:*}
  L=${row##*:}
  spec=$here/points/$point.toml
  n=$(( 400000 / L ))
  tag=$point-$L
  "$bin" simulate --spec "$spec" --n $n --seed 7 --set length=$L --out "$out/sim-$tag.csv" --force >/dev/null 2>&1
  for dec in argmax auto; do
    "$bin" predict --run "$here" --input "$out/sim-$tag.csv" --out-dir "$out/pred-$tag-$dec" --decode $dec --force \
      --no-plots >/dev/null 2>&1
  done
  "$bin" eval --baselines-only --spec "$spec" --set length=$L --n $n --seed 7 --out-dir "$out/hmm-$tag" --force \
    --no-plots >/dev/null 2>&1
  python3 - "$out" "$tag" "$point" $L $n <<'PY'
import csv, json, sys
out, tag, point, L, n = sys.argv[1:]
truth = {}
with open(f"{out}/sim-{tag}.csv") as f:
    for r in csv.DictReader(f):
        if r["state"] != "":
            truth[(r["particle"], r["frame"])] = r["state"]
acc = {}
for dec in ("argmax", "auto"):
    right = total = 0
    with open(f"{out}/pred-{tag}-{dec}/steps.csv") as f:
        for r in csv.DictReader(f):
            right += truth[(r["track"], r["frame"])] == r["state"]
            total += 1
    acc[dec] = 100 * right / total
hmm = 100 * json.load(open(f"{out}/hmm-{tag}/eval.json"))["methods"]["hmm_count_map"]["metrics"]["per_step_state_accuracy"]
print(f"| {point} | {L} | {n} | {total} | {acc['argmax']:.2f} % | {acc['auto']:.2f} % | {hmm:.2f} % | {hmm - acc['argmax']:.2f} |")
PY
done
