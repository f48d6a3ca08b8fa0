#!/usr/bin/env bash
# Fuzzes sptrain's readers (tests/fuzz) with libFuzzer under ASan and UBSan, CPU only:
#   bench/fuzz.sh [RUNS [MAX_SECONDS]]        defaults: 1000000 executions, at most 1800 s per target
# Builds the targets and the CLI with clang into $SPTRAIN_SANITIZE_BUILD_DIR (build-fuzz; shared with
# scripts/sanitize.sh), makes seed corpora from the tool's own outputs (tests/fuzz/make_corpora.sh),
# runs each target for RUNS executions or MAX_SECONDS, whichever comes first, and prints per target
# the executions done and whether anything was found. Exit status 1 if anything was found.
# Results in $SPTRAIN_FUZZ_OUT (default bench/results/fuzz-<UTC date-time>):
#   seeds/<target>/    the seed corpora (made afresh on each call)
#   corpus/<target>/   the inputs libFuzzer kept for new coverage; a second call with the same
#                      SPTRAIN_FUZZ_OUT continues from them
#   <target>.log       libFuzzer's output (a finding's sanitizer report is at its end)
#   findings/<target>/ crash-*, leak-*, timeout-*, oom-* inputs; replay one with
#                      build-fuzz/bin/<target> FILE
#   summary.txt        the table printed at the end
# Inputs that once found something are kept in tests/fuzz/regressions/<target>/ and replayed first
# (with the seeds): a finding there fails the run at once.
# Environment: SPTRAIN_FUZZ_TARGETS (space-separated subset), SPTRAIN_FUZZ_TIMEOUT (seconds one input
# may take, 10), SPTRAIN_FUZZ_RSS_MB (memory limit, 2048), SPTRAIN_JOBS (build jobs), SPTRAIN_CXX
# (clang++, else clang++-14), SPTRAIN_FUZZ_KEEP_GOING=1 (go on after a finding, in libFuzzer's fork
# mode, to collect more than one; executions then are not counted).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-1000000}
max_time=${2:-1800}
build=${SPTRAIN_SANITIZE_BUILD_DIR:-$root/build-fuzz}
out=${SPTRAIN_FUZZ_OUT:-$root/bench/results/fuzz-$(date -u +%Y-%m-%dT%H%M%S)}
timeout=${SPTRAIN_FUZZ_TIMEOUT:-10}
rss=${SPTRAIN_FUZZ_RSS_MB:-2048}
targets=${SPTRAIN_FUZZ_TARGETS:-fuzz_spec fuzz_train_config fuzz_trajectory_csv fuzz_npy fuzz_npz fuzz_checkpoint
  fuzz_trackmate_csv fuzz_trackmate_xml fuzz_andi2020}

"$root/scripts/sanitize.sh" --configure-only
cmake --build "$build" -j "${SPTRAIN_JOBS:-$(nproc)}" --target sptrain_fuzz sptrain_cli

mkdir -p "$out"
"$root/tests/fuzz/make_corpora.sh" "$build/bin/sptrain" "$out/seeds"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
found=0
keep_going=()
if [ "${SPTRAIN_FUZZ_KEEP_GOING:-0}" = 1 ]; then
  keep_going=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
fi
printf '%-22s %12s %8s  %s\n' target executions seconds result | tee "$out/summary.txt"
for t in $targets; do
  mkdir -p "$out/findings/$t" "$out/corpus/$t"
  corpora=("$out/corpus/$t" "$out/seeds/$t")
  [ -d "$root/tests/fuzz/regressions/$t" ] && corpora+=("$root/tests/fuzz/regressions/$t")
  start=$(date +%s)
  touch "$out/findings/$t/.start"
  rc=0
  # The targets' scratch files (a crashed target leaves its own behind) go to a folder removed after.
  mkdir -p "$out/tmp"
  TMPDIR="$out/tmp" "$build/bin/$t" -runs="$runs" -max_total_time="$max_time" -timeout="$timeout" -rss_limit_mb="$rss" \
    -print_final_stats=1 -artifact_prefix="$out/findings/$t/" "${keep_going[@]}" \
    "${corpora[@]}" >"$out/$t.log" 2>&1 || rc=$?
  rm -rf "${out:?}/tmp"
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -n 1)
  [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$out/$t.log" | tail -n 1 | tr -d '#')
  new=$(find "$out/findings/$t" -type f ! -name .start -newer "$out/findings/$t/.start" -printf '%f ')
  n_found=$(echo "$new" | wc -w)
  if [ "$rc" -eq 0 ] && [ "$n_found" -eq 0 ]; then
    result="nothing found"
  else
    found=1
    what=$(grep -m1 -oE 'fuzz: contract violated: .*|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer): [^ ]+( [^ ]+)?|runtime error: .*|ALARM: .*' "$out/$t.log" | head -c 160 || true)
    result="FOUND (rc $rc): ${what:-see $t.log}; inputs: $new"
  fi
  printf '%-22s %12s %8s  %s\n' "$t" "${execs:-?}" "$secs" "$result" | tee -a "$out/summary.txt"
done
echo "results: $out"
exit "$found"
