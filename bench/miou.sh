#!/usr/bin/env bash
# wsss-miou throughput on 2,000 synthetic 500x375 GT/prediction mask pairs,
# against the cost of just decoding the same PNGs (wsss-data check --decode).
# Prints the measured times, wsss-miou/decode and the -j2 speed-up. Timings
# are reported, never asserted.
#   N=2000 SIZE=500x375 REPEAT=3 WSSS_BIN=build/bin bench/miou.sh
set -euo pipefail
BIN=${WSSS_BIN:-build/bin}
N=${N:-2000}
SIZE=${SIZE:-500x375}
REPEAT=${REPEAT:-3}
export PATH="$(cd "$BIN" && pwd):$PATH"
calc() { awk "BEGIN { print $1 }"; }
W=$(mktemp -d "${TMPDIR:-/tmp}/wsss-bench-miou.XXXXXX")
trap 'rm -rf "$W"' EXIT

echo "== wsss-miou benchmark: $N mask pairs of $SIZE ($(nproc) cores, load average $(cut -d" " -f1 /proc/loadavg))"
t0=$(date +%s.%N)
wsss-data synth "$W/gt" --count "$N" --size "$SIZE" --seed 0 --masks-only -q
wsss-data synth "$W/pred" --count "$N" --size "$SIZE" --seed 1 --masks-only -q
wsss-data join "$W/gt/manifest.jsonl" "$W/pred/manifest.jsonl" --take mask:pred -o "$W/pairs.jsonl" -q
t1=$(date +%s.%N)
printf 'generated the data in %.1fs (%s MB of PNGs)\n' "$(calc "$t1 - $t0")" \
  "$(du -sm "$W/gt/masks" "$W/pred/masks" | awk '{s += $1} END {print s}')"

# Best of REPEAT runs: "wall cpu" seconds of the run with the lowest wall time
# (the first run also warms the page cache). CPU time (user + sys) is reported
# too because it is less disturbed by other load on the machine.
best_of() {
  local best="" cpu="" line
  for _ in $(seq "$REPEAT"); do
    line=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>&1; } 2>&1 )
    local r u s
    read -r r u s <<<"$line"
    if [ -z "$best" ] || [ "$(calc "$r < $best")" = 1 ]; then best=$r; cpu=$(calc "$u + $s"); fi
  done
  echo "$best $cpu"
}

"$BIN/wsss-data" check --decode --allow-no-image "$W/pairs.jsonl" -j1 -q >/dev/null 2>&1 \
  || { echo "wsss-data check --decode failed"; exit 1; }
read -r dec1 dec1cpu <<<"$(best_of wsss-data check --decode --allow-no-image "$W/pairs.jsonl" -j1 -q)"
read -r dec2 dec2cpu <<<"$(best_of wsss-data check --decode --allow-no-image "$W/pairs.jsonl" -j2 -q)"
read -r miou1 miou1cpu <<<"$(best_of wsss-miou "$W/pairs.jsonl" -j1 -q)"
read -r miou2 miou2cpu <<<"$(best_of wsss-miou "$W/pairs.jsonl" -j2 -q)"
wsss-miou "$W/pairs.jsonl" -j2 -q | tail -n 1

px=$(echo "$SIZE" | awk -Fx '{print $1 * $2}')
report() { printf '%-34s %7.3fs wall %7.3fs cpu  %7.1f pairs/s  %6.1f Mpx/s\n' "$1" "$2" "$3" \
  "$(calc "$N / $2")" "$(calc "2 * $N * $px / $2 / 1000000")"; }
report "decode only (check --decode -j1)" "$dec1" "$dec1cpu"
report "decode only (check --decode -j2)" "$dec2" "$dec2cpu"
report "wsss-miou -j1" "$miou1" "$miou1cpu"
report "wsss-miou -j2" "$miou2" "$miou2cpu"
printf 'wsss-miou / decode: %.2f at -j1, %.2f at -j2 (target <= 1.5)\n' \
  "$(calc "$miou1 / $dec1")" "$(calc "$miou2 / $dec2")"
printf 'wsss-miou / decode in cpu time: %.2f at -j1\n' "$(calc "$miou1cpu / $dec1cpu")"
printf 'wsss-miou -j2 speed-up: %.2fx (linear = 2; load average now: %s)\n' "$(calc "$miou1 / $miou2")" \
  "$(cut -d' ' -f1 /proc/loadavg)"
