#!/usr/bin/env bash
# Inputs that once gave wrong results with exit 0 (issue "Defects found trying
# wsss as a new user would"): each must now fail clearly or come out right.
source "$WSSS_SOURCE/tests/cli/lib.sh"
if ! /usr/bin/python3 -c "import numpy, PIL" 2>/dev/null; then echo "SKIP: /usr/bin/python3 lacks numpy/PIL"; exit 77; fi
wsss-data synth -q --count 6 --size 48x40 --seed 3 data
# Score maps from the GT with noise, as in test_pseudo_refine.sh, plus damaged
# JPEG copies of the first image.
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
    out.append(r)
open("cams/manifest.jsonl", "w").write("".join(json.dumps(r) + "\n" for r in out))
Image.open(os.path.join("data", json.loads(open("data/manifest.jsonl").readline())["image"])).convert("RGB").save("cams/whole.jpg", quality=90)
jpeg = open("cams/whole.jpg", "rb").read()
open("cams/half.jpg", "wb").write(jpeg[: len(jpeg) // 2])                  # truncated download
open("cams/cut.jpg", "wb").write(jpeg[: len(jpeg) // 2] + b"\xff\xd9")     # data segment cut, EOI put back
for name in ("whole", "half", "cut"):
    r = dict(out[0]); r["image"] = f"{name}.jpg"
    open(f"cams/{name}.jsonl", "w").write(json.dumps(r) + "\n")
PY
cp data/classes.json cams/

# --- 1. Resume into a relative OUT_DIR: journal records must keep valid paths.
mv cams/cam/s000002.npy held.npy                              # one item fails ...
expect_exit 1 wsss-pseudo --bg-threshold 0.5 cams/manifest.jsonl r/k
assert_grep "rerun with --skip-existing" "$T/err"
[ -e r/k/manifest.jsonl ] && fail "a failed run wrote its manifest"
mv held.npy cams/cam/s000002.npy                              # ... and is fixed, then the run resumed
expect_exit 0 wsss-pseudo --bg-threshold 0.5 --skip-existing cams/manifest.jsonl r/k
assert_grep 'done 1, skipped 5, failed 0 of 6' "$T/err"
assert_no_grep 'r/k' r/k/manifest.jsonl
expect_exit 0 wsss-data check r/k/manifest.jsonl
expect_exit 0 wsss-pseudo --bg-threshold 0.5 cams/manifest.jsonl r/w   # same depth: same relative paths
cmp -s r/w/manifest.jsonl r/k/manifest.jsonl || fail "resumed manifest differs from an uninterrupted run"

# --- 2. Truncated or damaged JPEGs fail their item, naming the file; no bare libjpeg line.
expect_exit 0 wsss-refine crf --bg-threshold 0.5 cams/whole.jsonl crf_whole
for name in half cut; do
  expect_exit 1 wsss-refine crf --bg-threshold 0.5 cams/$name.jsonl crf_$name
  assert_grep "item 's000000' failed: .*cams/$name.jpg: corrupt or truncated JPEG" "$T/err"
  assert_no_grep '^(Premature end|Corrupt JPEG)' "$T/err"
  [ -e crf_$name/manifest.jsonl ] && fail "$name.jpg: a manifest was written"
  ls crf_$name/refined/*.npy >/dev/null 2>&1 && fail "$name.jpg: a score map was written"
done
expect_exit 1 wsss-data check --decode cams/cut.jsonl
assert_grep "cut.jpg: corrupt or truncated JPEG: Corrupt JPEG data" "$T/err"

# --- 4. NaN and out-of-range float options are usage errors (exit 2), nothing written.
for opt in "--bg-threshold nan" "--bg-threshold -5" "--bg-power nan" "--bg-power inf"; do
  expect_exit 2 wsss-miou --pred cam $opt cams/manifest.jsonl
  assert_grep "^wsss-miou: error: --bg-(threshold|power): value" "$T/err"
  expect_exit 2 wsss-pseudo $opt cams/manifest.jsonl nan_out
  [ -e nan_out ] && fail "wsss-pseudo $opt left nan_out/"
done
expect_exit 2 wsss-pseudo -j -1 cams/manifest.jsonl nan_out
[ "$(wc -c < "$T/err")" -lt 300 ] || { cat "$T/err"; fail "-j -1: error is not one short line"; }

# --- 5. A classes.json with a duplicate name is refused, naming the file and both ids.
sed 's/"kite"/"ball"/' cams/classes.json > dup.json
cmp -s dup.json cams/classes.json && fail "dup.json fixture unchanged"
expect_exit 1 wsss-pseudo --classes dup.json --bg-threshold 0.5 cams/manifest.jsonl dup_out
assert_grep "dup.json: class name 'ball' appears twice \(ids [0-9]+ and [0-9]+\)" "$T/err"
[ -e dup_out ] && fail "a refused vocabulary left dup_out/"
true
