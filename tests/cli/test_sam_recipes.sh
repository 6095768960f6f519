#!/usr/bin/env bash
# The SAM recipes (scripts/sam_text.sh, scripts/sam_zeroshot.sh; docs/sam.md) end
# to end on synthetic images with the TorchScript fixture of SAM's interface
# (tests/python/sam_fixture.py) in place of SAM, the ground truth's boxes in place
# of Grounding DINO (answering the captions the recipes write) and a RAM-style
# tags file: the stop-with-instructions path without detections, pseudo masks
# equal to a direct wsss-sam run, mIoU equal to an independent computation,
# staleness, the optional segmentation training, and the make targets.
source "$WSSS_SOURCE/tests/cli/lib.sh"
if ! /usr/bin/python3 -c "import torch, numpy, PIL" 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 lacks torch/numpy/PIL (the SAM fixture is a TorchScript module made with torch)"
  exit 77
fi
/usr/bin/python3 "$WSSS_SOURCE/tests/python/sam_fixture.py" models fx
model=fx/field.pt
wsss-data synth -q --count 6 --size 80x60 --seed 7 data
text="$WSSS_SOURCE/scripts/sam_text.sh"
zeroshot="$WSSS_SOURCE/scripts/sam_zeroshot.sh"
export J=2

# detect CAPTIONS OUT: the "detector": for every caption line and prompt, the
# bounding box of that class in the image's ground truth (score 0.9), nothing for
# a class the image lacks, plus a 0.2 box the threshold must drop.
detect() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
import numpy as np
from PIL import Image
masks = {}
for line in open("data/manifest.jsonl"):
    r = json.loads(line)
    masks[r["id"]] = "data/" + r["mask"]
out = []
for line in open(sys.argv[1]):
    c = json.loads(line)
    assert len(c["prompts"]) == len(c["category_ids"]) and c["text"].endswith(" .")
    gt = np.array(Image.open(masks[c["id"]]))
    for cat in c["category_ids"]:
        ys, xs = np.nonzero(gt == cat)
        if len(xs):
            x0, y0 = int(xs.min()), int(ys.min())
            out.append({"image_id": c["id"], "category_id": cat, "score": 0.9,
                        "bbox": [x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0]})
            out.append({"image_id": c["id"], "category_id": cat, "score": 0.2, "bbox": [0, 0, 10, 10]})
json.dump(out, open(sys.argv[2], "w"))
PY
}

# check_miou MANIFEST TXT: the recipe's mIoU equals one computed here from the PNGs
# (per class over the images: intersection / union, mean over classes seen in either).
check_miou() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, os, re, sys
import numpy as np
from PIL import Image
manifest, txt = sys.argv[1], sys.argv[2]
base = os.path.dirname(manifest)
inter, union = np.zeros(256), np.zeros(256)
for line in open(manifest):
    r = json.loads(line)
    p = np.array(Image.open(os.path.join(base, r["pseudo"])))
    g = np.array(Image.open(os.path.join(base, r["mask"])))
    v = g != 255
    for c in set(np.unique(p[v])) | set(np.unique(g[v])):
        inter[c] += ((p == c) & (g == c) & v).sum()
        union[c] += (((p == c) | (g == c)) & v).sum()
seen = union > 0
want = 100 * (inter[seen] / union[seen]).mean()
got = float(re.search(r"^mIoU ([0-9.]+)", open(txt).read(), re.M).group(1))
print(f"{txt}: mIoU {got}, independent {want:.2f}")
assert abs(got - want) < 0.06, (got, want)
assert got > 20, "box-prompted fixture masks should overlap the objects"
PY
}

# --- text input ------------------------------------------------------------
# No detections yet: the captions are written and the script stops, saying what to run.
expect_exit 1 "$text" exp data/manifest.jsonl $model
assert_grep "no detections at 'exp/text/detections.json'; run the detector" "$T/err"
assert_grep "Captions .*: exp/text/detector_prompts.jsonl" "$T/err"
assert_grep "Rerun: .*sam_text.sh exp data/manifest.jsonl $model" "$T/err"
[ "$(wc -l < exp/text/detector_prompts.jsonl)" = 6 ] || fail "expected 6 caption lines"
[ ! -e exp/text/sam ] || fail "wsss-sam ran without detections"
expect_exit 1 "$text" exp data/manifest.jsonl fx/no_such.pt
assert_grep "SAM model .*'fx/no_such.pt' does not exist" "$T/err"
expect_exit 2 "$text" exp data/manifest.jsonl

detect exp/text/detector_prompts.jsonl exp/text/detections.json
SEG=1 VAL=data/manifest.jsonl SEG_OPTS="--arch resnet18 --width 8 --crop 48 --batch 2 --iters 2" \
  expect_exit 0 "$text" exp data/manifest.jsonl $model
[ "$(ls exp/text/sam/pseudo/*.png | wc -l)" = 6 ] || fail "expected 6 pseudo masks"
assert_grep '"pseudo":"pseudo/' exp/text/sam/manifest.jsonl
assert_grep '^mIoU' exp/text/miou.txt
[ -s exp/text/miou.json ] || fail "no miou.json"
check_miou exp/text/sam/manifest.jsonl exp/text/miou.txt
[ -s exp/text/seg/model.safetensors ] || fail "SEG=1 trained no model"
assert_grep '^mIoU' exp/text/seg/miou.txt
# The recipe's masks are wsss-sam's own with the user's files.
expect_exit 0 wsss-sam -j1 --model $model --detections exp/text/detections.json data/manifest.jsonl direct
assert_same_tree direct/pseudo exp/text/sam/pseudo

