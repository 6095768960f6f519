#!/usr/bin/env bash
# Saliency as an input (issue #13): wsss-data synth --saliency (deterministic,
# images unchanged), wsss-data join --folder, wsss-pseudo --saliency (OAA's rule
# on score maps, -j/shard byte identity, a better mask than the CAM threshold on
# the stand-in, option conflicts, bad saliency maps).
source "$WSSS_SOURCE/tests/cli/lib.sh"

expect_exit 0 wsss-data synth -j1 --count 24 --size 64x48 --seed 3 --saliency s1
expect_exit 0 wsss-data synth -j2 --count 24 --size 64x48 --seed 3 --saliency s2
assert_same_tree s1 s2
expect_exit 0 wsss-data synth -j2 --count 24 --size 64x48 --seed 3 plain
for f in plain/images/*.png plain/masks/*.png; do cmp -s "$f" "s1/${f#plain/}" || fail "--saliency changed $f"; done
assert_grep '"mask":"masks/s000000.png","saliency":"saliency/s000000.png"' s1/manifest.jsonl
/usr/bin/python3 -c "
from PIL import Image; import numpy as np
a = Image.open('s1/saliency/s000000.png'); assert a.mode == 'L' and a.size == (64, 48), (a.mode, a.size)
" || fail "saliency PNG is not 8-bit greyscale of the image's size"

# Importing a folder by id.
expect_exit 0 wsss-data join plain/manifest.jsonl --folder s1/saliency --take saliency -o joined/manifest.jsonl
/usr/bin/python3 - <<'PY' || fail "join --folder records differ"
import json
a = [json.loads(l) for l in open("joined/manifest.jsonl")]
b = [json.loads(l) for l in open("s1/manifest.jsonl")]
assert [r["saliency"] for r in a] == ["../s1/" + r["saliency"] for r in b], (a[0], b[0])
PY
mkdir part && cp s1/saliency/s00000[0-4].png part/
expect_exit 1 wsss-data join plain/manifest.jsonl --folder part --take saliency -o j2.jsonl
assert_grep "part: no s000005.png or s000005.npy for item 's000005'" "$T/err"
expect_exit 2 wsss-data join plain/manifest.jsonl --folder part --take saliency:sal -o j3.jsonl
expect_exit 2 wsss-data join plain/manifest.jsonl --folder part --take labels -o j3.jsonl

# Score maps made from the GT classes (so no network is needed): uniform in
# [0.3, 1] on the class, [0, 0.7] elsewhere, so no threshold separates them.
/usr/bin/python3 - <<'PY'
import json, os, numpy as np
from PIL import Image
os.makedirs("maps/cam", exist_ok=True)
rng = np.random.default_rng(0)
out = []
for line in open("s1/manifest.jsonl"):
    r = json.loads(line)
    gt = np.array(Image.open("s1/" + r["mask"]))
    maps = []
    for c in r["labels"]:
        r01 = rng.random(gt.shape, dtype=np.float32)
        maps.append(np.where(gt == c, 0.3 + 0.7 * r01, 0.7 * r01))
    a = np.stack(maps).astype(np.float32)
    np.save("maps/cam/%s.npy" % r["id"], a)
    r["image"] = "../s1/" + r["image"]; r["mask"] = "../s1/" + r["mask"]; r["saliency"] = "../s1/" + r["saliency"]
    r["cam"] = "cam/%s.npy" % r["id"]; r["cam_classes"] = r["labels"]
    out.append(json.dumps(r))
open("maps/manifest.jsonl", "w").write("\n".join(out) + "\n")
open("maps/classes.json", "w").write(open("s1/classes.json").read())
PY
expect_exit 0 wsss-pseudo -j1 --saliency saliency maps/manifest.jsonl p1
assert_summary
expect_exit 0 wsss-pseudo -j2 --saliency saliency maps/manifest.jsonl p2
assert_same_tree p1 p2
expect_exit 0 wsss-pseudo -j2 --saliency saliency --shard 1/2 maps/manifest.jsonl p3
expect_exit 0 wsss-pseudo -j2 --saliency saliency --shard 2/2 maps/manifest.jsonl p3
expect_exit 0 wsss-data merge p3
cmp p1/manifest.jsonl p3/manifest.jsonl || fail "shards differ"

# The rule against a NumPy transcription of OAA's gen_gt.py on the same inputs.
/usr/bin/python3 - <<'PY' || fail "wsss-pseudo --saliency differs from OAA's gen_gt rule"
import json, numpy as np
from PIL import Image
for line in open("p1/manifest.jsonl"):
    r = json.loads(line)
    sal = np.array(Image.open("p1/" + r["saliency"])).astype(np.float32)
    cams = np.load("p1/" + r["cam"])
    h, w = sal.shape
    gt = np.zeros((7, h, w), np.float32)
    gt[0] = 1 - sal / 255
    sal_att = sal.copy()
    for i, c in enumerate(r["cam_classes"]):
        att = cams[i].astype(np.float64)
        att = (att - att.min()) / (att.max() - att.min() + 1e-8)
        gt[c] = att
        sal_att = np.maximum(sal_att, (att > 0.8) * 255)
    gt[gt < 0.3] = 0
    conflict = (gt > 0.9).sum(0)
    lab = gt.argmax(0).astype(np.uint8)
    lab[conflict > 1] = 255
    lab[(sal_att >= 32) & (lab == 0)] = 255
    if ((lab > 0) & (lab < 255)).sum() < 0.01 * h * w:
        lab[...] = 255
    got = np.array(Image.open("p1/" + r["pseudo"]))
    diff = (got != lab).sum()
    assert diff <= 2, (r["id"], diff)  # float32 vs float64 rounding at a threshold
PY

# On these maps saliency removes the background leak that a threshold keeps.
expect_exit 0 wsss-miou --pred pseudo p1/manifest.jsonl
sal_miou=$(grep -oE '^mIoU [0-9.]+' "$T/out" | cut -d' ' -f2)
expect_exit 0 wsss-miou --pred cam --bg-sweep 0.05:0.95:0.05 maps/manifest.jsonl
cam_miou=$(grep -oE '^mIoU [0-9.]+' "$T/out" | cut -d' ' -f2)  # at the best threshold
awk -v s="$sal_miou" -v c="$cam_miou" 'BEGIN { exit !(s > c) }' || fail "saliency mIoU $sal_miou not above CAM's best $cam_miou"

# Options: every threshold changes the result, conflicts are refused.
expect_exit 0 wsss-pseudo --saliency saliency --sal-threshold 0.5 maps/manifest.jsonl p4
cmp -s p1/pseudo/s000000.png p4/pseudo/s000000.png && cmp -s p1/pseudo/s000001.png p4/pseudo/s000001.png \
  && fail "--sal-threshold changed nothing"
expect_exit 2 wsss-pseudo --saliency saliency --bg-threshold 0.2 maps/manifest.jsonl bad
expect_exit 2 wsss-pseudo --saliency saliency --ignore irn maps/manifest.jsonl bad
expect_exit 2 wsss-pseudo --saliency saliency --crf irn maps/manifest.jsonl bad
expect_exit 2 wsss-pseudo --saliency saliency --sal-conflict 1.5 maps/manifest.jsonl bad

# Bad saliency maps fail their item, naming the file.
/usr/bin/python3 - <<'PY'
import json, numpy as np
rows = [json.loads(l) for l in open("maps/manifest.jsonl")]
np.save("maps/big.npy", np.full((48, 64), 1.5, np.float32))
np.save("maps/small.npy", np.zeros((20, 20), np.float32))
rows[0]["saliency"] = "big.npy"; rows[1]["saliency"] = "small.npy"; rows[2]["saliency"] = "none.png"
open("maps/bad.jsonl", "w").write("".join(json.dumps(r) + "\n" for r in rows[:4]))
PY
expect_exit 1 wsss-pseudo --saliency saliency maps/bad.jsonl bad
assert_grep "s000000.*big.npy: saliency 1.500000 at \(x=0, y=0\) is outside \[0, 1\]" bad/failed.txt
assert_grep "s000001.*small.npy: saliency map is 20x20 but the image is 64x48" bad/failed.txt
assert_grep "s000002.*none.png: saliency map does not exist" bad/failed.txt
[ ! -e bad/manifest.jsonl ] || fail "manifest written despite failed items"
echo OK
