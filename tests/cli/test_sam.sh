#!/usr/bin/env bash
# wsss-sam with TorchScript fixtures of the SAM interface (tests/python/sam_fixture.py):
# masks equal an independent Python reference of segment_anything's pipeline
# (detector boxes, CAM prompts, the EfficientSAM frame, multimask), one embedding
# per image, determinism, shards, resume, and the bad-input cases.
source "$WSSS_SOURCE/tests/cli/lib.sh"
if ! /usr/bin/python3 -c "import torch, numpy, PIL" 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 lacks torch/numpy/PIL (the SAM fixtures are TorchScript modules made with torch)"
  exit 77
fi
fixture="$WSSS_SOURCE/tests/python/sam_fixture.py"
/usr/bin/python3 "$fixture" models fx
wsss-data synth -q --count 6 --size 80x60 --seed 5 data

# Detector boxes from the ground truth (score 0.9), plus boxes the stage must drop:
# at or below the 0.3 threshold, and of a class not in the image's labels. CAMs:
# the ground truth with noise. spec*.json: the prompts the reference must see.
/usr/bin/python3 - <<'PY'
import json, os
import numpy as np
from PIL import Image
rng = np.random.default_rng(1)
dets, spec, cams = [], {"images": {}, "prompts": {}}, []
os.makedirs("cams/cam", exist_ok=True)
for i, line in enumerate(open("data/manifest.jsonl")):
    r = json.loads(line)
    gt = np.array(Image.open("data/" + r["mask"]))
    spec["images"][r["id"]] = "data/" + r["image"]
    spec["prompts"][r["id"]] = []
    if i == 0:
        continue  # no detection at all: an all-background mask
    for c in r["labels"]:
        ys, xs = np.nonzero(gt == c)
        x0, y0, x1, y1 = float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
        dets.append({"image_id": r["id"], "category_id": c, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": 0.9})
        spec["prompts"][r["id"]].append({"class_id": c, "box": [x0, y0, x1, y1]})
        dets.append({"image_id": r["id"], "category_id": c, "bbox": [1, 1, 20, 20], "score": 0.3})
    other = [c for c in range(1, 7) if c not in r["labels"]][0]
    dets.append({"image_id": r["id"], "category_id": other, "bbox": [2, 2, 30, 30], "score": 0.95})
json.dump(dets, open("dets.json", "w"))
json.dump(spec, open("spec.json", "w"))
n = sum(len(v) for v in spec["prompts"].values())
with_prompts = sum(1 for v in spec["prompts"].values() if v)
open("expect_log", "w").write(f"{len(spec['images'])} images: {n} prompts, {with_prompts} image embeddings; "
                              f"{len(spec['images']) - with_prompts} images had no prompt\n")
spec["multimask"] = True
json.dump(spec, open("spec_multi.json", "w"))

# CAMs, and the CAM prompts the stage must derive (an independent implementation of
# docs/sam.md's rule: per class, score >= 0.3 x max where the class wins, 8-connected
# regions by decreasing area, at most 3, none under 0.1 x the largest; box and peak).
def regions(mask):
    h, w = mask.shape
    label = np.zeros((h, w), int)
    out = []
    for y in range(h):
        for x in range(w):
            if mask[y, x] and not label[y, x]:
                n = len(out) + 1
                stack, pix = [(y, x)], []
                label[y, x] = n
                while stack:
                    cy, cx = stack.pop()
                    pix.append((cy, cx))
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            ny, nx = cy + dy, cx + dx
                            if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not label[ny, nx]:
                                label[ny, nx] = n
                                stack.append((ny, nx))
                out.append(sorted(pix))
    return out
cam_spec = {"images": spec["images"], "prompts": {}}
for line in open("data/manifest.jsonl"):
    r = json.loads(line)
    gt = np.array(Image.open("data/" + r["mask"]))
    maps = np.stack([(gt == c) * 0.7 + rng.random(gt.shape) * 0.25 for c in r["labels"]]).astype(np.float32)
    np.save(f"cams/cam/{r['id']}.npy", maps)
    best = np.argmax(maps, 0)
    prompts = []
    for k, c in enumerate(r["labels"]):
        peak = maps[k].max()
        regs = sorted(regions((best == k) & (maps[k] >= 0.3 * peak)), key=lambda p: -len(p))
        for g in regs[:3]:
            if len(g) < 0.1 * len(regs[0]):
                break
            ys, xs = np.array(g).T
            vals = maps[k][ys, xs]
            j = int(np.argmax(vals))  # g is in raster order: the first maximum
            prompts.append({"class_id": c, "box": [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)],
                            "points": [[float(xs[j]), float(ys[j])]], "labels": [1]})
    cam_spec["prompts"][r["id"]] = prompts
    r.update(image="../data/" + r["image"], mask="../data/" + r["mask"], cam=f"cam/{r['id']}.npy", cam_classes=r["labels"])
    cams.append(json.dumps(r))
open("cams/manifest.jsonl", "w").write("\n".join(cams) + "\n")
json.dump(cam_spec, open("spec_cam.json", "w"))
PY
cp data/classes.json cams/

# compare REF_DIR OUT_DIR: every label PNG equal, pixel for pixel.
compare() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import glob, os, sys
import numpy as np
from PIL import Image
ref, out = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(ref + "/*.png"))
diff = total = fg = 0
for f in files:
    a = np.array(Image.open(f))
    b = np.array(Image.open(os.path.join(out, "pseudo", os.path.basename(f))))
    assert a.shape == b.shape, (f, a.shape, b.shape)
    diff += int((a != b).sum()); total += a.size; fg += int((a > 0).sum())
