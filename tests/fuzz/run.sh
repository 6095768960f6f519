#!/usr/bin/env bash
# Runs one libFuzzer target for a while (docs/robustness.md, "Fuzzing").
#   run.sh FUZZ_BINARY SECONDS WORK_DIR
# The target's seed corpus (tests/fuzz/corpus/<name>/) and its regression
# inputs (tests/fuzz/regressions/<name>/: every crash found so far, replayed
# first) are read in place; new inputs go to WORK_DIR/corpus, a crash to
# WORK_DIR/crash-*. Prints the executions, the corpus size and coverage, and
# fails on a crash, a leak, a sanitizer report or a timeout. Exits 77 when the
# binary is missing (the sanitizer tree was not built: no clang).
set -euo pipefail
bin=${1:?usage: run.sh FUZZ_BINARY SECONDS WORK_DIR}
seconds=${2:?usage: run.sh FUZZ_BINARY SECONDS WORK_DIR}
work=${3:?usage: run.sh FUZZ_BINARY SECONDS WORK_DIR}
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$bin")
name=${name#fuzz_}
[ -x "$bin" ] || { echo "SKIP: $bin not built (tests/fuzz/build.sh needs clang)"; exit 77; }
seeds=$here/corpus/$name
regressions=$here/regressions/$name
[ -d "$seeds" ] || { echo "FAIL: no seed corpus $seeds"; exit 1; }
rm -rf "$work"
mkdir -p "$work/corpus"
dirs=("$work/corpus" "$seeds")
[ -d "$regressions" ] && dirs+=("$regressions")

# Every regression input once, on its own, so a failure names it.
if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
  if ! "$bin" -runs=0 "$regressions"/* >"$work/regressions.log" 2>&1; then
    tail -n 40 "$work/regressions.log"
    echo "FAIL: $name: a regression input fails again"; exit 1
  fi
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
set +e
"$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$work/" "${dirs[@]}" >"$work/fuzz.log" 2>&1
rc=$?
set -e
runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$work/fuzz.log" | tail -n 1 | grep -Eo '[0-9]+$' || echo 0)
cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$work/fuzz.log" | tail -n 1 || true)
if [ $rc -ne 0 ] || ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* >/dev/null 2>&1; then
  grep -v '^#' "$work/fuzz.log" | tail -n 60
  echo "FAIL: $name: libFuzzer exited $rc after $runs executions; input: $(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | head -n 1)"
  exit 1
fi
echo "fuzz $name: $runs executions in ${seconds}s, no crash ($cov; new inputs: $(ls "$work/corpus" | wc -l))"
