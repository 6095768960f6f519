#!/usr/bin/env bash
# The main job on the built-in synthetic data: generate the data set, train the
# CAM classifier, make CAMs, refine them (dense CRF; IRN's edge network and
# random walk), turn each into
# pseudo masks, and print the pseudo-mask mIoU of every step on the training
# images next to the all-background baseline. A rerun reuses finished stages (each
# stage's manifest or model file marks it done).
# Usage: scripts/demo.sh [EXP_DIR]   (binaries from $WSSS_BIN; J threads)
set -euo pipefail
EXP=${1:-exp/demo}
BIN=${WSSS_BIN:-build/bin}
export PATH="$BIN:$PATH"
J=${J:-$(nproc)}
mkdir -p "$EXP"
step() { echo >&2; echo "== $*" >&2; }
seconds() { date +%s.%N; }
declare -A TIME
# stage NAME DONE_FILE CMD...: runs CMD unless DONE_FILE exists (a finished stage),
# and records its time in TIME[NAME] ("reused" when skipped).
stage() {
  local name=$1 done_file=$2; shift 2
  if [ -f "$done_file" ]; then
    TIME[$name]=${TIME[$name]:-reused}
    return
  fi
  local t0; t0=$(seconds)
  "$@"
  TIME[$name]=$(awk -v a="$(seconds)" -v b="$t0" 'BEGIN { printf "%.0fs", a - b }')
}

step "synthetic data: 640 training and 160 validation images, 128x128"
stage data "$EXP/train/manifest.jsonl" wsss-data synth -q --count 640 --seed 1 --prefix train -j "$J" "$EXP/train"
stage data-val "$EXP/val/manifest.jsonl" wsss-data synth -q --count 160 --seed 2 --prefix val -j "$J" "$EXP/val"

step "classifier: ResNet-18 at width 16 from scratch (no ImageNet weights here), 6 epochs"
# From scratch, BatchNorm and every stage must train and momentum helps; with
# ImageNet weights (--init) IRN's defaults apply (docs/classify.md).
stage classify "$EXP/cls/model.safetensors" wsss-classify train -j "$J" --seed 0 \
  --arch resnet18 --width 16 --frozen-stages 0 --train-bn --momentum 0.9 --lr 0.05 \
  --resize-long 96:160 --crop 128 --batch 16 --epochs 6 \
  --val "$EXP/val/manifest.jsonl" "$EXP/train/manifest.jsonl" "$EXP/cls"  # validation AP also in cls/meta.json

step "CAMs (IRN make_cam: scales 1.0 0.5 1.5 2.0 with flips)"
stage cam "$EXP/cam/manifest.jsonl" wsss-cam -j "$J" --model "$EXP/cls/model.safetensors" \
  "$EXP/train/manifest.jsonl" "$EXP/cam"

step "dense CRF on the CAMs (deeplab preset, background (1 - max)^1 as CLIP-ES)"
stage crf "$EXP/crf/manifest.jsonl" wsss-refine crf -j "$J" --preset deeplab --bg-power 1 \
  "$EXP/cam/manifest.jsonl" "$EXP/crf"

step "pseudo masks: CAM at the best threshold of the sweep, and the CRF's argmax"
wsss-miou -q --pred cam --bg-sweep 0.05:0.60:0.01 -j "$J" --overwrite --json "$EXP/cam-miou.json" \
  "$EXP/cam/manifest.jsonl" > "$EXP/cam-miou.txt"
best=$(grep -oE '^best threshold [0-9.]+' "$EXP/cam-miou.txt" | cut -d' ' -f3)
stage pseudo "$EXP/pseudo-cam/manifest.jsonl" wsss-pseudo -q -j "$J" --bg-threshold "$best" \
  "$EXP/cam/manifest.jsonl" "$EXP/pseudo-cam"
stage pseudo-crf "$EXP/pseudo-crf/manifest.jsonl" wsss-pseudo -q -j "$J" --field refined \
  "$EXP/crf/manifest.jsonl" "$EXP/pseudo-crf"

