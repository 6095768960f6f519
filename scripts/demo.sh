#!/usr/bin/env bash
# The main job on the built-in synthetic data: generate the data set, train the
# classifier, make CAMs, and evaluate them (CAM mIoU at the best background
# threshold). Usage: scripts/demo.sh [EXP_DIR]   (binaries from $WSSS_BIN)
set -euo pipefail
EXP=${1:-exp/demo}
BIN=${WSSS_BIN:-build/bin}
export PATH="$BIN:$PATH"
J=${J:-$(nproc)}
mkdir -p "$EXP"
step() { echo; echo "== $*" >&2; }

step "synthetic data: train and val splits"
[ -f "$EXP/train/manifest.jsonl" ] || wsss-data synth --count ${TRAIN_COUNT:-800} --seed 1 --prefix train -j "$J" "$EXP/train"
[ -f "$EXP/val/manifest.jsonl" ] || wsss-data synth --count ${VAL_COUNT:-200} --seed 2 --prefix val -j "$J" "$EXP/val"

step "baseline: every pixel background (the lower bound any method must beat)"
wsss-miou --pred pred --missing empty -j "$J" --json "$EXP/baseline-miou.json" "$EXP/train/manifest.jsonl" | tee "$EXP/baseline-miou.txt"
