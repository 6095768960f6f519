#!/usr/bin/env bash
# wsss-data coco on a tiny instances JSON: polygons, compressed and
# uncompressed RLE, crowd handling, painting order, custom categories, shards.
source "$WSSS_SOURCE/tests/cli/lib.sh"
/usr/bin/python3 "$WSSS_SOURCE/tests/cli/data_fixtures.py" coco fake

expect_exit 0 wsss-data coco fake/instances.json fake/images imp -j 2
assert_summary
[ "$(wc -l < imp/manifest.jsonl)" = 4 ] || fail "4 images expected"
# Crowd-only category 4 is a label of image 42 but never painted; image 99 has no annotations.
assert_grep '^\{"id":"000000000042","image":"../fake/images/000000000042.jpg","labels":\[1,2,3,4\],"mask":"masks/000000000042.png"\}$' imp/manifest.jsonl
assert_grep '^\{"id":"000000000099","image":"[^"]*","labels":\[\],"mask":"masks/000000000099.png"\}$' imp/manifest.jsonl
assert_grep '"classes": \["background","person","car","dog","toothbrush"\]' imp/classes.json
# Masks equal the ones painted independently in Python (PIL polygons, numpy RLE).
/usr/bin/python3 - imp/masks fake/expected <<'PY' || fail "masks differ from the expected ones"
import os, sys
import numpy as np
from PIL import Image
got, want = sys.argv[1], sys.argv[2]
names = sorted(os.listdir(want))
assert sorted(os.listdir(got)) == names, (os.listdir(got), names)
for n in names:
    a, b = np.array(Image.open(os.path.join(got, n))), np.array(Image.open(os.path.join(want, n)))
    assert Image.open(os.path.join(got, n)).mode == "P", n
    assert a.shape == b.shape and (a == b).all(), (n, int((a != b).sum()))
    assert 4 not in a, n
PY
expect_exit 0 wsss-data check imp/manifest.jsonl --decode

# Deterministic whatever -j; sharded runs merge to the unsharded result.
expect_exit 0 wsss-data coco fake/instances.json fake/images j1 -j 1
assert_same_tree imp j1
for j in 1 2 3; do expect_exit 0 wsss-data coco fake/instances.json fake/images shards --shard $j/3; done
expect_exit 0 wsss-data merge shards
cmp -s shards/manifest.jsonl imp/manifest.jsonl || fail "merged shards differ from the unsharded run"
cmp -s shards/classes.json imp/classes.json || fail "classes.json differs"
for f in imp/masks/*.png; do cmp -s "$f" "shards/masks/$(basename "$f")" || fail "mask $f differs"; done

# --shard out of range: usage error, nothing written.
expect_exit 2 wsss-data coco fake/instances.json fake/images bad --shard 3/2
assert_grep 'shard 3/2: J must be within 1..2' "$T/err"
[ ! -e bad/manifest.jsonl ] || fail "manifest left"

# Bad JSON and bad references name the file and the annotation.
printf '{"images": [' > broken.json
expect_exit 1 wsss-data coco broken.json fake/images bad
assert_grep 'broken.json: malformed JSON' "$T/err"
[ ! -e bad/manifest.jsonl ] || fail "manifest left"
/usr/bin/python3 -c "
import json; d = json.load(open('fake/instances.json')); d['annotations'][1]['category_id'] = 77
json.dump(d, open('badcat.json', 'w'))"
expect_exit 1 wsss-data coco badcat.json fake/images bad
assert_grep 'badcat.json: annotation 101: unknown category_id 77' "$T/err"
[ ! -e bad/manifest.jsonl ] || fail "manifest left"
/usr/bin/python3 -c "
import json; d = json.load(open('fake/instances.json'))
a = [a for a in d['annotations'] if isinstance(a['segmentation'], dict) and isinstance(a['segmentation']['counts'], str)][0]
a['segmentation']['counts'] = a['segmentation']['counts'][:-1] + 'z'
json.dump(d, open('badrle.json', 'w'))"
expect_exit 1 wsss-data coco badrle.json fake/images bad
assert_grep 'badrle.json: annotation [0-9]+: (bad segmentation: )?(RLE runs cover|compressed RLE)' "$T/err"
[ ! -e bad/manifest.jsonl ] || fail "manifest left"
# A missing image fails its item (named), and the run.
rm fake/images/000000000007.jpg
expect_exit 1 wsss-data coco fake/instances.json fake/images bad
assert_grep "item '000000000007' failed: .*instances.json: image 7: image .*000000000007.jpg not found" "$T/err"
[ ! -e bad/manifest.jsonl ] || fail "manifest left"
echo PASS

# The JSON's width and height must match the image file: a mask painted at
# another size would not fit its image (it used to be written anyway).
/usr/bin/python3 - <<'PY'
import json
d = json.load(open("fake/instances.json"))
im = next(i for i in d["images"] if i["id"] == 99)
im["height"] = im["height"] - 7
json.dump(d, open("fake/wrong_size.json", "w"))
PY
expect_exit 1 wsss-data coco fake/wrong_size.json fake/images wrong -j 2
assert_grep "wrong_size.json: image 99 \(.*000000000099.jpg\): the JSON says [0-9]+x[0-9]+ but the file is [0-9]+x[0-9]+ \(width x height\)" "$T/err"
[ -e wrong/manifest.jsonl ] && fail "a manifest was written despite the size mismatch"
[ -e wrong/masks/000000000099.png ] && fail "a mask of the wrong size was written"
true
