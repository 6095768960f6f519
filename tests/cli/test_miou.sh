#!/usr/bin/env bash
# wsss-miou: exit codes, a hand-computed golden case, shards and merging, -j
# independence, --missing modes, and score maps (threshold, power, sweep)
# checked against a NumPy re-implementation of IRN's eval_cam / chainercv.
source "$WSSS_SOURCE/tests/cli/lib.sh"
PY=/usr/bin/python3

expect_exit 0 wsss-miou --help
assert_grep "bg-sweep" "$T/out"
expect_exit 2 wsss-miou
expect_exit 2 wsss-miou m.jsonl --bg-threshold 0.2 --bg-sweep 0.1:0.2:0.1
expect_exit 1 wsss-miou nonexistent.jsonl

# --- Golden: two images, IoUs computed by hand ------------------------------
mkdir golden
cat > golden/classes.json <<'JSON'
{"format": "wsss-classes", "version": 1, "name": "pets", "classes": ["background", "cat", "dog"], "ignore": 255}
JSON
$PY - <<'PYEOF'
from PIL import Image
import numpy as np
def save(name, rows):
    Image.fromarray(np.array(rows, dtype=np.uint8), mode="L").save("golden/" + name)
save("a_gt.png",   [[0, 0, 1, 1], [0, 0, 1, 1]])
save("a_pred.png", [[0, 0, 1, 1], [0, 1, 1, 0]])
save("b_gt.png",   [[2, 2, 255], [2, 0, 0]])
save("b_pred.png", [[2, 1, 1], [255, 0, 2]])
save("c_bad.png",  [[0, 0, 1, 1], [7, 0, 0, 0]])
PYEOF
cat > golden/m.jsonl <<'JSON'
{"id":"a","mask":"a_gt.png","pred":"a_pred.png"}
{"id":"b","mask":"b_gt.png","pred":"b_pred.png"}
JSON
# Confusion (rows GT, cols pred): bg [4 1 1], cat [1 3 0], dog [0 1 1] + 1 predicted 255.
# bg: tp 4, gt 6, pred 5, union 7; cat: tp 3, gt 4, pred 5, union 6; dog: tp 1, gt 3, pred 2, union 4.
expect_exit 0 wsss-miou golden/m.jsonl
assert_grep '^background +57\.14 +80\.00 +66\.67 +0\.1429 +0\.2857 +6$' "$T/out"
assert_grep '^cat +50\.00 +60\.00 +75\.00 +0\.3333 +0\.1667 +4$' "$T/out"
assert_grep '^dog +25\.00 +50\.00 +33\.33 +0\.2500 +0\.5000 +3$' "$T/out"
assert_grep '^bg fp 0\.1429 fn 0\.2857; mean fg fp 0\.2917 fn 0\.3333$' "$T/out"
assert_grep '^predicted 255 \(ignore\) counted as misses: 1 pixels$' "$T/out"
[ "$(tail -n 1 "$T/out")" = "mIoU 44.05 over 3 classes" ] || fail "golden mIoU: $(tail -n 1 "$T/out")"
# IRN's choice: a predicted 255 is background. bg then has pred 6, union 8: IoU 50; mIoU (50+50+25)/3.
expect_exit 0 wsss-miou golden/m.jsonl --pred-ignore background
assert_grep '^background +50\.00 ' "$T/out"
[ "$(tail -n 1 "$T/out")" = "mIoU 41.67 over 3 classes" ] || fail "golden mIoU (pred 255 = bg)"
# Values outside the vocabulary name the file and the value.
printf '{"id":"c","mask":"c_bad.png","pred":"a_pred.png"}\n' > golden/bad.jsonl
expect_exit 1 wsss-miou golden/bad.jsonl --classes golden/classes.json
assert_grep 'c_bad.png: value 7 ' "$T/err"
printf '{"id":"c","mask":"a_gt.png","pred":"c_bad.png"}\n' > golden/bad2.jsonl
expect_exit 1 wsss-miou golden/bad2.jsonl --classes golden/classes.json
assert_grep 'c_bad.png: value 7 ' "$T/err"
printf '{"id":"c","mask":"b_gt.png","pred":"a_pred.png"}\n' > golden/bad3.jsonl
expect_exit 1 wsss-miou golden/bad3.jsonl --classes golden/classes.json
assert_grep 'a_pred.png: prediction is 4x2 but the GT mask .*b_gt.png is 3x2' "$T/err"
expect_exit 0 wsss-miou golden/m.jsonl --json golden/r.json
$PY -c "import json; r=json.load(open('golden/r.json')); assert r['confusion']==[[4,1,1],[1,3,0],[0,1,1]] and r['pred_ignored']==[0,0,1], r"
expect_exit 1 wsss-miou golden/m.jsonl --json golden/r.json       # no clobbering
expect_exit 0 wsss-miou golden/m.jsonl --json golden/r.json --overwrite

