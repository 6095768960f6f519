#!/usr/bin/env bash
# wsss-cam throughput with ResNet-50 (full width, random weights: the cost does
# not depend on the values) on synthetic 500x375 images at the default scales
# (1.0, 0.5, 1.5, 2.0, each with its flip), against the forward passes alone on
# inputs of the same sizes (wsss_bench_cam: no decoding, resizing or writing).
# Prints images/s, the ratio stage/forward in wall and in CPU time (target: at
# most 1.15) and the peak RSS for N1 and N2 images (it should not grow with the
# number of images). CPU time (user + sys) is the steadier figure on a busy
# machine. Timings are reported, never asserted.
#   N1=10 N2=40 SIZE=500x375 J=2 INTRA_OP=1 WSSS_BIN=build/bin bench/cam.sh
set -euo pipefail
BIN=${WSSS_BIN:-build/bin}
N1=${N1:-10}
N2=${N2:-40}
SIZE=${SIZE:-500x375}
J=${J:-2}
INTRA_OP=${INTRA_OP:-1}
ARCH=${ARCH:-resnet50}
export PATH="$(cd "$BIN" && pwd):$PATH"
command -v wsss_bench_cam >/dev/null || { echo "wsss_bench_cam not built (needs LibTorch)"; exit 1; }
calc() { awk "BEGIN { print $1 }"; }
W=$(mktemp -d "${TMPDIR:-/tmp}/wsss-bench-cam.XXXXXX")
trap 'rm -rf "$W"' EXIT

echo "== wsss-cam benchmark: $ARCH, $SIZE, scales 1.0,0.5,1.5,2.0 + flip, -j$J ($(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg))"
wsss-data synth "$W/data" --count "$N2" --size "$SIZE" --seed 0 -q
head -n "$N1" "$W/data/manifest.jsonl" > "$W/data/first.jsonl"
wsss_bench_cam save-model "$W/data/classes.json" "$W/model.safetensors" "$ARCH" 2>/dev/null

# "wall_seconds cpu_seconds peak_rss_mb" of a command; its stdout is left in
# $W/stdout. Without /usr/bin/time: wall time only.
measure() {
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%e %U %S %M' -o "$W/time" "$@" >"$W/stdout" 2>"$W/stderr" || { cat "$W/stderr"; return 1; }
    awk '{ printf "%s %.2f %.0f\n", $1, $2 + $3, $4 / 1024 }' "$W/time"
  else
    local t0 t1
    t0=$(date +%s.%N); "$@" >"$W/stdout" 2>"$W/stderr" || { cat "$W/stderr"; return 1; }; t1=$(date +%s.%N)
    echo "$(calc "$t1 - $t0") n/a n/a"
  fi
}
# The forward loop's own wall time, as wsss_bench_cam prints it.
loop_seconds() { sed -E 's/.*: ([0-9.]+)s, .*/\1/' "$W/stdout"; }

report() { printf '%-40s %8.2fs wall %8ss cpu %7.3f images/s  peak RSS %6s MB\n' "$1" "$2" "$3" "$(calc "$4 / $2")" "$5"; }
for n in "$N1" "$N2"; do
  manifest="$W/data/manifest.jsonl"
  [ "$n" = "$N2" ] || manifest="$W/data/first.jsonl"
  read -r stage_s stage_cpu stage_rss <<<"$(measure wsss-cam -j "$J" --model "$W/model.safetensors" "$manifest" "$W/cam$n")"
  # Both are whole processes (LibTorch start-up and model loading included).
  read -r fwd_s fwd_cpu fwd_rss <<<"$(measure wsss_bench_cam forward "$W/model.safetensors" "$SIZE" "$n" "$J" workers)"
  [ "$fwd_rss" != n/a ] || fwd_s=$(loop_seconds)
  report "wsss-cam -j$J, $n images" "$stage_s" "$stage_cpu" "$n" "$stage_rss"
  report "forward passes only, $n images" "$fwd_s" "$fwd_cpu" "$n" "$fwd_rss"
  if [ "$fwd_cpu" = n/a ]; then
    printf 'wsss-cam / forward: %.3f in wall time (target <= 1.15)\n' "$(calc "$stage_s / $fwd_s")"
  else
    printf 'wsss-cam / forward: %.3f in wall time, %.3f in cpu time (target <= 1.15)\n' \
      "$(calc "$stage_s / $fwd_s")" "$(calc "$stage_cpu / $fwd_cpu")"
  fi
done
if [ "$INTRA_OP" = 1 ]; then
  # How the cores are best used: one single-threaded network per worker (what
  # wsss-cam does) or one image at a time on $J LibTorch threads.
  read -r s cpu rss <<<"$(measure wsss_bench_cam forward "$W/model.safetensors" "$SIZE" "$N1" "$J" intra-op)"
  [ "$rss" != n/a ] || s=$(loop_seconds)
  report "forward, 1 image at a time on $J threads" "$s" "$cpu" "$N1" "$rss"
fi
echo "load average now: $(cut -d' ' -f1 /proc/loadavg)"
