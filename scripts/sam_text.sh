#!/usr/bin/env bash
# SAM with text input (survey Fig. 2b; image labels known): the recipe of
# docs/sam.md, "Recipes".
#
#   scripts/sam_text.sh EXP MANIFEST SAM_MODEL [DETECTIONS]
#
# The user supplies:
#   MANIFEST    images with "labels" (and "mask" to be scored): wsss-data voc|coco
#   SAM_MODEL   a SAM-family TorchScript file: scripts/export_sam.py on a checkpoint
#   DETECTIONS  Grounding DINO's boxes for the captions this script writes, COCO
#               results JSON (default EXP/text/detections.json)
# Steps (each skipped when its output is newer than its inputs):
#   1. wsss-tags prompts: the captions, EXP/text/detector_prompts.jsonl;
#   2. without DETECTIONS: stop, saying what to run on them and where to put the boxes;
#   3. wsss-sam: pseudo masks, EXP/text/sam (field "pseudo");
#   4. wsss-miou: EXP/text/miou.{txt,json} (Table-2 groups for VOC's classes);
#   5. with SEG=1: wsss-train-seg on the pseudo masks, EXP/text/seg (scored on VAL if set).
# Environment: scripts/sam_common.sh. Exit 1 on a missing input or a failed step.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/sam_common.sh
source "$here/sam_common.sh"

if [ $# -lt 3 ] || [ $# -gt 4 ]; then
  echo "usage: ${0##*/} EXP MANIFEST SAM_MODEL [DETECTIONS]" >&2
  exit 2
fi
EXP=$1 MANIFEST=$2 MODEL=$3
OUT=$EXP/text
DETS=${4:-$OUT/detections.json}
need_file manifest "$MANIFEST"
need_file "SAM model (scripts/export_sam.py writes one)" "$MODEL"
mkdir -p "$OUT"

captions=$OUT/detector_prompts.jsonl
if ! fresh "$captions" "$MANIFEST"; then
  wsss-tags prompts -q --overwrite "$MANIFEST" -o "$captions"
fi
require_detections "$captions" "$DETS" "$0 $*"
run_sam "$MANIFEST" "$MODEL" "$DETS" "$OUT/sam"
evaluate "$OUT/sam/manifest.jsonl" pseudo "$OUT/miou"
train_seg "$OUT/sam/manifest.jsonl" "$OUT/seg"
say "pseudo masks: $OUT/sam/manifest.jsonl"
