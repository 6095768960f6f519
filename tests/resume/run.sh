#!/usr/bin/env bash
# Kill-and-resume tests (ctest label "resume"; docs/robustness.md, "Kill and
# resume"): every per-image stage and every trainer is killed with SIGKILL at
# seeded random points (tests/resume/killresume.py), resumed with
# --skip-existing / --resume, and must end byte-identical to an uninterrupted
# run with no temporary files left.
#   run.sh fixture            the shared inputs (tiny synthetic data, models, maps)
#   run.sh CASE [POINTS SEED] one stage or trainer (the case names below)
#   run.sh full_disk          stages and a trainer under ulimit -f 4: exit 1, one
#                             line naming the file, nothing partial left
# WSSS_BIN, WSSS_SOURCE, WSSS_TEST_TMP as for the CLI tests.
set -euo pipefail
: "${WSSS_BIN:?}" "${WSSS_SOURCE:?}"
export PATH="$WSSS_BIN:$PATH"
PY=/usr/bin/python3
F=${WSSS_TEST_TMP:-/tmp}/resume-fixture
case_name=${1:?usage: run.sh fixture|full_disk|CASE [POINTS SEED]}
points=${2:-5}
seed=${3:-1}

if [ "$case_name" = fixture ]; then
  rm -rf "$F"
  mkdir -p "$F"
  cd "$F"
  wsss-data synth -q --count 8 --size 48x48 --seed 1 -j2 data
  wsss-classify train -q -j1 --arch resnet18 --width 8 --frozen-stages 0 --train-bn --resize-long 40:56 \
    --crop 48 --batch 4 --epochs 1 data/manifest.jsonl cls
  wsss-cam -q -j2 --model cls/model.safetensors data/manifest.jsonl cam
  wsss-pseudo -q --field cam --ignore irn:0.30:0.05 --crf irn --out-field ir_label cam/manifest.jsonl ir
  wsss-refine irn-train -q -j1 --init cls/model.safetensors --crop 48 --batch 4 --epochs 1 ir/manifest.jsonl irn
  wsss-train-seg train -q -j1 --arch resnet18 --width 8 --crop 48 --batch 2 --iters 2 --field mask \
    data/manifest.jsonl seg
  wsss-data boxes -q data/manifest.jsonl boxes.json
  wsss-classify recam -q -j1 --init cls/model.safetensors --resize-long 40:56 --crop 48 --batch 4 --epochs 1 \
    data/manifest.jsonl recam
  wsss-lpcam cluster -q -j2 --clusters 2 --model cls/model.safetensors cam/manifest.jsonl proto
  # A tagger's output for wsss-tags labels: the synthetic classes by name, one
  # unmatched tag.
  $PY - <<'PYEOF'
import json
names = json.load(open("data/classes.json"))["classes"]
tags = {}
for line in open("data/manifest.jsonl"):
    r = json.loads(line)
    tags[r["id"]] = [names[c] for c in r["labels"]] + ["sky"]
json.dump(tags, open("tags.json", "w"))
PYEOF
  if $PY -c "import numpy, PIL" 2>/dev/null; then
    $PY "$WSSS_SOURCE/tests/cli/data_fixtures.py" voc fake >/dev/null
    $PY "$WSSS_SOURCE/tests/cli/data_fixtures.py" coco fake >/dev/null
  fi
  exit 0
fi

[ -d "$F/data" ] || { echo "FAIL: no fixture at $F (ctest runs 'resume: fixture' first)"; exit 1; }
W=${WSSS_TEST_TMP:-/tmp}/resume-$case_name
rm -rf "$W"
mkdir -p "$W"
KR=("$PY" "$WSSS_SOURCE/tests/resume/killresume.py" --work "$W" --points "$points" --seed "$seed")
need_voc() { [ -d "$F/fake/VOC2012" ] || { echo "SKIP: /usr/bin/python3 lacks numpy/PIL (no VOC/COCO fixture)"; exit 77; }; }

