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

echo "== wsss-miou benchmark: $N mask pairs of $SIZE ($(nproc) cores)"
t0=$(date +%s.%N)
wsss-data synth "$W/gt" --count "$N" --size "$SIZE" --seed 0 --masks-only -q
wsss-data synth "$W/pred" --count "$N" --size "$SIZE" --seed 1 --masks-only -q
wsss-data join "$W/gt/manifest.jsonl" "$W/pred/manifest.jsonl" --take mask:pred -o "$W/pairs.jsonl" -q
t1=$(date +%s.%N)
printf 'generated the data in %.1fs (%s MB of PNGs)\n' "$(calc "$t1 - $t0")" \
  "$(du -sm "$W/gt/masks" "$W/pred/masks" | awk '{s += $1} END {print s}')"

# Best of REPEAT wall-clock runs, in seconds (the first run also warms the page cache).
best_of() {
  local best="" s e d
  for _ in $(seq "$REPEAT"); do
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    e=$(date +%s.%N)
    d=$(calc "$e - $s")
    if [ -z "$best" ] || [ "$(calc "$d < $best")" = 1 ]; then best=$d; fi
  done
  echo "$best"
}

"$BIN/wsss-data" check --decode "$W/pairs.jsonl" -j1 -q >/dev/null 2>&1 \
  || { echo "wsss-data check --decode failed"; exit 1; }
dec1=$(best_of wsss-data check --decode "$W/pairs.jsonl" -j1 -q)
dec2=$(best_of wsss-data check --decode "$W/pairs.jsonl" -j2 -q)
miou1=$(best_of wsss-miou "$W/pairs.jsonl" -j1 -q)
miou2=$(best_of wsss-miou "$W/pairs.jsonl" -j2 -q)
wsss-miou "$W/pairs.jsonl" -j2 -q | tail -n 1

px=$(echo "$SIZE" | awk -Fx '{print $1 * $2}')
report() { printf '%-34s %8.3fs  %7.1f pairs/s  %6.1f Mpx/s\n' "$1" "$2" "$(calc "$N / $2")" \
  "$(calc "2 * $N * $px / $2 / 1000000")"; }
report "decode only (check --decode -j1)" "$dec1"
report "decode only (check --decode -j2)" "$dec2"
report "wsss-miou -j1" "$miou1"
report "wsss-miou -j2" "$miou2"
printf 'wsss-miou / decode: %.2f at -j1, %.2f at -j2 (target <= 1.5)\n' \
  "$(calc "$miou1 / $dec1")" "$(calc "$miou2 / $dec2")"
printf 'wsss-miou -j2 speed-up: %.2fx (linear = 2)\n' "$(calc "$miou1 / $miou2")"