# Up to date: nothing reruns; a newer detections file reruns wsss-sam in place.
expect_exit 0 "$text" exp data/manifest.jsonl $model
assert_grep 'exp/text/sam is up to date' "$T/err"
assert_no_grep 'done [0-9]+, skipped' "$T/err"
sleep 1; touch exp/text/detections.json
expect_exit 0 "$text" exp data/manifest.jsonl $model
assert_grep 'done 6, skipped 0, failed 0 of 6' "$T/err"
assert_same_tree direct/pseudo exp/text/sam/pseudo
# Captions newer than the detections (the manifest changed): a warning.
sleep 1; touch data/manifest.jsonl
expect_exit 0 "$text" exp data/manifest.jsonl $model
assert_grep 'warning: exp/text/detections.json is older than the captions' "$T/err"

# A bad detection fails its image in the recipe too: exit 1, failed.txt, no manifest.
/usr/bin/python3 - <<'PY'
import json
d = json.load(open("exp/text/detections.json"))
d[0]["bbox"] = [5, 5, 0, 3]
json.dump(d, open("bad.json", "w"))
PY
expect_exit 1 "$text" bad data/manifest.jsonl $model "$T/bad.json"
assert_grep "bad.json: item 0: bbox \[5,5,0,3\] has zero area" bad/text/sam/failed.txt
[ ! -e bad/text/sam/manifest.jsonl ] || fail "manifest written although an item failed"
# Rerun unchanged: the five good masks are kept, the bad image fails again.
expect_exit 1 "$text" bad data/manifest.jsonl $model "$T/bad.json"
assert_grep 'done 0, skipped 5, failed 1 of 6' "$T/err"
# The detections fixed (a newer file): the unfinished run starts over.
sleep 1; cp exp/text/detections.json bad.json
expect_exit 0 "$text" bad data/manifest.jsonl $model "$T/bad.json"
assert_grep 'done 6, skipped 0, failed 0 of 6' "$T/err"
assert_same_tree direct/pseudo bad/text/sam/pseudo

# --- zero-shot -------------------------------------------------------------
# RAM-style tags: the classes' names or synonyms, noise, an image whose tags name
# no class (all background), a spurious class the detector finds nothing for.
/usr/bin/python3 - <<'PY'
import json
names = dict(enumerate(json.load(open("data/classes.json"))["classes"]))
syn = {"ball": "Sphere", "box": "crate", "kite": "kite", "star": "star", "ring": "hoop", "train": "locomotive"}
lines = []
for i, line in enumerate(open("data/manifest.jsonl")):
    r = json.loads(line)
    if i == 1:
        tags = ["sky", "bush", "starfish"]
    else:
        tags = [syn[names[c]] for c in r["labels"]] + ["bush", "carpet"]
        if i == 2:
            tags.append("toy train" if 6 in r["labels"] else "train")
    lines.append(r["image"].split("/")[-1] + "\t" + " | ".join(tags))
open("ram_tags.txt", "w").write("\n".join(lines) + "\n")
PY
expect_exit 1 "$zeroshot" exp ram_tags.txt data/manifest.jsonl $model
assert_grep "no detections at 'exp/zeroshot/detections.json'" "$T/err"
assert_grep "Captions .*: exp/zeroshot/tags/detector_prompts.jsonl" "$T/err"
assert_grep 'bush' exp/zeroshot/tags/unmatched_tags.tsv
[ "$(wc -l < exp/zeroshot/tags/no_class.txt)" = 1 ] || fail "expected one image without a class"
[ ! -e exp/zeroshot/sam ] || fail "wsss-sam ran without detections"

detect exp/zeroshot/tags/detector_prompts.jsonl exp/zeroshot/detections.json
expect_exit 0 "$zeroshot" exp ram_tags.txt data/manifest.jsonl $model
[ "$(ls exp/zeroshot/sam/pseudo/*.png | wc -l)" = 6 ] || fail "expected 6 pseudo masks"
check_miou exp/zeroshot/sam/manifest.jsonl exp/zeroshot/miou.txt
expect_exit 0 wsss-sam -j1 --model $model --detections exp/zeroshot/detections.json \
  exp/zeroshot/tags/manifest.jsonl direct_zs
assert_same_tree direct_zs/pseudo exp/zeroshot/sam/pseudo
/usr/bin/python3 - <<'PY'
import json
import numpy as np
from PIL import Image
r = [json.loads(l) for l in open("exp/zeroshot/sam/manifest.jsonl")]
none = open("exp/zeroshot/tags/no_class.txt").read().split("\t")[0]
for x in r:
    m = np.array(Image.open("exp/zeroshot/sam/" + x["pseudo"]))
    assert (m.max() == 0) == (x["id"] == none), (x["id"], m.max())
PY

# --- make targets ----------------------------------------------------------
make -s -n -C "$WSSS_SOURCE" sam-text MANIFEST=m.jsonl SAM_MODEL=s.pt EXP=e > make.out
assert_grep 'scripts/sam_text.sh "e" "m.jsonl" "s.pt"' make.out
make -s -n -C "$WSSS_SOURCE" sam-zeroshot TAGS=t.txt MANIFEST=m.jsonl SAM_MODEL=s.pt DETECTIONS=d.json EXP=e > make.out
assert_grep 'scripts/sam_zeroshot.sh "e" "t.txt" "m.jsonl" "s.pt" d.json' make.out
make -s -C "$WSSS_SOURCE" help > make.out
assert_grep '^make sam-text ' make.out
assert_grep '^make sam-zeroshot ' make.out
echo "ok"