case $case_name in
  # --- per-image stages
  cam) "${KR[@]}" --name wsss-cam --kind stage -- \
         wsss-cam -j2 --model "$F/cls/model.safetensors" "$F/data/manifest.jsonl" OUT ;;
  classify_predict) "${KR[@]}" --name "wsss-classify predict" --kind stage -- \
         wsss-classify predict -j2 --model "$F/cls/model.safetensors" "$F/data/manifest.jsonl" OUT ;;
  crf) "${KR[@]}" --name "wsss-refine crf" --kind stage -- \
         wsss-refine crf -j2 --preset deeplab "$F/cam/manifest.jsonl" OUT ;;
  irn) "${KR[@]}" --name "wsss-refine irn" --kind stage -- \
         wsss-refine irn -j2 --edges --model "$F/irn/model.safetensors" "$F/ir/manifest.jsonl" OUT ;;
  pseudo) "${KR[@]}" --name wsss-pseudo --kind stage -- \
         wsss-pseudo -j2 --field cam --bg-threshold 0.3 --crf deeplab "$F/cam/manifest.jsonl" OUT ;;
  sam_grabcut) "${KR[@]}" --name "wsss-sam --segmenter grabcut" --kind stage -- \
         wsss-sam -j2 --segmenter grabcut --detections "$F/boxes.json" "$F/data/manifest.jsonl" OUT ;;
  seg_predict) "${KR[@]}" --name "wsss-train-seg predict" --kind stage -- \
         wsss-train-seg predict -j2 --flip --model "$F/seg/model.safetensors" "$F/data/manifest.jsonl" OUT ;;
  clip_es)
    $PY -c "import torch, numpy, PIL" 2>/dev/null || { echo "SKIP: /usr/bin/python3 lacks torch (CLIP fixture)"; exit 77; }
    bpe=${WSSS_CLIP_DATA:-$WSSS_SOURCE/../shared/data/clip}/bpe_simple_vocab_16e6.txt.gz
    [ -f "$bpe" ] || { echo "SKIP: $bpe is absent (CLIP's BPE vocabulary)"; exit 77; }
    $PY "$WSSS_SOURCE/tests/python/clip_cli_fixture.py" "$W/fx" >/dev/null
    cp "$bpe" "$W/fx/"
    wsss-data synth -q --count 6 --size 64x48 --seed 3 "$W/data"
    "${KR[@]}" --name wsss-clip-es --kind stage -- \
      wsss-clip-es -j2 --model "$W/fx/model.pt" "$W/data/manifest.jsonl" OUT ;;
  cam_recam) "${KR[@]}" --name "wsss-cam --recam" --kind stage -- \
         wsss-cam -j2 --recam --model "$F/recam/model.safetensors" "$F/data/manifest.jsonl" OUT ;;
  cam_lpcam) "${KR[@]}" --name "wsss-cam --lpcam" --kind stage -- \
         wsss-cam -j2 --lpcam "$F/proto/prototypes.safetensors" --model "$F/cls/model.safetensors" \
           "$F/data/manifest.jsonl" OUT ;;
  lpcam_cluster) "${KR[@]}" --name "wsss-lpcam cluster" --kind whole -- \
         wsss-lpcam cluster -j2 --clusters 2 --model "$F/cls/model.safetensors" "$F/cam/manifest.jsonl" OUT ;;
  viz) "${KR[@]}" --name wsss-viz --kind stage -- \
         wsss-viz -j2 --scores cam --masks mask "$F/cam/manifest.jsonl" OUT ;;
  data_synth) "${KR[@]}" --name "wsss-data synth" --kind stage -- \
         wsss-data synth -j2 --count 12 --size 48x48 --seed 4 OUT ;;
  data_voc) need_voc; "${KR[@]}" --name "wsss-data voc" --kind stage -- \
         wsss-data voc -j2 "$F/fake/VOC2012" OUT --split trainval ;;
  data_coco) need_voc; "${KR[@]}" --name "wsss-data coco" --kind stage -- \
         wsss-data coco -j2 "$F/fake/instances.json" "$F/fake/images" OUT ;;
  tags) "${KR[@]}" --name "wsss-tags labels" --kind whole -- \
         wsss-tags labels "$F/tags.json" "$F/data/manifest.jsonl" OUT ;;
  # --- trainers (-j1: byte-identical only at a fixed -j; checkpoints every unit)
  classify_train) "${KR[@]}" --name "wsss-classify train" --kind train -- \
         wsss-classify train -j1 --arch resnet18 --width 8 --frozen-stages 0 --train-bn --resize-long 40:56 \
           --crop 48 --batch 4 --momentum 0.9 --epochs 3 --save-every 1 "$F/data/manifest.jsonl" OUT ;;
  irn_train) "${KR[@]}" --name "wsss-refine irn-train" --kind train -- \
         wsss-refine irn-train -j1 --init "$F/cls/model.safetensors" --crop 48 --batch 4 --epochs 3 --save-every 1 \
           "$F/ir/manifest.jsonl" OUT ;;
  recam_train) "${KR[@]}" --name "wsss-classify recam" --kind train -- \
         wsss-classify recam -j1 --init "$F/cls/model.safetensors" --resize-long 40:56 --crop 48 --batch 4 \
           --epochs 3 --save-every 1 "$F/data/manifest.jsonl" OUT ;;
  seg_train) "${KR[@]}" --name "wsss-train-seg train" --kind train -- \
         wsss-train-seg train -j1 --arch resnet18 --width 8 --crop 48 --batch 2 --iters 6 --save-every 2 \
           --field mask "$F/data/manifest.jsonl" OUT ;;
  # --- a full disk: each must stop with exit 1 and one line naming the file
  full_disk)
    KF=("${KR[@]}" --full-disk)
    "${KF[@]}" --name wsss-cam --kind stage -- wsss-cam -j2 --model "$F/cls/model.safetensors" "$F/data/manifest.jsonl" OUT
    "${KF[@]}" --name "wsss-refine crf" --kind stage -- wsss-refine crf -j2 "$F/cam/manifest.jsonl" OUT
    "${KF[@]}" --name "wsss-data synth" --kind stage -- wsss-data synth -j2 --count 4 --size 96x96 OUT
    "${KF[@]}" --name "wsss-classify train" --kind train -- \
      wsss-classify train -j1 --arch resnet18 --width 8 --crop 48 --batch 4 --epochs 1 "$F/data/manifest.jsonl" OUT ;;
  *) echo "run.sh: unknown case '$case_name'" >&2; exit 2 ;;
esac