print(f"{out}: {diff} of {total} pixels differ from the reference ({fg} foreground)")
assert fg > 0 and diff == 0
PY
}

expect_exit 0 wsss-sam --help
assert_grep '^Usage:' "$T/out"; assert_grep '^e.g.:' "$T/out"; assert_grep '^See also:' "$T/out"

# Detector boxes: SAM_WSSS's rule (threshold 0.3, labels only, max-id merge) equals the reference.
expect_exit 0 wsss-sam -j2 --model fx/field.pt --detections dets.json --merge max-id data/manifest.jsonl d1
assert_summary
assert_grep "$(cat expect_log)" "$T/err"  # one embedding per image with prompts
/usr/bin/python3 "$fixture" reference fx/field.pt spec.json ref_det >/dev/null
compare ref_det d1 || fail "detector-box masks differ from the reference"
expect_exit 0 wsss-miou --pred pseudo d1/manifest.jsonl
assert_grep '^mIoU' "$T/out"

# -j1 equals -j2; shards merge to the whole; --skip-existing changes nothing.
expect_exit 0 wsss-sam -j1 --model fx/field.pt --detections dets.json --merge max-id data/manifest.jsonl d2
assert_same_tree d1 d2
expect_exit 0 wsss-sam --shard 1/2 --model fx/field.pt --detections dets.json --merge max-id data/manifest.jsonl d3
expect_exit 0 wsss-sam --shard 2/2 --model fx/field.pt --detections dets.json --merge max-id data/manifest.jsonl d3
expect_exit 0 wsss-data merge d3
cmp d3/manifest.jsonl d1/manifest.jsonl || fail "merged shards differ from the unsharded manifest"
expect_exit 0 wsss-sam --skip-existing --model fx/field.pt --detections dets.json --merge max-id data/manifest.jsonl d1
assert_grep 'done 0, skipped 6, failed 0 of 6' "$T/err"
expect_exit 1 wsss-sam --model fx/field.pt --detections dets.json data/manifest.jsonl d1
assert_grep 'output exists' "$T/err"

