#!/usr/bin/env bash
# wsss-pseudo and wsss-refine crf on hand-made score maps: outputs, agreement
# with wsss-miou's own thresholding, determinism, shards, resume, bad input.
source "$WSSS_SOURCE/tests/cli/lib.sh"
if ! /usr/bin/python3 -c "import numpy, PIL" 2>/dev/null; then echo "SKIP: /usr/bin/python3 lacks numpy/PIL"; exit 77; fi
wsss-data synth -q --count 12 --size 48x40 --seed 3 data
# Score maps from the GT with noise: a stand-in for CAMs with known structure.
/usr/bin/python3 - <<'PY'
import json, os
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
os.makedirs("cams/cam", exist_ok=True)
out = []
for line in open("data/manifest.jsonl"):
    r = json.loads(line)
    gt = np.array(Image.open(os.path.join("data", r["mask"])))
    maps = np.stack([(gt == c) * 0.7 + rng.random(gt.shape) * 0.4 for c in r["labels"]]).astype(np.float32)
    np.save(f"cams/cam/{r['id']}.npy", maps)
    r.update(image="../data/" + r["image"], mask="../data/" + r["mask"], cam=f"cam/{r['id']}.npy", cam_classes=r["labels"])
    out.append(json.dumps(r))
# An image whose map has a class that is not among its labels, for the bad-input case.
open("cams/manifest.jsonl", "w").write("\n".join(out) + "\n")
r = json.loads(out[0]); r["cam_classes"] = [c for c in range(1, 7) if c not in r["labels"]][:len(r["labels"])]
open("cams/bad_class.jsonl", "w").write(json.dumps(r) + "\n")
PY
cp data/classes.json cams/

expect_exit 0 wsss-pseudo --help
assert_grep '^Usage:' "$T/out"; assert_grep '^e.g.:' "$T/out"; assert_grep '^See also:' "$T/out"
expect_exit 0 wsss-refine crf --help
assert_grep '^Usage:' "$T/out"

