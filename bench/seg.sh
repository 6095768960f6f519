#!/usr/bin/env bash
# wsss-train-seg against the network alone (wsss_bench_seg: the same DeepLabV2,
# loss and SGD on fixed random tensors of the same shapes, no reading,
# augmentation, logging or checkpoints), with the protocol's model: ResNet-101
# (width 64, random weights: the cost does not depend on the values), crop 321,
# batch 5, on synthetic 500x375 images.
# - training: 1 warm-up + ITERS timed iterations on J LibTorch threads, the
#   stage against the network alone over the same iterations (the stage's loop
#   also writes the final checkpoint), and as whole processes. The stage also
#   says how long its loop waited for data and wrote checkpoints: the overhead
#   measured directly, which the machine's load does not blur.
# - prediction: wsss-train-seg predict -j J (default scales 1.0,0.5,0.75, no
#   flip, no CRF) on PRED_N images against the same forward passes alone.
# Target: stage / network at most 1.15. CPU time (user + sys) is the steadier
# figure on a busy machine; each measurement prints the load average before it.
# Timings are reported, never asserted.
#   ITERS=3 ITER_SIZE=1 CROP=321 BATCH=5 J=2 PRED_N=8 WSSS_BIN=build/bin bench/seg.sh
set -euo pipefail
BIN=${WSSS_BIN:-build/bin}
ITERS=${ITERS:-3}
ITER_SIZE=${ITER_SIZE:-1}
CROP=${CROP:-321}
BATCH=${BATCH:-5}
J=${J:-2}
ARCH=${ARCH:-resnet101}
WIDTH=${WIDTH:-64}
PRED_N=${PRED_N:-8}
SIZE=${SIZE:-500x375}
# A random ResNet-101 under frozen BatchNorm blows up at the protocol's rate
# within a few steps (the stage stops on a non-finite loss); a tiny rate keeps
# the values finite and costs the same.
LR=${LR:-1e-9}
# The protocol's data set is VOC: 21 classes (the synthetic masks' ids fit in it).
CLASSES=${CLASSES:-$(cd "$(dirname "$0")/.." && pwd)/data_manifests/voc12/classes.json}
export PATH="$(cd "$BIN" && pwd):$PATH"
# The wsss-* tools and wsss_bench_seg both re-execute themselves with libgomp's
# passive wait policy and glibc's large-block thresholds unless the user set
# them (wsss::tune_runtime_environment); with spinning workers the network
# alone ran up to 100x slower on a busy machine (crop 65, 2 threads: 1.06 s/it
# against 0.01 s/it).
command -v wsss_bench_seg >/dev/null || { echo "wsss_bench_seg not built (needs LibTorch)"; exit 1; }
calc() { awk "BEGIN { print $1 }"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
W=$(mktemp -d "${TMPDIR:-/tmp}/wsss-bench-seg.XXXXXX")
trap 'rm -rf "$W"' EXIT

echo "== wsss-train-seg benchmark: $ARCH width $WIDTH, crop $CROP, batch $BATCH x iter-size $ITER_SIZE, -j$J; predict $SIZE ($(nproc) cores, load average $(load))"
# Training cycles through the images (epochs follow each other), so 20 suffice.
wsss-data synth "$W/data" --count "$((PRED_N > 20 ? PRED_N : 20))" --size "$SIZE" --seed 0 -q
head -n "$PRED_N" "$W/data/manifest.jsonl" > "$W/data/predict.jsonl"

# "wall_seconds cpu_seconds peak_rss_mb" of a command; its stdout and stderr are
# left in $W/stdout and $W/stderr.
measure() {
  /usr/bin/time -f '%e %U %S %M' -o "$W/time" "$@" >"$W/stdout" 2>"$W/stderr" || { cat "$W/stderr"; return 1; }
  awk '{ printf "%s %.2f %.0f\n", $1, $2 + $3, $4 / 1024 }' "$W/time"
}
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)"; exit 1; }
line() { printf '%-52s %9.2fs wall %9.2fs cpu  %s\n' "$@"; }

