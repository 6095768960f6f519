# shellcheck shell=bash
# Shared steps of the SAM recipes (scripts/sam_text.sh, scripts/sam_zeroshot.sh;
# docs/sam.md, "Recipes"). Sourced, not run.
#
# Environment: WSSS_BIN (default build/bin), J (threads, default nproc),
# SAM_OPTS (extra wsss-sam options, e.g. "--merge score --max-failed 5"),
# SEG=1 to train wsss-train-seg on the pseudo masks, SEG_OPTS (its options),
# VAL (a validation manifest: the segmentation model is then scored on it).
set -euo pipefail
BIN=${WSSS_BIN:-build/bin}
export PATH="$BIN:$PATH"
J=${J:-$(nproc)}
SAM_OPTS=${SAM_OPTS:-}
SEG=${SEG:-0}
SEG_OPTS=${SEG_OPTS:-}
VAL=${VAL:-}

say() { echo "${0##*/}: $*" >&2; }
die() { say "$*"; exit 1; }

need_file() {  # WHAT FILE
  [ -f "$2" ] || die "$1 '$2' does not exist"
}

# True when DONE exists and is newer than every INPUT: the step is up to date.
fresh() {  # DONE INPUT...
  local done=$1 f; shift
  [ -e "$done" ] || return 1
  for f in "$@"; do [ "$f" -nt "$done" ] && return 1; done
  return 0
}

# Options that continue an interrupted per-image run from its outputs, or
# replace a finished but stale one (as scripts/pipeline.sh).
resume_or_replace() {  # DONE_FILE
  if [ -e "$1" ]; then echo --overwrite; else echo --skip-existing; fi
}

# Stops, saying exactly what the user runs, when the detector's boxes are missing.
# The detector (Grounding DINO) runs outside wsss: its weights and Python stack are
# the user's, and none can be fetched here.
require_detections() {  # CAPTIONS DETECTIONS RERUN_COMMAND
  local captions=$1 dets=$2 rerun=$3
  if [ -f "$dets" ]; then
    [ "$captions" -nt "$dets" ] && say "warning: $dets is older than the captions $captions (rerun the detector?)"
    return 0
  fi
  cat >&2 <<EOF
${0##*/}: no detections at '$dets'; run the detector, then this again.
  Captions (one line per image, one prompt per class): $captions
  1. Run Grounding DINO (or any open-vocabulary detector) on every line of that file:
     for each of its "prompts", caption = prompt.lower().strip() + "." (box threshold 0.3,
     text threshold 0.25, as SAM_WSSS); image = the line's "image", relative to
     $(dirname "$captions").
  2. Write the boxes as COCO results JSON to $dets:
     [{"image_id": <the line's "id">, "category_id": <the prompt's entry of "category_ids">,
       "bbox": [x, y, width, height] in pixels of the original image, "score": <logit>}, ...]
     docs/prompts.md ("Detector prompt file") has a groundingdino sketch that writes it.
  3. Rerun: $rerun
EOF
  exit 1
}

# wsss-sam on MANIFEST with DETECTIONS into OUT; skipped when up to date.
run_sam() {  # MANIFEST MODEL DETECTIONS OUT
  local manifest=$1 model=$2 dets=$3 out=$4
  if fresh "$out/manifest.jsonl" "$manifest" "$model" "$dets"; then
    say "$out is up to date (delete it, or touch an input, to rerun wsss-sam)"
    return 0
  fi
  # An unfinished run continues from its journal, unless an input changed since:
  # then its masks are stale and the run starts over.
  local how=--skip-existing
  if [ -e "$out/manifest.jsonl" ] || { [ -e "$out/.journal.jsonl" ] && ! fresh "$out/.journal.jsonl" "$manifest" "$model" "$dets"; }; then
    how=--overwrite
  fi
  # shellcheck disable=SC2086  # SAM_OPTS holds several options
  wsss-sam -j "$J" $how --model "$model" --detections "$dets" $SAM_OPTS "$manifest" "$out"
}

# Pseudo-mask mIoU against the manifest's ground truth (field mask), with the
# survey's Table-2 groups when the classes are VOC's (--groups auto), into
# NAME.txt and NAME.json. A manifest without ground truth is not scored.
evaluate() {  # MANIFEST FIELD NAME
  local manifest=$1 field=$2 name=$3
  if ! grep -q '"mask"' "$manifest"; then
    say "$manifest has no ground-truth \"mask\" field: not scored"
    return 0
  fi
  wsss-miou -q -j "$J" --overwrite --groups auto --pred "$field" --json "$name.json" "$manifest" > "$name.txt.tmp"
  mv "$name.txt.tmp" "$name.txt"
  say "$(grep -E '^mIoU' "$name.txt") ($name.txt)"
}

# Optional (SEG=1): DeepLab-v2 trained on the pseudo masks; with VAL, predicted and scored there.
train_seg() {  # PSEUDO_MANIFEST OUT_DIR
  [ "$SEG" = 1 ] || return 0
  local manifest=$1 out=$2 resume=
  if fresh "$out/model.safetensors" "$manifest"; then
    say "$out is up to date"
  else
    if [ -e "$out/model.safetensors" ]; then resume=--overwrite; elif [ -e "$out/checkpoint.state" ]; then resume=--resume; fi
    # shellcheck disable=SC2086
    wsss-train-seg train -j "$J" $resume --field pseudo $SEG_OPTS "$manifest" "$out"
  fi
  [ -n "$VAL" ] || return 0
  if ! fresh "$out/pred/manifest.jsonl" "$out/model.safetensors" "$VAL"; then
    wsss-train-seg predict -j "$J" "$(resume_or_replace "$out/pred/manifest.jsonl")" \
      --model "$out/model.safetensors" "$VAL" "$out/pred"
  fi
  evaluate "$out/pred/manifest.jsonl" pred "$out/miou"
}