# Pseudo labels at a threshold score exactly what wsss-miou scores for the same threshold.
expect_exit 0 wsss-pseudo -j2 --bg-threshold 0.5 cams/manifest.jsonl p1
assert_summary
expect_exit 0 wsss-miou --pred pseudo p1/manifest.jsonl
grep '^mIoU' "$T/out" | cut -d' ' -f2 > via_pseudo
expect_exit 0 wsss-miou --pred cam --bg-threshold 0.5 cams/manifest.jsonl
grep '^mIoU' "$T/out" | cut -d' ' -f2 > via_miou
cmp via_pseudo via_miou || fail "pseudo at 0.5 ($(cat via_pseudo)) differs from miou at 0.5 ($(cat via_miou))"
/usr/bin/python3 -c "
from PIL import Image; im = Image.open('p1/pseudo/$(head -1 data/manifest.jsonl | sed 's/.*\"id\":\"\([^\"]*\)\".*/\1/').png')
assert im.mode == 'P', im.mode"

# -j1 equals -j2; shards merge to the whole; --skip-existing changes nothing.
expect_exit 0 wsss-pseudo -j1 --bg-threshold 0.5 cams/manifest.jsonl p2
assert_same_tree p1 p2
expect_exit 0 wsss-pseudo --shard 1/2 --bg-threshold 0.5 cams/manifest.jsonl p3
expect_exit 0 wsss-pseudo --shard 2/2 --bg-threshold 0.5 cams/manifest.jsonl p3
expect_exit 0 wsss-data merge p3
cmp p3/manifest.jsonl p1/manifest.jsonl || fail "merged shards differ from the unsharded manifest"
cp -a p1 p1.before
expect_exit 0 wsss-pseudo --skip-existing --bg-threshold 0.5 cams/manifest.jsonl p1
assert_grep 'done 0, skipped 12, failed 0 of 12' "$T/err"
assert_same_tree p1 p1.before
expect_exit 1 wsss-pseudo --bg-threshold 0.5 cams/manifest.jsonl p1
assert_grep 'output exists' "$T/err"

# IR labels (IRN): two thresholds through the IRN CRF give some 255.
expect_exit 0 wsss-pseudo -j2 --ignore irn:0.6:0.3 --crf irn --out-field ir_label cams/manifest.jsonl ir
assert_grep '"ir_label":"ir_label/' ir/manifest.jsonl
/usr/bin/python3 -c "
import glob, numpy as np; from PIL import Image
v = np.concatenate([np.array(Image.open(f)).ravel() for f in glob.glob('ir/ir_label/*.png')])
assert (v == 255).any() and (v == 0).any() and ((v > 0) & (v < 255)).any(), np.unique(v)"
expect_exit 2 wsss-pseudo --ignore irn --bg-threshold 0.2 cams/manifest.jsonl ir2

# CRF refinement: marginals with a background channel, which pseudo and miou take as they are.
expect_exit 0 wsss-refine crf -j2 --preset deeplab cams/manifest.jsonl crf
assert_grep '"refined_classes":\[0,' crf/manifest.jsonl
expect_exit 0 wsss-pseudo --field refined crf/manifest.jsonl p4
expect_exit 0 wsss-miou --pred refined crf/manifest.jsonl
grep '^mIoU' "$T/out" | cut -d' ' -f2 > via_refined
expect_exit 0 wsss-miou --pred pseudo p4/manifest.jsonl
grep '^mIoU' "$T/out" | cut -d' ' -f2 > via_p4
cmp via_refined via_p4 || fail "argmax of the CRF marginals scores differently through pseudo and miou"
expect_exit 1 wsss-miou --pred refined --bg-sweep 0.1:0.5:0.1 crf/manifest.jsonl
assert_grep 'background channel' "$T/err"

# CRF on label masks (--mask-field): pydensecrf's label unary over background, the
# record's labels and the mask's classes; the marginals go through pseudo as above.
# The pseudo masks of p1 get some unsure (255) pixels first.
/usr/bin/python3 -c "
import glob, numpy as np; from PIL import Image
for f in sorted(glob.glob('p1/pseudo/*.png'))[:4]:
    im = Image.open(f); a = np.array(im); a[::7, ::5] = 255
    out = Image.fromarray(a, mode='P'); out.putpalette(im.getpalette()); out.save(f)"
expect_exit 0 wsss-refine crf -j2 --mask-field pseudo p1/manifest.jsonl mcrf
assert_summary
assert_grep '"refined_classes":\[0,' mcrf/manifest.jsonl
/usr/bin/python3 - <<'PY'
import json, numpy as np
from PIL import Image
for line in open("mcrf/manifest.jsonl"):
    r = json.loads(line)
    q = np.load("mcrf/" + r["refined"])
    mask = np.array(Image.open("p1/" + r["pseudo"]))
    want = sorted(set([0] + r["labels"] + [int(v) for v in np.unique(mask) if v != 255]))
    assert r["refined_classes"] == want, (r["id"], r["refined_classes"], want)
    assert q.shape == (len(want),) + mask.shape and q.dtype == np.float32, q.shape
    assert np.allclose(q.sum(0), 1, atol=1e-5) and np.isfinite(q).all()
    # Mostly the mask's own class: the CRF smooths, it does not relabel the image.
    arg = np.array(want)[q.argmax(0)]
    sure = mask != 255
    assert (arg[sure] == mask[sure]).mean() > 0.9, (r["id"], (arg[sure] == mask[sure]).mean())
PY
expect_exit 0 wsss-refine crf -j1 --mask-field pseudo p1/manifest.jsonl mcrf1
assert_same_tree mcrf mcrf1
expect_exit 0 wsss-pseudo --field refined mcrf/manifest.jsonl mp
expect_exit 0 wsss-miou --pred pseudo mp/manifest.jsonl
# The preset, --iterations and --gt-prob change the result; nonsense is a usage error.
expect_exit 0 wsss-refine crf --mask-field pseudo --preset psa --iterations 3 --gt-prob 0.9 p1/manifest.jsonl mcrf2
cmp -s "mcrf/refined/$(ls mcrf/refined | head -1)" "mcrf2/refined/$(ls mcrf/refined | head -1)" && fail "options changed nothing"
expect_exit 2 wsss-refine crf --mask-field pseudo --gt-prob 1 p1/manifest.jsonl bad7
assert_grep 'gt-prob' "$T/err"
expect_exit 2 wsss-refine crf --gt-prob 0.5 cams/manifest.jsonl bad8
expect_exit 2 wsss-refine crf --mask-field pseudo --field cam p1/manifest.jsonl bad9
expect_exit 2 wsss-refine crf --mask-field pseudo --bg-power 2 p1/manifest.jsonl bad10
expect_exit 2 wsss-refine crf --mask-field labels p1/manifest.jsonl bad11
assert_grep 'not a label-mask field' "$T/err"
# A mask value beyond the vocabulary, and a mask of the wrong size, fail that item, named.
mkdir -p badmask && cp -r p1/pseudo badmask/ && cp p1/classes.json badmask/
sed 's#"pseudo":"#"pseudo":"../p1/#' p1/manifest.jsonl > badmask/manifest.jsonl
first=$(head -1 data/manifest.jsonl | sed 's/.*"id":"\([^"]*\)".*/\1/')
second=$(sed -n 2p data/manifest.jsonl | sed 's/.*"id":"\([^"]*\)".*/\1/')
/usr/bin/python3 -c "
import numpy as np; from PIL import Image
a = np.array(Image.open('p1/pseudo/$first.png')); a[3, 4] = 40; Image.fromarray(a, mode='L').save('badmask/v.png')
Image.fromarray(np.zeros((5, 6), np.uint8), mode='L').save('badmask/s.png')"
sed -i "s#\"pseudo\":\"[^\"]*$first.png\"#\"pseudo\":\"v.png\"#; s#\"pseudo\":\"[^\"]*$second.png\"#\"pseudo\":\"s.png\"#" badmask/manifest.jsonl
expect_exit 0 wsss-refine crf --mask-field pseudo --max-failed 2 badmask/manifest.jsonl bad12
assert_grep "v.png: value 40 is not a class id" "$T/err"
assert_grep "s.png: mask is 6x5 but the image of item '$second' is" "$T/err"

# Bad input: each names the item or file, fails the item, and leaves no manifest.
expect_exit 1 wsss-pseudo cams/bad_class.jsonl bad1
assert_grep "is not among the image's labels" "$T/err"
[ ! -e bad1/manifest.jsonl ] || fail "manifest written despite a failed item"
first=$(head -1 data/manifest.jsonl | sed 's/.*"id":"\([^"]*\)".*/\1/')
/usr/bin/python3 -c "
import numpy as np; a = np.load('cams/cam/$first.npy'); a[0, 0, 0] = np.nan; np.save('cams/cam/$first.npy', a)"
expect_exit 1 wsss-pseudo cams/manifest.jsonl bad2
assert_grep "$first.npy: score map holds NaN or Inf" "$T/err"
assert_grep "failed 1 of 12" "$T/err"
/usr/bin/python3 -c "
import numpy as np; np.save('cams/cam/$first.npy', np.zeros((1, 5, 5), np.float32))"
expect_exit 1 wsss-pseudo --max-failed 0 cams/manifest.jsonl bad3
assert_grep "$first.npy: score map has 1 channels|differs" "$T/err"
expect_exit 0 wsss-pseudo --max-failed 1 cams/manifest.jsonl bad4
assert_grep "^$first" bad4/failed.txt
assert_no_grep "\"$first\"" bad4/manifest.jsonl
expect_exit 2 wsss-pseudo --shard 3/2 cams/manifest.jsonl bad5
expect_exit 2 wsss-refine crf --preset nope cams/manifest.jsonl bad6
echo "all pseudo/refine CLI checks passed"