step "IRN: IR labels, inter-pixel relation (edge) network, semantic random walk"
# IRN's conf_fg/conf_bg (0.30/0.05) were tuned for VOC, whose best CAM threshold
# is 0.15; the ReCAM author's rule (ReCAM#15) sets them to t_cam + 0.1 and t_cam - 0.1.
fg=$(awk -v t="$best" 'BEGIN { printf "%.2f", t + 0.10 }'); bg=$(awk -v t="$best" 'BEGIN { printf "%.2f", t - 0.10 }')
stage ir "$EXP/ir/manifest.jsonl" wsss-pseudo -q -j "$J" --ignore "irn:$fg:$bg" --crf irn --out-field ir_label \
  "$EXP/cam/manifest.jsonl" "$EXP/ir"
# No ImageNet weights here: the edge network's frozen backbone is the CAM classifier's.
stage irn-train "$EXP/irn-model/model.safetensors" wsss-refine irn-train -j "$J" --seed 0 \
  --init "$EXP/cls/model.safetensors" --crop 128 --batch 16 --epochs 3 --momentum 0.9 \
  "$EXP/ir/manifest.jsonl" "$EXP/irn-model"
# IRN walks 2^8 steps on the ~125x94 stride-4 grid of a VOC image; a walk's reach
# grows with radius * sqrt(steps), so on our 32x32 grid (11x less area) 2^4 steps
# cover the same share of the image (docs/refinement.md has the measurements).
stage irn "$EXP/irn/manifest.jsonl" wsss-refine irn -j "$J" --exp-times 4 --model "$EXP/irn-model/model.safetensors" \
  "$EXP/ir/manifest.jsonl" "$EXP/irn"
wsss-miou -q --pred refined --bg-sweep 0.05:0.80:0.01 -j "$J" --overwrite --json "$EXP/irn-sweep.json" \
  "$EXP/irn/manifest.jsonl" > "$EXP/irn-sweep.txt"
irn_best=$(grep -oE '^best threshold [0-9.]+' "$EXP/irn-sweep.txt" | cut -d' ' -f3)
stage pseudo-irn "$EXP/pseudo-irn/manifest.jsonl" wsss-pseudo -q -j "$J" --field refined --bg-threshold "$irn_best" \
  "$EXP/irn/manifest.jsonl" "$EXP/pseudo-irn"

step "evaluation on the training images"
evaluate() {  # NAME MANIFEST [miou options...]
  local name=$1 manifest=$2; shift 2
  wsss-miou -q -j "$J" --overwrite --json "$EXP/$name-miou.json" "$@" "$manifest" > "$EXP/$name-miou.txt"
  grep -oE '^mIoU [0-9.]+' "$EXP/$name-miou.txt" | cut -d' ' -f2
}
base=$(evaluate baseline "$EXP/train/manifest.jsonl" --pred pred --missing empty)
cam=$(evaluate pseudo-cam "$EXP/pseudo-cam/manifest.jsonl" --pred pseudo)
crf=$(evaluate pseudo-crf "$EXP/pseudo-crf/manifest.jsonl" --pred pseudo)
irn=$(evaluate pseudo-irn "$EXP/pseudo-irn/manifest.jsonl" --pred pseudo)
cat "$EXP/pseudo-crf-miou.txt"

{
  echo
  echo "| step | pseudo-mask mIoU (train) | time |"
  echo "|---|---|---|"
  printf "| all background (baseline) | %s | - |\n" "$base"
  printf "| CAM (bg threshold %s) | %s | classify %s, cam %s |\n" "$best" "$cam" "${TIME[classify]}" "${TIME[cam]}"
  printf "| CAM + dense CRF (deeplab preset) | %s | crf %s |\n" "$crf" "${TIME[crf]}"
  printf "| CAM + IRN random walk (bg threshold %s) | %s | IR labels %s, irn-train %s, walk %s |\n" \
    "$irn_best" "$irn" "${TIME[ir]}" "${TIME[irn-train]}" "${TIME[irn]}"
} | tee "$EXP/results.md"