TRAIN=(wsss-train-seg train -j "$J" --field mask --arch "$ARCH" --width "$WIDTH" --crop "$CROP" --batch "$BATCH"
       --iter-size "$ITER_SIZE" --lr "$LR" --save-every 1000000 --classes "$CLASSES")
echo "-- training, 1 + $ITERS iterations (load average $(load))"
read -r ts cs rs <<<"$(measure "${TRAIN[@]}" --iters "$((ITERS + 1))" "$W/data/manifest.jsonl" "$W/seg")"
line "wsss-train-seg train" "$ts" "$cs" "peak RSS $rs MB"
grep -E 'training loop: |trained [0-9]+ iteration' "$W/stderr" | sed -E 's/^[^:]*: /   /; s/; done .*//'
# The stage's own accounting: "W s waiting for data (loader threads busy L s),
# C s writing checkpoints, of T s" (T: the whole loop, final checkpoint included).
read -r wait busy ckpt loop_s <<<"$(sed -nE 's/.*training loop: ([0-9.]+)s waiting for data \(loader threads busy ([0-9.]+)s\), ([0-9.]+)s writing checkpoints, of ([0-9.]+)s.*/\1 \2 \3 \4/p' "$W/stderr")"
echo "   (load average $(load))"
read -r tb cb rb <<<"$(measure wsss_bench_seg train "$CLASSES" "$CROP" "$BATCH" "$ITER_SIZE" "$ITERS" "$J" \
                       "$ARCH" "$WIDTH" "$LR")"
line "network alone (wsss_bench_seg)" "$tb" "$cb" "peak RSS $rb MB"
sed 's/^/   /' "$W/stdout"
read -r warm net <<<"$(sed -E 's/.*warm-up ([0-9.]+)s, [0-9]+ iterations ([0-9.]+)s .*/\1 \2/' "$W/stdout")"
net_loop=$(calc "$warm + $net")
printf 'training: stage %.4f it/s (%.2f s/it), network %.4f it/s (%.2f s/it), over the 1 + %d iterations\n' \
  "$(calc "($ITERS + 1) / $loop_s")" "$(calc "$loop_s / ($ITERS + 1)")" "$(calc "($ITERS + 1) / $net_loop")" \
  "$(calc "$net_loop / ($ITERS + 1)")" "$ITERS"
printf 'wsss-train-seg / network: loop %.3f in wall time; whole processes %.3f in wall, %.3f in cpu time (target <= 1.15)\n' \
  "$(calc "$loop_s / $net_loop")" "$(calc "$ts / $tb")" "$(calc "$cs / $cb")"
printf 'stage loop outside the network: %.1f%% waiting for data, %.1f%% writing the checkpoint; loader threads busy %.1f%% of it\n' \
  "$(calc "100 * $wait / $loop_s")" "$(calc "100 * $ckpt / $loop_s")" "$(calc "100 * $busy / $loop_s")"

echo "-- prediction, $PRED_N images of $SIZE (load average $(load))"
read -r tp cp rp <<<"$(measure wsss-train-seg predict -j "$J" --classes "$CLASSES" --model "$W/seg/model.safetensors" \
                       "$W/data/predict.jsonl" "$W/pred")"
line "wsss-train-seg predict -j$J" "$tp" "$cp" "$(printf '%.3f images/s  peak RSS %s MB' "$(calc "$PRED_N / $tp")" "$rp")"
echo "   (load average $(load))"
read -r tf cf rf <<<"$(measure wsss_bench_seg predict "$W/seg/model.safetensors" "$SIZE" "$PRED_N" "$J")"
line "forward passes only, $J workers" "$tf" "$cf" "$(printf '%.3f images/s  peak RSS %s MB' "$(calc "$PRED_N / $tf")" "$rf")"
printf 'wsss-train-seg predict / forward: %.3f in wall time, %.3f in cpu time (target <= 1.15)\n' \
  "$(calc "$tp / $tf")" "$(calc "$cp / $cf")"
echo "load average now: $(load)"
