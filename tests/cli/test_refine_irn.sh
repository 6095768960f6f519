#!/usr/bin/env bash
# wsss-refine irn-train and irn on a tiny synthetic set: the whole IRN chain
# (classifier -> CAMs -> IR labels -> edge network -> random walk), byte-identical
# for -j1/-j2, resume equal to an uninterrupted run, --skip-existing, bad input.
source "$WSSS_SOURCE/tests/cli/lib.sh"

expect_exit 0 wsss-refine --help
assert_grep "irn-train" "$T/out"
expect_exit 0 wsss-refine irn-train --help
assert_grep "\-\-init" "$T/out"
expect_exit 0 wsss-refine irn --help
assert_grep "\-\-exp-times" "$T/out"

wsss-data synth -q --count 24 --size 64x64 train
wsss-classify train -q --arch resnet18 --width 8 --frozen-stages 0 --train-bn --momentum 0.9 --resize-long 48:80 \
  --crop 64 --batch 8 --epochs 1 train/manifest.jsonl cls
wsss-cam -q -j2 --model cls/model.safetensors train/manifest.jsonl cam
wsss-pseudo -q --field cam --ignore irn:0.30:0.05 --crf irn --out-field ir_label cam/manifest.jsonl ir

# Usage errors: no --init, a bad option value.
expect_exit 2 wsss-refine irn-train ir/manifest.jsonl bad
expect_exit 2 wsss-refine irn-train --init cls/model.safetensors --batch 0 ir/manifest.jsonl bad
expect_exit 2 wsss-refine irn-train --init cls/model.safetensors --arch resnet50 ir/manifest.jsonl bad
assert_grep "holds a resnet18" "$T/err"

TRAIN=(--init cls/model.safetensors --crop 64 --batch 8 --seed 3)
expect_exit 0 wsss-refine irn-train -j2 "${TRAIN[@]}" --epochs 2 ir/manifest.jsonl irn
assert_grep "epoch 2/2: mean loss" "$T/err"
for f in model.safetensors checkpoint.safetensors checkpoint.state classes.json meta.json; do
  [ -s "irn/$f" ] || fail "irn/$f missing"
done
grep -aq '"wsss.model":"irn-edge"' irn/model.safetensors || fail "model kind not irn-edge"
expect_exit 1 wsss-refine irn-train -j2 "${TRAIN[@]}" --epochs 2 ir/manifest.jsonl irn  # refuses to clobber

# Stop after epoch 1, resume: the same model as the uninterrupted run.
expect_exit 0 wsss-refine irn-train -j2 "${TRAIN[@]}" --epochs 2 --stop-after 1 ir/manifest.jsonl irn2
[ ! -e irn2/model.safetensors ] || fail "model written before the last epoch"
expect_exit 1 wsss-refine irn-train -j2 "${TRAIN[@]}" --epochs 2 --lr 0.05 --resume ir/manifest.jsonl irn2
assert_grep "other training options" "$T/err"
expect_exit 0 wsss-refine irn-train -j2 "${TRAIN[@]}" --epochs 2 --resume ir/manifest.jsonl irn2
assert_grep "resuming after epoch 1" "$T/err"
cmp irn/model.safetensors irn2/model.safetensors || fail "resumed model differs from the uninterrupted one"

# The random walk stage: -j1 and -j2 byte-identical.
expect_exit 0 wsss-refine irn -j1 --edges --model irn/model.safetensors ir/manifest.jsonl rw1
assert_summary
assert_grep "done 24, skipped 0, failed 0 of 24" "$T/err"
expect_exit 0 wsss-refine irn -j2 --edges --model irn/model.safetensors ir/manifest.jsonl rw2
assert_same_tree rw1 rw2
assert_grep '"refined":"refined/s000000.npy","refined_classes":\[[0-9,]+\],"edge":"edge/s000000.png"' rw1/manifest.jsonl

