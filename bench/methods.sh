#!/usr/bin/env bash
# ReCAM and LPCAM against plain CAM (issue #12), on synthetic images with a
# random CAM classifier (the cost does not depend on the values):
#  1. training: wsss-classify recam against wsss-classify train with the same
#     data, crop, batch and -j (IRN's --frozen-stages 3, and 1 like ReCAM, which
#     backpropagates through layer1-2 too); seconds per step from each
#     trainer's own accounting, and the ratios;
#  2. ReCAM's class features: the batched product against the reference's
#     B x K x C x h x w broadcast (wsss_bench_methods: one forward + backward of
#     the ReCAM cross-entropy at VOC's shapes), time and peak RSS;
#  3. maps per image: wsss-cam --recam and wsss-cam --lpcam against wsss-cam
#     (default scales with flip), wall and CPU seconds and the ratios; and the
#     time of wsss-lpcam cluster.
# Timings are reported, never asserted.
#   ARCH=resnet50 WIDTH=64 CROP=256 BATCH=8 STEPS=3 N=6 SIZE=500x375 J=2 bench/methods.sh
set -euo pipefail
BIN=${WSSS_BIN:-build/bin}
ARCH=${ARCH:-resnet50}
WIDTH=${WIDTH:-64}
CROP=${CROP:-256}
BATCH=${BATCH:-8}
STEPS=${STEPS:-3}
N=${N:-6}
SIZE=${SIZE:-500x375}
J=${J:-2}
LOSS_SHAPE=${LOSS_SHAPE:-"16 20 2048 16 16"}  # VOC: 16 20 2048 32 32 (2.7 GB per B x K x C x h x w tensor)
export PATH="$(cd "$BIN" && pwd):$PATH"
command -v wsss_bench_methods >/dev/null || { echo "wsss_bench_methods not built (needs LibTorch)"; exit 1; }
calc() { awk "BEGIN { print $1 }"; }
W=$(mktemp -d "${TMPDIR:-/tmp}/wsss-bench-methods.XXXXXX")
trap 'rm -rf "$W"' EXIT

# "wall_seconds cpu_seconds peak_rss_mb" of a command (stdout in $W/stdout, stderr in $W/stderr).
measure() {
  /usr/bin/time -f '%e %U %S %M' -o "$W/time" "$@" >"$W/stdout" 2>"$W/stderr" || { cat "$W/stderr"; return 1; }
  awk '{ printf "%s %.2f %.0f\n", $1, $2 + $3, $4 / 1024 }' "$W/time"
}
[ -x /usr/bin/time ] || { echo "bench/methods.sh needs /usr/bin/time (apt-get install time)"; exit 1; }
# Seconds per step of a training run: its "trained ... at X it/s" line.
step_seconds() { calc "1 / $(grep -oE 'at [0-9.e+-]+ it/s' "$W/stderr" | tail -n 1 | cut -d' ' -f2)"; }

echo "== ReCAM / LPCAM benchmark: $ARCH width $WIDTH, -j$J ($(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg))"
TRAIN_N=$((BATCH * STEPS))
wsss-data synth "$W/train" --count "$TRAIN_N" --size "$SIZE" --seed 0 -q
head -n "$N" "$W/train/manifest.jsonl" > "$W/train/maps.jsonl"
wsss_bench_cam save-model "$W/train/classes.json" "$W/cls.safetensors" "$ARCH" "$WIDTH" >/dev/null

# --- 1. training steps (random weights and a tiny rate: only the cost matters)
COMMON=(-j "$J" --crop "$CROP" --batch "$BATCH" --epochs 1 --lr 1e-9 --resize-long 320:640)
printf '%-52s %10s %10s %10s\n' "training, $STEPS steps of batch $BATCH at crop $CROP" "s/step" "cpu s" "RSS MB"
declare -A step
for run in cam3 cam1 recam; do
  case $run in
    cam3) cmd=(wsss-classify train "${COMMON[@]}" --arch "$ARCH" --width "$WIDTH" --frozen-stages 3) ;;
    cam1) cmd=(wsss-classify train "${COMMON[@]}" --arch "$ARCH" --width "$WIDTH" --frozen-stages 1) ;;
    recam) cmd=(wsss-classify recam "${COMMON[@]}" --init "$W/cls.safetensors") ;;
  esac
  read -r s cpu rss <<<"$(measure "${cmd[@]}" "$W/train/manifest.jsonl" "$W/$run")"
  step[$run]=$(step_seconds)
  printf '%-52s %10.2f %10s %10s\n' "${cmd[0]} ${cmd[1]} ($run)" "${step[$run]}" "$cpu" "$rss"
done
printf 'ReCAM step / CAM step: %.3f (IRN frozen stages 3), %.3f (frozen stages 1, as ReCAM)\n' \
  "$(calc "${step[recam]} / ${step[cam3]}")" "$(calc "${step[recam]} / ${step[cam1]}")"

# --- 2. the class features: batched product vs the broadcast
read -r -a shape <<<"$LOSS_SHAPE"
for mode in bmm broadcast; do
  if read -r s cpu rss <<<"$(measure wsss_bench_methods loss "$mode" "${shape[@]}" 3 "$J")"; then
    printf '%s  (process: %ss cpu, peak RSS %s MB)\n' "$(cat "$W/stdout")" "$cpu" "$rss"
  else
    echo "$mode: failed (out of memory?)"
  fi
done

# --- 3. maps per image
wsss-cam -q -j "$J" --model "$W/cls.safetensors" "$W/train/maps.jsonl" "$W/cam0"  # CAMs to cluster with
read -r s cpu rss <<<"$(measure wsss-lpcam cluster -j "$J" --class-prob 0 --context-prob 0:1 \
  --model "$W/cls.safetensors" "$W/cam0/manifest.jsonl" "$W/proto")"
printf 'wsss-lpcam cluster over %d images (every centre kept): %.2fs wall, %ss cpu, peak RSS %s MB\n' \
  "$N" "$s" "$cpu" "$rss"
report() { printf '%-40s %8.2fs wall %8ss cpu %7.3f images/s  peak RSS %6s MB\n' "$1" "$2" "$3" "$(calc "$N / $2")" "$4"; }
read -r cam_s cam_cpu cam_rss <<<"$(measure wsss-cam -j "$J" --model "$W/cls.safetensors" "$W/train/maps.jsonl" "$W/cam")"
report "wsss-cam -j$J, $N images" "$cam_s" "$cam_cpu" "$cam_rss"
read -r rc_s rc_cpu rc_rss <<<"$(measure wsss-cam -j "$J" --recam --model "$W/recam/model.safetensors" \
  "$W/train/maps.jsonl" "$W/rc")"
report "wsss-cam --recam -j$J, $N images" "$rc_s" "$rc_cpu" "$rc_rss"
read -r lp_s lp_cpu lp_rss <<<"$(measure wsss-cam -j "$J" --lpcam "$W/proto/prototypes.safetensors" \
  --model "$W/cls.safetensors" "$W/train/maps.jsonl" "$W/lp")"
report "wsss-cam --lpcam -j$J, $N images" "$lp_s" "$lp_cpu" "$lp_rss"
printf 'ReCAM / CAM per image: %.3f wall, %.3f cpu; LPCAM / CAM per image: %.3f wall, %.3f cpu\n' \
  "$(calc "$rc_s / $cam_s")" "$(calc "$rc_cpu / $cam_cpu")" "$(calc "$lp_s / $cam_s")" "$(calc "$lp_cpu / $cam_cpu")"
echo "load average now: $(cut -d' ' -f1 /proc/loadavg)"
