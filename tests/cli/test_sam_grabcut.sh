#!/usr/bin/env bash
# wsss-sam --segmenter grabcut (no weights) and the oracle detector wsss-data
# boxes: GT boxes -> GrabCut reach a high mIoU against the GT, jittered boxes
# score lower, CAM prompts run, the output is byte-identical for any -j and
# shard, and the usage errors of the segmenter options.
source "$WSSS_SOURCE/tests/cli/lib.sh"
wsss-data synth -q --count 12 --size 96x72 --seed 3 data

expect_exit 0 wsss-data boxes --help
assert_grep 'box-supervised upper bound' "$T/out"
expect_exit 0 wsss-data boxes data/manifest.jsonl boxes.json
assert_grep 'box\(es\) in 12 of 12 image' "$T/err"
# One box per 8-connected component of each class (the unit test checks the
# boxes themselves): at least one box per image label, every score 1.
labels=$(grep -o '"labels":\[[^]]*\]' data/manifest.jsonl | awk -F, '{n += NF} END {print n}')
boxes=$(grep -o '"bbox"' boxes.json | wc -l)
[ "$boxes" -ge "$labels" ] || fail "$boxes boxes for $labels labels"
[ "$(grep -o '"score":[0-9.]*' boxes.json | sort -u)" = '"score":1.0' ] || fail "oracle boxes without score 1"
expect_exit 1 wsss-data boxes data/manifest.jsonl boxes.json
assert_grep 'exists' "$T/err"
expect_exit 0 wsss-data boxes --jitter 0.25 --seed 2 data/manifest.jsonl jitter.json
expect_exit 0 wsss-data boxes --jitter 0.25 --seed 2 data/manifest.jsonl jitter2.json
cmp -s jitter.json jitter2.json || fail "jittered boxes differ for the same seed"
cmp -s jitter.json boxes.json && fail "jitter changed nothing"
expect_exit 2 wsss-data boxes --jitter 1.5 data/manifest.jsonl j3.json

# GT boxes -> GrabCut: close to the GT (the synthetic shapes are flat colours on
# a textured background); the same boxes moved by up to 25% score lower.
expect_exit 0 wsss-sam -j2 --segmenter grabcut --detections boxes.json data/manifest.jsonl g1
assert_summary
assert_grep 'prompts \(GrabCut\)' "$T/err"
expect_exit 0 wsss-miou --pred pseudo g1/manifest.jsonl
miou=$(awk '/^mIoU/ {print $2}' "$T/out")
awk "BEGIN { exit !($miou > 75) }" || fail "GT boxes -> GrabCut mIoU $miou, expected > 75"
expect_exit 0 wsss-sam -j2 --segmenter grabcut --detections jitter.json --box-threshold 0 data/manifest.jsonl g2
expect_exit 0 wsss-miou --pred pseudo g2/manifest.jsonl
jmiou=$(awk '/^mIoU/ {print $2}' "$T/out")
awk "BEGIN { exit !($jmiou < $miou) }" || fail "jittered boxes ($jmiou) not below GT boxes ($miou)"

# Byte-identical for -j1, -j2 and shards (GrabCut's k-means is seeded per image and prompt).
expect_exit 0 wsss-sam -j1 --segmenter grabcut --detections boxes.json data/manifest.jsonl g3
assert_same_tree g1 g3
expect_exit 0 wsss-sam --shard 1/2 --segmenter grabcut --detections boxes.json data/manifest.jsonl g4
expect_exit 0 wsss-sam --shard 2/2 --segmenter grabcut --detections boxes.json data/manifest.jsonl g4
expect_exit 0 wsss-data merge g4
cmp g4/manifest.jsonl g1/manifest.jsonl || fail "merged shards differ from the unsharded manifest"
for f in g1/pseudo/*.png; do cmp -s "$f" "g4/pseudo/${f##*/}" || fail "shard output differs: $f"; done

# CAM prompts from score maps made of the GT (Python writes the .npy files, so
# this part needs /usr/bin/python3 with numpy; wsss-cam's own maps are used by
# scripts/sam_measure.sh).
if /usr/bin/python3 -c "import numpy, PIL" 2>/dev/null; then
  /usr/bin/python3 - <<'PY'
import json, os
import numpy as np
from PIL import Image
os.makedirs("cams/cam", exist_ok=True)
out = []
for line in open("data/manifest.jsonl"):
    r = json.loads(line)
    gt = np.array(Image.open("data/" + r["mask"]))
    maps = np.stack([(gt == c).astype(np.float32) * 0.8 + 0.1 for c in r["labels"]])
    np.save(f"cams/cam/{r['id']}.npy", maps)
    r.update(image="../data/" + r["image"], mask="../data/" + r["mask"], cam=f"cam/{r['id']}.npy", cam_classes=r["labels"])
    out.append(json.dumps(r))
open("cams/manifest.jsonl", "w").write("\n".join(out) + "\n")
PY
  cp data/classes.json cams/
  for mode in box point box+point; do
    expect_exit 0 wsss-sam -j2 --segmenter grabcut --cam-prompts $mode --merge score+ignore cams/manifest.jsonl c_$mode
    expect_exit 0 wsss-miou --pred pseudo c_$mode/manifest.jsonl
    assert_grep '^mIoU' "$T/out"
  done
  expect_exit 0 wsss-sam -j1 --segmenter grabcut --cam-prompts box+point --merge score+ignore cams/manifest.jsonl c_j1
  assert_same_tree c_box+point c_j1
fi

# Usage errors: a model file with grabcut, multimask with grabcut, no model for sam, bad iterations.
expect_exit 2 wsss-sam --segmenter grabcut --model x.pt --detections boxes.json data/manifest.jsonl u1
assert_grep 'grabcut needs no model' "$T/err"
expect_exit 2 wsss-sam --segmenter grabcut --multimask --detections boxes.json data/manifest.jsonl u2
expect_exit 2 wsss-sam --detections boxes.json data/manifest.jsonl u3
assert_grep 'model FILE is required' "$T/err"
expect_exit 2 wsss-sam --segmenter grabcut --grabcut-iterations 0 --detections boxes.json data/manifest.jsonl u4
expect_exit 2 wsss-sam --segmenter slic --detections boxes.json data/manifest.jsonl u5
for u in u1 u2 u3 u4 u5; do [ ! -e $u ] || fail "$u: output written on a usage error"; done
echo "ok"