# EfficientSAM's frame (stretch) and multimask (the best of three by predicted IoU).
expect_exit 0 wsss-sam --model fx/field_stretch.pt --detections dets.json --merge max-id data/manifest.jsonl d4
/usr/bin/python3 "$fixture" reference fx/field_stretch.pt spec.json ref_stretch >/dev/null
compare ref_stretch d4 || fail "stretch-frame masks differ from the reference"
expect_exit 0 wsss-sam --multimask --model fx/field.pt --detections dets.json --merge max-id data/manifest.jsonl d5
/usr/bin/python3 "$fixture" reference fx/field.pt spec_multi.json ref_multi >/dev/null
compare ref_multi d5 || fail "multimask masks differ from the reference"
cmp -s d1/pseudo/s000003.png d5/pseudo/s000003.png && fail "multimask changed nothing"

# CAM prompts (box + peak point per region) equal the reference's own derivation.
expect_exit 0 wsss-sam -j2 --model fx/field.pt --cam-prompts box+point --merge max-id cams/manifest.jsonl c1
/usr/bin/python3 "$fixture" reference fx/field.pt spec_cam.json ref_cam >/dev/null
compare ref_cam c1 || fail "CAM-prompt masks differ from the reference"
assert_grep '"pseudo":"pseudo/' c1/manifest.jsonl
assert_grep '"cam":"' c1/manifest.jsonl

# A model without SAM's interface: one line naming the file, exit 1, nothing written.
declare -A why=([no_decode]="no method 'decode'" [not_torchscript]="not a TorchScript file"
                [no_version]="no int attribute 'sam_interface'" [bad_signature]="method 'decode' is decode")
for bad in "${!why[@]}"; do
  expect_exit 1 wsss-sam --model fx/$bad.pt --detections dets.json data/manifest.jsonl bad_$bad
  assert_grep "^wsss-sam: error: fx/$bad.pt: ${why[$bad]}" "$T/err"
  [ "$(grep -c 'error' "$T/err")" = 1 ] || fail "more than one error line for $bad"
  [ ! -e bad_$bad ] || fail "$bad: output directory written"
done
# Wrong output shapes show when decode runs: every item fails, no manifest.
expect_exit 1 wsss-sam --model fx/bad_shape.pt --detections dets.json data/manifest.jsonl bad_shape
assert_grep 'fx/bad_shape.pt: decode returned masks \[2, 2, 256, 256\]' bad_shape/failed.txt
[ ! -e bad_shape/manifest.jsonl ] || fail "manifest written although items failed"

# Bad detections. A bad entry of a known image fails that image: a one-line reason
# naming the file and the item in failed.txt, no PNG for it, exit 1 and no manifest
# (within --max-failed: exit 0, a manifest without it). Unknown images: a warning
# (the default) or, with --unknown-images error, one error line and nothing written.
/usr/bin/python3 - <<'PY2'
import json
d = json.load(open("dets.json"))
json.dump(d[:3] + [dict(d[0], bbox=[5, 5, 0, 7])], open("zero_area.json", "w"))
json.dump(d[:3] + [dict(d[0], bbox=[500, 5, 10, 7])], open("outside.json", "w"))
json.dump(d[:3] + [dict(d[0], image_id="no_such_image")], open("unknown_image.json", "w"))
json.dump(d[:3] + [{"image_id": d[0]["image_id"], "category_name": "zebra", "bbox": [1, 1, 5, 5], "score": 0.9}],
          open("unknown_name.json", "w"))
open("bad_id", "w").write(d[0]["image_id"])
PY2
bad_id=$(cat bad_id)
declare -A reason=([zero_area]="bbox \[5,5,0,7\] has zero area"
                   [outside]="bbox \[500,5,10,7\] lies outside the 80x60 image of '$bad_id'"
                   [unknown_name]="unknown category name 'zebra' \(neither a class nor a prompt name of vocabulary 'synth'\)")
