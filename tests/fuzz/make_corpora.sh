#!/usr/bin/env bash
# Seed corpora for the fuzz targets, made from sptrain's own outputs (nothing is committed):
#   tests/fuzz/make_corpora.sh SPTRAIN_BINARY OUT_DIR
# writes OUT_DIR/<target>/ for each target of tests/fuzz/CMakeLists.txt:
#   fuzz_spec            experiments' specs and the spec.toml a run directory holds
#   fuzz_train_config    experiments/train-*.toml and a run directory's config.toml
#   fuzz_trajectory_csv  `sptrain simulate --out x.csv` (2D and 1D, every label kind)
#   fuzz_npy             `sptrain simulate --out x.npy` positions (float32) and labels members
#   fuzz_npz             the <stem>.labels.npz beside them
#   fuzz_checkpoint      last/best.safetensors of a tiny `sptrain train` run
# Outputs are kept small (few, short trajectories; a small model) so that each execution is fast.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=$1
out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in fuzz_spec fuzz_train_config fuzz_trajectory_csv fuzz_npy fuzz_npz fuzz_checkpoint; do
  rm -rf "${out:?}/$t"
  mkdir -p "$out/$t"
done
exp=$root/experiments
# Runs the CLI with its messages kept out of the way, shown only if it fails.
run() { "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }; }

for f in "$exp"/*.toml; do
  case $(basename "$f") in
    train-*) cp "$f" "$out/fuzz_train_config/" ;;
    *) cp "$f" "$out/fuzz_spec/" ;;
  esac
done

# Trajectories: a few short ones per label kind, 2D and 1D, as CSV and as NPY + labels NPZ.
i=0
for spec in report-3.2-text.toml report-3.4.1-text.toml markov-3state-noise.toml; do
  for dims in 2 1; do
    i=$((i + 1))
    sets=(--set "length=24" --set "dims=$dims")
    run "$cli" simulate --spec "$exp/$spec" "${sets[@]}" --n 3 --seed "$i" --out "$work/t$i.csv"
    run "$cli" simulate --spec "$exp/$spec" "${sets[@]}" --n 3 --seed "$i" --out "$work/t$i.npy"
    cp "$work/t$i.csv" "$out/fuzz_trajectory_csv/"
    cp "$work/t$i.npy" "$out/fuzz_npy/"
    cp "$work/t$i.labels.npz" "$out/fuzz_npz/"
  done
done
# The NPZ members themselves are NPY images of every dtype the writer uses.
python3 - "$work" "$out/fuzz_npy" <<'PY'
import glob, os, sys, zipfile
work, dst = sys.argv[1], sys.argv[2]
for z in sorted(glob.glob(os.path.join(work, "t1.labels.npz")) + glob.glob(os.path.join(work, "t5.labels.npz"))):
    with zipfile.ZipFile(z) as f:
        for m in f.namelist():
            stem = os.path.basename(z).split(".")[0]
            with open(os.path.join(dst, f"{stem}-{m}"), "wb") as o:
                o.write(f.read(m))
PY

# A tiny training run: its resolved config and spec, and its checkpoints.
run "$cli" train --config "$exp/train-3.1.toml" --run-dir "$work/run" --device cpu --quiet \
  --set data.train_size=64 --set data.val_size=32 --set data.test_size=32 --set train.batch=32 \
  --set train.epochs=1 --set 'data.set=["length=40"]'
cp "$work/run/config.toml" "$out/fuzz_train_config/run-config.toml"
cp "$work/run/spec.toml" "$out/fuzz_spec/run-spec.toml"
for c in "$work"/run/*.safetensors; do cp "$c" "$out/fuzz_checkpoint/"; done
for t in "$out"/*/; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds, $(du -sk "$t" | cut -f1) KiB"; done