# --- Synthetic pairs: shards, merging, threads ------------------------------
wsss-data synth gt --count 30 --size 48x40 --masks-only -q
wsss-data synth pr --count 30 --size 48x40 --masks-only --seed 9 -q
wsss-data join gt/manifest.jsonl pr/manifest.jsonl --take mask:pred -o pairs.jsonl -q
expect_exit 0 wsss-miou pairs.jsonl -j1 --json full.j1.json
cp "$T/out" full.txt
expect_exit 0 wsss-miou pairs.jsonl -j2 --json full.j2.json
cmp -s full.j1.json full.j2.json || fail "-j1 and -j2 results differ"
cmp -s full.txt "$T/out" || fail "-j1 and -j2 reports differ"
expect_exit 0 wsss-miou pairs.jsonl --shard 1/2 --json s1.json
expect_exit 0 wsss-miou pairs.jsonl --shard 2/2 --json s2.json
cmp -s s1.json full.j1.json && fail "a shard equals the whole"
expect_exit 0 wsss-miou --merge s2.json s1.json --json merged.json
cmp -s merged.json full.j1.json || fail "merged shards differ from the unsharded run"
cmp -s full.txt "$T/out" || fail "merged report differs from the unsharded one"
expect_exit 1 wsss-miou --merge s1.json s1.json
assert_grep "already given" "$T/err"
expect_exit 2 wsss-miou --merge s1.json
assert_grep "missing shard\(s\) 2/2" "$T/err"
expect_exit 1 wsss-miou --merge s1.json golden/r.json

# --- --missing ----------------------------------------------------------------
rm pr/masks/s000007.png
expect_exit 1 wsss-miou pairs.jsonl
assert_grep "item 's000007'" "$T/err"
expect_exit 0 wsss-miou pairs.jsonl --missing skip --json skip.json
assert_grep '^images 29 \(0 scored as empty\), skipped 1$' "$T/out"
expect_exit 0 wsss-miou pairs.jsonl --missing empty --json empty.json
assert_grep '^images 30 \(1 scored as empty\), skipped 0$' "$T/out"
# "empty" adds exactly that image's GT pixels to the background column.
$PY - <<'PYEOF'
import json
import numpy as np
from PIL import Image
skip = np.array(json.load(open("skip.json"))["confusion"])
empty = np.array(json.load(open("empty.json"))["confusion"])
gt = np.array(Image.open("gt/masks/s000007.png")).astype(np.int64)
want = np.zeros_like(skip)
want[:, 0] = np.bincount(gt[gt != 255], minlength=7)
assert (empty - skip == want).all(), (empty - skip, want)
PYEOF
wsss-data synth pr --count 30 --size 48x40 --masks-only --seed 9 -q --overwrite
grep -v s000011 pr/manifest.jsonl > pr/partial.jsonl
wsss-data join gt/manifest.jsonl pr/partial.jsonl --take mask:pred -o partial.jsonl --missing keep -q
expect_exit 1 wsss-miou partial.jsonl --missing strict
assert_grep "item 's000011': no \"pred\" field" "$T/err"
expect_exit 0 wsss-miou partial.jsonl --missing skip
assert_grep 'skipped 1$' "$T/out"

# --- Score maps: threshold, power, sweep vs NumPy ---------------------------
$PY - <<'PYEOF'
import json
import numpy as np
from PIL import Image
rng = np.random.RandomState(0)
out = []
for line in open("gt/manifest.jsonl"):
    r = json.loads(line)
    gt = np.array(Image.open("gt/" + r["mask"]))
    keys = sorted(r["labels"])
    if r["id"] == "s000004":
        keys = []  # an image without classes: all background
    cams = []
    for c in keys:
        s = (gt == c).astype(np.float32) * rng.uniform(0.2, 0.9)
        s += rng.uniform(0, 0.35, size=gt.shape).astype(np.float32)
        cams.append(s.astype(np.float32))
    cams = np.stack(cams) if cams else np.zeros((0,) + gt.shape, np.float32)
    np.save("cam_" + r["id"] + ".npy", cams.astype(np.float32))
    out.append({"id": r["id"], "mask": "gt/" + r["mask"], "cam": "cam_" + r["id"] + ".npy", "cam_classes": keys})
with open("cams.jsonl", "w") as f:
    for r in out:
        f.write(json.dumps(r) + "\n")
