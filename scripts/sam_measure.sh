#!/usr/bin/env bash
# The measurements behind wsss-sam's default merge rule and its CAM-prompt mode
# (docs/sam.md, Measurements), regenerated from an experiment directory that
# `make experiment` (scripts/pipeline.sh) has filled:
#
#   scripts/sam_measure.sh [EXP=exp/t1] [OUT=exp/sam-measure]
#
# Reads EXP/train (images, GT masks), EXP/cam (CAMs), EXP/pseudo-cam and
# EXP/pseudo-crf (the plain CAM and CRF pseudo masks) without changing them.
# GrabCut (wsss-sam --segmenter grabcut) stands in for SAM, which has no weights
# here, prompted by
#   cam-box, cam-point, cam-box+point   prompts derived from the CAMs;
#   gt-box                              oracle boxes from the GT masks (wsss-data boxes);
#   gt-box-jitter10, gt-box-jitter20    the same boxes with edges moved by up to 10% / 20%,
# each merged with every rule. Every run is scored on the training GT by wsss-miou
# (OUT/<source>/<merge>/miou.json); the table goes to stdout and OUT/table.md.
# Finished runs (a miou.json) are kept: delete OUT to start over.
# Binaries come from $WSSS_BIN (default build/bin); -j from $J (default nproc).
set -euo pipefail
EXP=${1:-exp/t1}
OUT=${2:-exp/sam-measure}
BIN=${WSSS_BIN:-build/bin}
export PATH="$BIN:$PATH"
J=${J:-$(nproc)}
SEED=${SEED:-0}
ALL_MERGES="max-id score smallest max-id+ignore score+ignore smallest+ignore"
SOURCES=${SOURCES:-"cam-box+point gt-box cam-box cam-point gt-box-jitter10 gt-box-jitter20"}
# Every run is one GrabCut pass over the images (about 30-60 s for 640 images at
# -j2); BRIEF sources are run with BRIEF_MERGES only (default: all of them).
BRIEF=${BRIEF:-}
BRIEF_MERGES=${BRIEF_MERGES:-$ALL_MERGES}
merges_of() { case " $BRIEF " in *" $1 "*) echo "$BRIEF_MERGES" ;; *) echo "$ALL_MERGES" ;; esac; }

for f in "$EXP/train/manifest.jsonl" "$EXP/cam/manifest.jsonl" "$EXP/pseudo-cam/manifest.jsonl" \
         "$EXP/pseudo-crf/manifest.jsonl"; do
  [ -f "$f" ] || { echo "sam_measure: $f missing (run make experiment EXP=$EXP first)" >&2; exit 1; }
done
mkdir -p "$OUT/boxes"

# The oracle detector (an evaluation aid: the box-supervised upper bound).
[ -f "$OUT/boxes/gt.json" ] || wsss-data boxes -q "$EXP/train/manifest.jsonl" "$OUT/boxes/gt.json"
[ -f "$OUT/boxes/jitter10.json" ] || wsss-data boxes -q --jitter 0.1 --seed 1 "$EXP/train/manifest.jsonl" "$OUT/boxes/jitter10.json"
[ -f "$OUT/boxes/jitter20.json" ] || wsss-data boxes -q --jitter 0.2 --seed 1 "$EXP/train/manifest.jsonl" "$OUT/boxes/jitter20.json"

score() {  # score DIR FIELD MANIFEST: DIR/miou.json
  [ -f "$1/miou.json" ] || wsss-miou -q -j "$J" --pred "$2" --json "$1/miou.json" "$3" >/dev/null
}
mkdir -p "$OUT/pseudo-cam" "$OUT/pseudo-crf"
score "$OUT/pseudo-cam" pseudo "$EXP/pseudo-cam/manifest.jsonl"
score "$OUT/pseudo-crf" pseudo "$EXP/pseudo-crf/manifest.jsonl"

for src in $SOURCES; do
  case $src in
    cam-*) input=(--cam-prompts "${src#cam-}" "$EXP/cam/manifest.jsonl") ;;
    gt-box) input=(--detections "$OUT/boxes/gt.json" "$EXP/train/manifest.jsonl") ;;
    gt-box-jitter*) input=(--detections "$OUT/boxes/jitter${src#gt-box-jitter}.json" "$EXP/train/manifest.jsonl") ;;
  esac
  for merge in $(merges_of "$src"); do
    d="$OUT/$src/$merge"
    [ -f "$d/miou.json" ] && continue
    t0=$(date +%s.%N)
    wsss-sam -q -j "$J" --seed "$SEED" --segmenter grabcut --merge "$merge" --overwrite "${input[@]}" "$d"
    score "$d" pseudo "$d/manifest.jsonl"
    echo "$src $merge: $(awk "BEGIN { printf \"%.0f\", $(date +%s.%N) - $t0 }")s" >&2
  done
done

# mIoU as wsss-miou reports it (a predicted 255 is a miss of the GT class), the
# mIoU over the pixels the merge did not ignore (what training with ignore sees),
# and the share of (non-ignore GT) pixels predicted as 255.
row() {  # row LABEL MIOU_JSON
  python3 - "$1" "$2" <<'PY'
import json, sys
label, file = sys.argv[1], sys.argv[2]
r = json.load(open(file))
c, ign = r["confusion"], r.get("pred_ignored", [0] * len(r["confusion"]))
k = len(c)
total = sum(map(sum, c)) + sum(ign)
ious = []
for i in range(k):
    row, col = sum(c[i]), sum(c[j][i] for j in range(k))
    if row + col:
        ious.append(c[i][i] / (row + col - c[i][i]))
kept = 100 * sum(ious) / len(ious)
print(f"| {label} | {100 * r['miou']:.2f} | {kept:.2f} | {100 * sum(ign) / total:.2f} |")
PY
}
{
  echo "| pseudo masks | mIoU | mIoU, 255 left out | ignored % |"
  echo "|---|---|---|---|"
  row "plain CAM (pseudo-cam)" "$OUT/pseudo-cam/miou.json"
  row "CAM + CRF (pseudo-crf)" "$OUT/pseudo-crf/miou.json"
  for src in $SOURCES; do
    for merge in $(merges_of "$src"); do row "GrabCut, $src, $merge" "$OUT/$src/$merge/miou.json"; done
  done
} | tee "$OUT/table.md"
