#!/usr/bin/env bash
# SAM zero-shot (survey Fig. 2b; no image labels): the recipe of docs/sam.md,
# "Recipes". A tagger's tags become labels, the labels become detector captions.
#
#   scripts/sam_zeroshot.sh EXP TAGS MANIFEST SAM_MODEL [DETECTIONS]
#
# The user supplies:
#   TAGS        RAM's tags per image: JSON {"<image>": "tag | tag"} or lines
#               <image><TAB>tag | tag (docs/prompts.md)
#   MANIFEST    the images (wsss-data voc|coco; its labels are ignored, kept as
#               "labels_gt"; "mask" to be scored)
#   SAM_MODEL   a SAM-family TorchScript file: scripts/export_sam.py on a checkpoint
#   DETECTIONS  Grounding DINO's boxes for the captions this script writes, COCO
#               results JSON (default EXP/zeroshot/detections.json)
# Steps (each skipped when its output is newer than its inputs):
#   1. wsss-tags labels: tags -> labels through data_manifests/<set>/synonyms.json,
#      EXP/zeroshot/tags (manifest, captions detector_prompts.jsonl, unmatched_tags.tsv);
#   2. without DETECTIONS: stop, saying what to run on the captions and where to put the boxes;
#   3. wsss-sam on the tag-labelled manifest: EXP/zeroshot/sam (field "pseudo");
#   4. wsss-miou: EXP/zeroshot/miou.{txt,json} (Table-2 groups for VOC's classes);
#   5. with SEG=1: wsss-train-seg on the pseudo masks, EXP/zeroshot/seg.
# Environment: scripts/sam_common.sh, and TAGS_OPTS (extra wsss-tags labels options,
# e.g. "--missing empty"). Exit 1 on a missing input or a failed step.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/sam_common.sh
source "$here/sam_common.sh"

if [ $# -lt 4 ] || [ $# -gt 5 ]; then
  echo "usage: ${0##*/} EXP TAGS MANIFEST SAM_MODEL [DETECTIONS]" >&2
  exit 2
fi
EXP=$1 TAGS=$2 MANIFEST=$3 MODEL=$4
OUT=$EXP/zeroshot
DETS=${5:-$OUT/detections.json}
TAGS_OPTS=${TAGS_OPTS:-}
need_file "tags file (RAM's output)" "$TAGS"
need_file manifest "$MANIFEST"
need_file "SAM model (scripts/export_sam.py writes one)" "$MODEL"
mkdir -p "$OUT"

if ! fresh "$OUT/tags/manifest.jsonl" "$TAGS" "$MANIFEST"; then
  # shellcheck disable=SC2086
  wsss-tags labels --overwrite $TAGS_OPTS "$TAGS" "$MANIFEST" "$OUT/tags"
fi
require_detections "$OUT/tags/detector_prompts.jsonl" "$DETS" "$0 $*"
run_sam "$OUT/tags/manifest.jsonl" "$MODEL" "$DETS" "$OUT/sam"
evaluate "$OUT/sam/manifest.jsonl" pseudo "$OUT/miou"
train_seg "$OUT/sam/manifest.jsonl" "$OUT/seg"
say "pseudo masks: $OUT/sam/manifest.jsonl"