# Shapes, ranges, classes; the walk changes the CAM; edge PNG is 8-bit grey.
/usr/bin/python3 - <<'EOF' || fail "refined maps are wrong"
import json, numpy as np
from PIL import Image
for line in open("rw1/manifest.jsonl"):
    r = json.loads(line)
    a = np.load("rw1/" + r["refined"])
    cam = np.load("rw1/" + r["cam_lowres"])
    assert a.dtype == np.float32 and a.shape == (len(r["cam_classes"]), 64, 64), (r["id"], a.shape)
    assert r["refined_classes"] == r["cam_classes"]
    if a.shape[0]:
        assert abs(a.max() - 1) < 1e-6 and a.min() >= 0, (r["id"], a.min(), a.max())
    e = Image.open("rw1/" + r["edge"])
    assert e.mode == "L" and e.size == (64, 64), (e.mode, e.size)
changed = [np.abs(np.load("rw1/refined/%s.npy" % i) - np.load("cam/cam/%s.npy" % i)).max() for i in ("s000000", "s000001")]
assert min(changed) > 1e-3, changed
EOF

# --skip-existing rerun changes nothing.
expect_exit 0 wsss-refine irn -j2 --edges --skip-existing --model irn/model.safetensors ir/manifest.jsonl rw1
assert_grep "done 0, skipped 24, failed 0 of 24" "$T/err"
assert_same_tree rw1 rw2
expect_exit 1 wsss-refine irn -j2 --edges --model irn/model.safetensors ir/manifest.jsonl rw1  # refuses to clobber

# Pseudo labels from the refined maps with IRN's sem_seg_bg_thres.
expect_exit 0 wsss-pseudo -q --field refined --bg-threshold 0.25 rw1/manifest.jsonl sem
[ -s sem/manifest.jsonl ] || fail "no pseudo labels from refined maps"

# Bad input names the item: a score map of the wrong grid, an unknown class id,
# a model of another kind.
/usr/bin/python3 - <<'EOF'
import json, numpy as np
rows = [json.loads(l) for l in open("ir/manifest.jsonl")][:2]
np.save("small.npy", np.zeros((len(rows[0]["cam_classes"]), 8, 8), np.float32))
rows[0]["cam_lowres"] = "../small.npy"
with open("ir/bad_grid.jsonl", "w") as f:
    for r in rows: f.write(json.dumps(r) + "\n")
rows = [json.loads(l) for l in open("ir/manifest.jsonl")][:2]
rows[1]["cam_classes"] = [99]
with open("ir/bad_class.jsonl", "w") as f:
    for r in rows: f.write(json.dumps(r) + "\n")
EOF
expect_exit 1 wsss-refine irn --model irn/model.safetensors ir/bad_grid.jsonl bad1
assert_grep "s000000.*stride-4 grid is 16x16" bad1/failed.txt
expect_exit 1 wsss-refine irn --model irn/model.safetensors ir/bad_class.jsonl bad2
assert_grep "s000001.*cam_classes entry 99" bad2/failed.txt
expect_exit 1 wsss-refine irn --model cls/model.safetensors ir/manifest.jsonl bad3
assert_grep "not an IRN edge network" "$T/err"

# An image without classes gets an empty [0, H, W] map.
/usr/bin/python3 - <<'EOF'
import json, numpy as np
r = json.loads(open("ir/manifest.jsonl").readline())
np.save("none.npy", np.zeros((0, 16, 16), np.float32))
r["cam_lowres"] = "../none.npy"; r["cam_classes"] = []
open("ir/empty.jsonl", "w").write(json.dumps(r) + "\n")
EOF
expect_exit 0 wsss-refine irn --model irn/model.safetensors ir/empty.jsonl empty
/usr/bin/python3 -c "import numpy as np; a = np.load('empty/refined/s000000.npy'); assert a.shape == (0, 64, 64), a.shape" \
  || fail "no empty map for an image without classes"
echo OK
