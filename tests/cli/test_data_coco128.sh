#!/usr/bin/env bash
# Real data: painting coco128's instances JSON must agree with its reference
# masks (made with ReCAM's annToMask convention) on >= 99.9% of the pixels.
source "$WSSS_SOURCE/tests/cli/lib.sh"
D="$WSSS_SOURCE/../shared/data/coco128"
if [ ! -f "$D/annotations/instances_train2017.json" ]; then
  echo "SKIP: $D not found (the shared data sets live beside the checkout)"
  exit 0
fi
expect_exit 0 wsss-data coco "$D/annotations/instances_train2017.json" "$D/images/train2017" imp
[ "$(wc -l < imp/manifest.jsonl)" = 100 ] || fail "coco128 has 100 images"
assert_grep '"name": "coco"' imp/classes.json
expect_exit 0 wsss-data check imp/manifest.jsonl --decode
/usr/bin/python3 - imp/masks "$D/reference_masks" <<'PY' || fail "agreement with the reference masks below 99.9%"
import os, sys
import numpy as np
from PIL import Image
got, ref = sys.argv[1], sys.argv[2]
names = sorted(os.listdir(ref))
assert sorted(os.listdir(got)) == names, "mask file sets differ"
agree = total = 0
worst = (2.0, "")
for n in names:
    a, b = np.array(Image.open(os.path.join(got, n))), np.array(Image.open(os.path.join(ref, n)))
    assert a.shape == b.shape, n
    same = int((a == b).sum())
    agree += same
    total += a.size
    worst = min(worst, (same / a.size, n))
print(f"coco128: {agree}/{total} pixels agree ({100 * agree / total:.4f}%), per-image minimum "
      f"{100 * worst[0]:.4f}% ({worst[1]})")
sys.exit(0 if agree >= 0.999 * total else 1)
PY
# Labels: the categories of all annotations (crowd included), in 1..80.
/usr/bin/python3 - imp/manifest.jsonl "$D/annotations/instances_train2017.json" <<'PY' || fail "labels differ from the JSON"
import json, sys
recs = {json.loads(l)["id"]: json.loads(l)["labels"] for l in open(sys.argv[1])}
d = json.load(open(sys.argv[2]))
cmap = {c["id"]: i + 1 for i, c in enumerate(sorted(d["categories"], key=lambda c: c["id"]))}
want = {f"{im['id']:012d}": set() for im in d["images"]}
for a in d["annotations"]:
    want[f"{a['image_id']:012d}"].add(cmap[a["category_id"]])
assert recs == {k: sorted(v) for k, v in want.items()}
PY
echo PASS
