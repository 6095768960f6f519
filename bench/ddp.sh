#!/usr/bin/env bash
# Data-parallel training on this machine: 2 ranks x 1 thread (`--nproc 2 -j1`,
# c10d ProcessGroupGloo over loopback) against 1 rank x 2 threads (`-j2`), the
# same global batch, for the CAM classifier (IRN's recipe: ResNet-50, frozen
# BatchNorm, stem..layer2 without gradients) and DeepLab-v2 (ResNet-101),
# random weights, synthetic 500x375 images. For each: the training loop's
# steps per second (its own summary: process start and model building left
# out), the seconds its ranks spent allreducing gradients (and the rate: bytes
# per step / seconds per step) and in the other collectives (rank 0's weights
# and buffers, the loss: mostly waiting for the slower rank), their shares of
# the loop, the gradient bytes per step, and the processes' CPU time. Timings
# are reported, never asserted; each run prints the load average before it.
#   CLS_CROP=512 CLS_BATCH=8 CLS_STEPS=3 SEG_CROP=321 SEG_BATCH=4 SEG_STEPS=3 WSSS_BIN=build/bin bench/ddp.sh
#   bench/ddp.sh cls   (or seg): one half
set -euo pipefail
BIN=${WSSS_BIN:-build/bin}
CLS_ARCH=${CLS_ARCH:-resnet50}
CLS_CROP=${CLS_CROP:-512}
CLS_BATCH=${CLS_BATCH:-8}
CLS_STEPS=${CLS_STEPS:-3}
SEG_ARCH=${SEG_ARCH:-resnet101}
SEG_CROP=${SEG_CROP:-321}
SEG_BATCH=${SEG_BATCH:-4}
SEG_STEPS=${SEG_STEPS:-3}
WIDTH=${WIDTH:-64}
SIZE=${SIZE:-500x375}
# Random weights under frozen BatchNorm blow up at the recipes' rates within a
# few steps; a tiny rate keeps the values finite and costs the same.
LR=${LR:-1e-9}
CLASSES=${CLASSES:-$(cd "$(dirname "$0")/.." && pwd)/data_manifests/voc12/classes.json}
which=${1:-all}
export PATH="$(cd "$BIN" && pwd):$PATH"
load() { cut -d' ' -f1-3 /proc/loadavg; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)"; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/wsss-bench-ddp.XXXXXX")
trap 'rm -rf "$W"' EXIT

echo "== data-parallel training: 2 ranks x 1 thread vs 1 rank x 2 threads ($(nproc) cores, load average $(load))"
count=$((CLS_BATCH * CLS_STEPS))
[ "$count" -ge 16 ] || count=16
wsss-data synth "$W/data" --count "$count" --size "$SIZE" --seed 0 -q

# run NAME CMD...: runs a trainer, prints its loop's rate, its collectives and
# the process's CPU time (all ranks and the launcher, start-up included).
run() {
  local name=$1; shift
  local before; before=$(load)
  /usr/bin/time -f '%e %U %S' -o "$W/time" "$@" >"$W/stdout" 2>"$W/stderr" || { cat "$W/stderr"; return 1; }
  local wall cpu rate loop coll share allred mb waiting steps
  read -r wall cpu <<<"$(awk '{ printf "%.1f %.1f\n", $1, $2 + $3 }' "$W/time")"
  rate=$(sed -nE 's/.*trained [0-9]+ [a-z()]+ at ([0-9.e+-]+) it\/s.*/\1/p' "$W/stderr")
  loop=$(sed -nE 's/.*training loop: .*, of ([0-9.]+)s.*/\1/p' "$W/stderr")
  steps=$(awk -v r="$rate" -v l="$loop" 'BEGIN { printf "%.0f", r * l }')
  read -r coll share allred mb waiting <<<"$(sed -nE 's/.*; ([0-9.]+)s in collectives \(([0-9.]+)% of the loop\): ([0-9.]+)s allreducing ([0-9.]+) MB of gradients per step, ([0-9.]+)s waiting.*/\1 \2 \3 \4 \5/p' "$W/stderr")"
  printf '%-26s %7.4f steps/s (%6.2f s/step), loop %.1fs; process %ss wall, %ss CPU  [load %s]\n' \
    "$name" "$rate" "$(awk -v r="$rate" 'BEGIN { print 1 / r }')" "$loop" "$wall" "$cpu" "$before"
  if [ -n "$coll" ]; then
    # (awk: an unparenthesised "print a > b" writes a file named b)
    printf '%-26s collectives %.2fs = %s%% of the loop: allreducing %s MB of gradients per step %.2fs (%.1f%%, %.0f MB/s), waiting for the other rank %.2fs (%.1f%%)\n' \
      "" "$coll" "$share" "$mb" "$allred" "$(awk -v a="$allred" -v l="$loop" 'BEGIN { print 100 * a / l }')" \
      "$(awk -v m="$mb" -v a="$allred" -v s="$steps" 'BEGIN { print (a > 0 ? m * s / a : 0) }')" "$waiting" \
      "$(awk -v a="$waiting" -v l="$loop" 'BEGIN { print 100 * a / l }')"
  fi
  echo "$rate" > "$W/rate.$name"
}
ratio() { awk -v a="$(cat "$W/rate.$1")" -v b="$(cat "$W/rate.$2")" 'BEGIN { printf "%.2f", a / b }'; }

if [ "$which" = all ] || [ "$which" = cls ]; then
  echo "-- classifier: $CLS_ARCH width $WIDTH, crop $CLS_CROP, global batch $CLS_BATCH, $CLS_STEPS steps (IRN's recipe otherwise)"
  CLS=(wsss-classify train --arch "$CLS_ARCH" --width "$WIDTH" --crop "$CLS_CROP" --resize-long "$CLS_CROP:$((CLS_CROP * 2))"
       --batch "$CLS_BATCH" --epochs 1 --lr "$LR" --save-every 1000000 --classes "$CLASSES" "$W/data/manifest.jsonl")
  run "cls 1 rank x 2 threads" "${CLS[@]}" -j2 --overwrite "$W/cls1"
  run "cls 2 ranks x 1 thread" "${CLS[@]}" -j1 --nproc 2 --overwrite "$W/cls2"
  echo "classifier: 2 ranks / 1 rank throughput $(ratio "cls 2 ranks x 1 thread" "cls 1 rank x 2 threads")"
fi
if [ "$which" = all ] || [ "$which" = seg ]; then
  echo "-- DeepLab-v2: $SEG_ARCH width $WIDTH, crop $SEG_CROP, global batch $SEG_BATCH, $SEG_STEPS iterations"
  SEG=(wsss-train-seg train --field mask --arch "$SEG_ARCH" --width "$WIDTH" --crop "$SEG_CROP" --batch "$SEG_BATCH"
       --iters "$SEG_STEPS" --lr "$LR" --save-every 1000000 --classes "$CLASSES" "$W/data/manifest.jsonl")
  run "seg 1 rank x 2 threads" "${SEG[@]}" -j2 --overwrite "$W/seg1"
  run "seg 2 ranks x 1 thread" "${SEG[@]}" -j1 --nproc 2 --overwrite "$W/seg2"
  echo "DeepLab: 2 ranks / 1 rank throughput $(ratio "seg 2 ranks x 1 thread" "seg 1 rank x 2 threads")"
fi
