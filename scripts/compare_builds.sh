#!/usr/bin/env bash
# Compares two builds of sptrain on the training presets: each trains every experiments/train-*.toml
# at a small size (2 epochs of 3 steps, micro-batch 50, small validation and test sets; optimizer
# and schedule variants added below), then evaluates the run. A refactor must leave every file a
# run writes byte-identical: checkpoints byte for byte, text files with the run's directory, times,
# throughput, dates and versions taken out (below); figures are not compared.
#   scripts/compare_builds.sh OLD_BIN/sptrain NEW_BIN/sptrain [WORK_DIR]
# Exit 0 when every run matches; 1 naming the first run and file that differ.
set -euo pipefail
old=${1:?old sptrain binary}; new=${2:?new sptrain binary}
work=${3:-$(mktemp -d)}
root=$(cd "$(dirname "$0")/.." && pwd)
small=(--set train.epochs=2 --set train.steps_per_epoch=3 --set train.batch=100 --set train.micro_batch=50
       --set data.val_size=200 --set data.test_size=300 --set early_stopping.patience=0)
variants=("" "train.optimizer=\"sgd\"" "train.optimizer=\"lamb\"" "train.optimizer=\"lars\"" "train.schedule=\"cosine\"")
fail=0
# Fields that legitimately differ between two invocations (wall times, throughput, dates, versions,
# absolute paths) are removed from JSON before comparing.
# Text files are compared with the run's own directory replaced by RUN; JSON with the fields that
# legitimately differ between two invocations (wall times, throughput, dates, versions) removed;
# CSV with the columns of such fields removed.
normalize() {
  python3 - "$1" "$2" <<'PY'
import csv, io, json, sys
path, run = sys.argv[1], sys.argv[2]
TIMING = ("time", "seconds", "per_s", "date", "version", "elapsed", "host")
def clean(v):
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items() if not any(t in k for t in TIMING)}
    if isinstance(v, list):
        return [clean(x) for x in v]
    return v
text = open(path, encoding="utf-8", errors="surrogateescape").read().replace(run, "RUN")
if path.endswith(".csv"):
    rows = list(csv.reader(io.StringIO(text)))
    keep = [i for i, h in enumerate(rows[0]) if not any(t in h for t in TIMING)] if rows else []
    for r in rows: print(",".join(r[i] for i in keep if i < len(r)))
elif path.endswith((".json", ".jsonl")):
    try:
        print(json.dumps(clean(json.loads(text)), sort_keys=True))
    except json.JSONDecodeError:  # JSON lines
        for line in text.splitlines():
            if line.strip(): print(json.dumps(clean(json.loads(line)), sort_keys=True))
else:
    sys.stdout.write(text)
PY
}
for cfg in "$root"/experiments/train-*.toml; do
  name=$(basename "$cfg" .toml)
  for v in "${variants[@]}"; do
    # Optimizer and schedule variants on the first preset only: they exercise the trainer, not the model.
    if [[ -n "$v" && "$name" != "train-3.2" ]]; then continue; fi
    tag=$name${v:+-$(echo "$v" | tr -dc 'a-z')}
    extra=(); [[ -n "$v" ]] && extra=(--set "$v")
    for which in old new; do
      bin=$old; [[ $which == new ]] && bin=$new
      d=$work/$which/$tag
      rm -rf "$d"; mkdir -p "$(dirname "$d")"
      if ! "$bin" train --config "$cfg" --run-dir "$d" "${small[@]}" "${extra[@]}" > "$d.train.log" 2>&1; then
        echo "$tag ($which): train failed:"; tail -3 "$d.train.log"; echo; continue
      fi
      "$bin" eval --run "$d" --out-dir "$d/eval" --n 300 --no-plots > "$d.eval.log" 2>&1 || { echo "$tag ($which): eval failed:"; tail -3 "$d.eval.log"; }
    done
    [[ -d $work/old/$tag && -d $work/new/$tag ]] || { echo "DIFF $tag: a run is missing"; fail=1; continue; }
    while IFS= read -r f; do
      a=$work/old/$tag/$f; b=$work/new/$tag/$f
      if [[ ! -f $b ]]; then echo "DIFF $tag: $f missing in the new run"; fail=1; continue; fi
      case "$f" in
        *.png|*.svg|*.lock|*.log) ;;
        *.safetensors|*.npy|*.npz) cmp -s "$a" "$b" || { echo "DIFF $tag: $f"; fail=1; } ;;
        *) cmp -s <(normalize "$a" "$work/old/$tag") <(normalize "$b" "$work/new/$tag") || { echo "DIFF $tag: $f"; fail=1; } ;;
      esac
    done < <(cd "$work/old/$tag" && find . -type f | sed 's|^\./||' | sort)
    echo "compared $tag"
  done
done
[[ $fail == 0 ]] && echo "all runs byte-identical (times, versions and paths aside)"
exit $fail