for bad in "${!reason[@]}"; do
  expect_exit 1 wsss-sam --model fx/field.pt --detections $bad.json data/manifest.jsonl bad_$bad
  assert_grep "^wsss-sam: warning: $bad.json: 1 bad detection\(s\) on 1 image\(s\), which will fail" "$T/err"
  assert_grep "^wsss-sam: warning: item '$bad_id' failed: $bad.json: item 3: ${reason[$bad]}\$" "$T/err"
  assert_grep "done 5, skipped 0, failed 1 of 6" "$T/err"
  [ "$(cat bad_$bad/failed.txt)" = "$bad_id	$bad.json: item 3: $(echo "${reason[$bad]}" | tr -d '\\')" ] \
    || fail "$bad: failed.txt is '$(cat bad_$bad/failed.txt)'"
  [ ! -e bad_$bad/manifest.jsonl ] || fail "$bad: manifest written although an item failed"
  [ ! -e bad_$bad/pseudo/$bad_id.png ] || fail "$bad: a mask written for the failed image"
  [ "$(ls bad_$bad/pseudo | wc -l)" = 5 ] || fail "$bad: the other images' masks are missing"
  [ -z "$(find bad_$bad -name '*.tmp*')" ] || fail "$bad: temporary files left"
done
# Within --max-failed: the manifest lists the other nine images.
expect_exit 0 wsss-sam --max-failed 1 --model fx/field.pt --detections zero_area.json data/manifest.jsonl mf
[ "$(wc -l < mf/manifest.jsonl)" = 5 ] && ! grep -q "\"$bad_id\"" mf/manifest.jsonl || fail "--max-failed manifest"
assert_grep "^$bad_id	zero_area.json: item 3: " mf/failed.txt
# Unknown images: counted, one warning, the run goes on; or an error.
expect_exit 0 wsss-sam --model fx/field.pt --detections unknown_image.json data/manifest.jsonl unk
assert_grep "^wsss-sam: warning: unknown_image.json: 1 detection\(s\) \(item 3\) of 1 image\(s\) not in data/manifest.jsonl: 'no_such_image'; ignored" "$T/err"
[ "$(grep -c '^wsss-sam: warning' "$T/err")" = 1 ] || fail "more than one warning for an unknown image"
expect_exit 1 wsss-sam --unknown-images error --model fx/field.pt --detections unknown_image.json data/manifest.jsonl unk_e
assert_grep "^wsss-sam: error: unknown_image.json: 1 detection\(s\) \(item 3\) of 1 image\(s\) not in data/manifest.jsonl: 'no_such_image' \(--unknown-images warn" "$T/err"
[ "$(grep -c '^wsss-sam: error' "$T/err")" = 1 ] || fail "more than one error line for an unknown image"
[ ! -e unk_e ] || fail "unknown image error: output directory written"
# A file whose entries name no image is refused before any item.
echo '[{"category_id": 1, "bbox": [1, 1, 5, 5]}]' > no_image.json
expect_exit 1 wsss-sam --model fx/field.pt --detections no_image.json data/manifest.jsonl bad_no_image
assert_grep '^wsss-sam: error: no_image.json: item 0: missing "image_id"' "$T/err"
[ ! -e bad_no_image ] || fail "no_image: output directory written"

# Usage errors.
expect_exit 2 wsss-sam --model fx/field.pt data/manifest.jsonl u1
expect_exit 2 wsss-sam --model fx/field.pt --detections dets.json --cam-prompts box data/manifest.jsonl u2
expect_exit 2 wsss-sam --model fx/field.pt --cam-prompts boxes cams/manifest.jsonl u3
expect_exit 2 wsss-sam --model fx/field.pt --detections dets.json --merge biggest data/manifest.jsonl u4
expect_exit 2 wsss-sam --model fx/field.pt --detections dets.json --unknown-images ignore data/manifest.jsonl u5
echo "ok"