PYEOF
cp gt/classes.json classes.json
cat > irn_eval.py <<'PYEOF'
# IRN step/eval_cam.py + chainercv calc_semantic_segmentation_confusion, in NumPy.
import json, sys
import numpy as np
from PIL import Image
mode, value, result = sys.argv[1], float(sys.argv[2]), sys.argv[3]
n = 7
conf = np.zeros((n, n), np.int64)
for line in open("cams.jsonl"):
    r = json.loads(line)
    gt = np.array(Image.open(r["mask"])).astype(np.int64)
    cams = np.load(r["cam"])
    keys = np.pad(np.array(r["cam_classes"], np.int64), (1, 0), mode="constant")
    if mode == "threshold":
        cams = np.pad(cams, ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=value)
    else:
        bg = np.power(1 - np.max(cams, axis=0, keepdims=True), value) if len(cams) else np.ones((1,) + gt.shape, np.float32)
        cams = np.concatenate((bg.astype(np.float32), cams), axis=0)
    pred = keys[np.argmax(cams, axis=0)]
    ok = gt != 255
    conf += np.bincount(n * gt[ok] + pred[ok], minlength=n * n).reshape(n, n)
got = np.array(json.load(open(result))["confusion"])
assert (got == conf).all(), (got, conf)
PYEOF
expect_exit 0 wsss-miou cams.jsonl --pred cam --json t15.json
$PY irn_eval.py threshold 0.15 t15.json || fail "threshold 0.15 disagrees with IRN's eval_cam"
expect_exit 0 wsss-miou cams.jsonl --pred cam --bg-power 2 --json p2.json
$PY irn_eval.py power 2 p2.json || fail "--bg-power 2 disagrees with CLIP-ES's (1-max)^2"
expect_exit 0 wsss-miou cams.jsonl --pred cam --bg-sweep 0.05:0.60:0.01 --json sweep.json -j2
cp "$T/out" sweep.txt
assert_grep '^0\.27 +[0-9.]+$' sweep.txt
best=$(sed -n 's/^best threshold //p' sweep.txt)
[ -n "$best" ] || fail "no best threshold"
expect_exit 0 wsss-miou cams.jsonl --pred cam --bg-threshold "$best" --json best.json
# The sweep's full table at the best threshold is the separate run's table.
diff <(sed -n '/^class /,$p' sweep.txt | sed 's/ at threshold .*//') <(sed -n '/^class /,$p' "$T/out") \
  || fail "sweep at $best differs from --bg-threshold $best"
$PY - "$best" <<'PYEOF'
import json, sys
s = json.load(open("sweep.json")); b = json.load(open("best.json"))
assert s["threshold"] == float(sys.argv[1])
assert s["confusion"] == b["confusion"]
ms = [e["miou"] for e in s["sweep"]]
assert s["miou"] == max(ms) and len(ms) == 56
t15 = json.load(open("t15.json"))
assert s["sweep"][10]["threshold"] == 0.15 and s["sweep"][10]["confusion"] == t15["confusion"]
PYEOF
# Sweeps merge too.
expect_exit 0 wsss-miou cams.jsonl --pred cam --bg-sweep 0.05:0.60:0.01 --shard 1/2 --json w1.json
expect_exit 0 wsss-miou cams.jsonl --pred cam --bg-sweep 0.05:0.60:0.01 --shard 2/2 --json w2.json
expect_exit 0 wsss-miou --merge w1.json w2.json --json wm.json
cmp -s wm.json sweep.json || fail "merged sweep differs"
# A best on the upper edge of a narrow sweep: swept again up to 1, the best of the
# wide sweep found; with --sweep-edge warn the edge is kept, with a warning.
expect_exit 0 wsss-miou cams.jsonl --pred cam --bg-sweep 0.05:1:0.01 --json wide.json
wide=$(sed -n 's/^best threshold //p' "$T/out")
narrow_hi=$($PY -c "print(round(max(0.06, $wide - 0.05), 2))")
expect_exit 0 wsss-miou cams.jsonl --pred cam --bg-sweep "0.05:$narrow_hi:0.01" --json widened.json
assert_grep "best threshold $narrow_hi is the upper end of the sweep 0.05:$narrow_hi:0.01: sweeping again over 0.05:1:0.01" "$T/err"
[ "$(sed -n 's/^best threshold //p' "$T/out")" = "$wide" ] || fail "the widened sweep did not find the wide sweep's best $wide"
expect_exit 0 wsss-miou cams.jsonl --pred cam --bg-sweep "0.05:$narrow_hi:0.01" --sweep-edge warn
assert_grep "the best may lie beyond it \(try --bg-sweep 0.05:1:0.01\)" "$T/err"
[ "$(sed -n 's/^best threshold //p' "$T/out")" = "$narrow_hi" ] || fail "--sweep-edge warn changed the range"
# A sweep needs score maps.
expect_exit 1 wsss-miou pairs.jsonl --bg-sweep 0.1:0.2:0.1 --missing skip
assert_grep "needs .npy score maps" "$T/err"
# A score map whose channels do not match its class list.
sed 's/"cam_classes": \[\([0-9]\)/"cam_classes": [\1, 6/' cams.jsonl | head -n 3 > badcams.jsonl
expect_exit 1 wsss-miou badcams.jsonl --pred cam
assert_grep "channels but the record lists" "$T/err"
exit 0
