#!/usr/bin/env bash
# wsss-amn (issue #13) on a tiny synthetic set: CAMs -> IR labels -> AMN training
# (stop and resume equal to an uninterrupted run) -> AMN maps (byte-identical for
# -j1/-j2 and shards, --skip-existing), the maps' background channel in
# wsss-miou, wsss-pseudo and wsss-refine irn, --reference-dropout, bad input.
source "$WSSS_SOURCE/tests/cli/lib.sh"

expect_exit 0 wsss-amn --help
assert_grep "train" "$T/out"
expect_exit 0 wsss-amn train --help
assert_grep "\-\-backbone-lr" "$T/out"
assert_no_grep "\-\-momentum" "$T/out"
expect_exit 0 wsss-amn cam --help
assert_grep "\-\-reference-dropout" "$T/out"

wsss-data synth -q --count 16 --size 64x64 train
wsss-classify train -q --arch resnet18 --width 8 --frozen-stages 0 --train-bn --momentum 0.9 --resize-long 48:80 \
  --crop 64 --batch 8 --epochs 1 train/manifest.jsonl cls
wsss-cam -q -j2 --model cls/model.safetensors train/manifest.jsonl cam
wsss-pseudo -q --ignore irn:0.30:0.05 --crf irn --out-field ir_label cam/manifest.jsonl ir

# Usage errors: no --init, a bad value, an arch that is not the init's.
expect_exit 2 wsss-amn train ir/manifest.jsonl bad
expect_exit 2 wsss-amn train --init cls/model.safetensors --smoothing 1.5 ir/manifest.jsonl bad
expect_exit 2 wsss-amn train --init cls/model.safetensors --arch resnet50 ir/manifest.jsonl bad
assert_grep "holds a resnet18" "$T/err"

TRAIN=(--init cls/model.safetensors --crop 64 --batch 8 --seed 3 --aspp-rates 1,2)
expect_exit 0 wsss-amn train -j2 "${TRAIN[@]}" --epochs 2 ir/manifest.jsonl amn
assert_grep "epoch 2/2: mean loss" "$T/err"
for f in model.safetensors checkpoint.safetensors checkpoint.state classes.json meta.json; do
  [ -s "amn/$f" ] || fail "amn/$f missing"
done
grep -aq '"wsss.model":"amn"' amn/model.safetensors || fail "model kind not amn"
expect_exit 1 wsss-amn train -j2 "${TRAIN[@]}" --epochs 2 ir/manifest.jsonl amn  # refuses to clobber

# Stop after epoch 1, resume: the same model as the uninterrupted run (dropout included).
expect_exit 0 wsss-amn train -j2 "${TRAIN[@]}" --epochs 2 --stop-after 1 ir/manifest.jsonl amn2
[ ! -e amn2/model.safetensors ] || fail "model written before the last epoch"
expect_exit 1 wsss-amn train -j2 "${TRAIN[@]}" --epochs 2 --backbone-lr 1e-5 --resume ir/manifest.jsonl amn2
assert_grep "other training options" "$T/err"
expect_exit 0 wsss-amn train -j2 "${TRAIN[@]}" --epochs 2 --resume ir/manifest.jsonl amn2
assert_grep "resuming after epoch 1" "$T/err"
cmp amn/model.safetensors amn2/model.safetensors || fail "resumed model differs from the uninterrupted one"

# The maps: -j1, -j2 and two shards give the same bytes.
CAM=(--model amn/model.safetensors --scales 1.0,0.5)
expect_exit 0 wsss-amn cam -j1 "${CAM[@]}" ir/manifest.jsonl a1
assert_summary
assert_grep "done 16, skipped 0, failed 0 of 16" "$T/err"
expect_exit 0 wsss-amn cam -j2 "${CAM[@]}" ir/manifest.jsonl a2
assert_same_tree a1 a2
expect_exit 0 wsss-amn cam -j2 "${CAM[@]}" --shard 1/2 ir/manifest.jsonl a3
expect_exit 0 wsss-amn cam -j2 "${CAM[@]}" --shard 2/2 ir/manifest.jsonl a3
expect_exit 0 wsss-data merge a3
cmp a1/manifest.jsonl a3/manifest.jsonl || fail "merged shards differ from one run"
for f in a1/cam/*.npy a1/cam_lowres/*.npy; do cmp "$f" "a3/${f#a1/}" || fail "shard output $f differs"; done
expect_exit 0 wsss-amn cam -j2 "${CAM[@]}" --skip-existing ir/manifest.jsonl a1
assert_grep "done 0, skipped 16, failed 0 of 16" "$T/err"
assert_same_tree a1 a2

# Background channel first; softmax where the IR label is 0, min-max elsewhere.
/usr/bin/python3 - <<'PY' || fail "AMN maps are wrong"
import json, numpy as np
from PIL import Image
for line in open("a1/manifest.jsonl"):
    r = json.loads(line)
    assert r["cam_classes"] == [0] + r["labels"], r
    a = np.load("a1/" + r["cam"]); low = np.load("a1/" + r["cam_lowres"])
    ir = np.array(Image.open("a1/" + r["ir_label"]))
    assert a.dtype == np.float32 and a.shape == (len(r["cam_classes"]), 64, 64), a.shape
    assert low.shape == (len(r["cam_classes"]), 16, 16), low.shape
    assert a.min() >= 0 and a.max() <= 1 + 1e-6
    if (ir == 0).any():
        assert (a[:, ir == 0].sum(0) <= 1 + 1e-5).all()  # part of a softmax
    if (ir != 0).any():
        assert a[:, ir != 0].max() > 0.5
PY

# Consumers: the background channel as it is, or dropped as AMN's reference evaluates.
expect_exit 0 wsss-miou --pred cam a1/manifest.jsonl
assert_grep '^mIoU' "$T/out"
expect_exit 0 wsss-miou --pred cam --drop-bg-channel --bg-threshold 0.25 a1/manifest.jsonl
expect_exit 1 wsss-miou --pred cam --bg-sweep 0.05:0.5:0.05 a1/manifest.jsonl
assert_grep "drop-bg-channel" "$T/err"
expect_exit 0 wsss-miou --pred cam --drop-bg-channel --bg-sweep 0.05:0.5:0.05 --json sweep.json a1/manifest.jsonl
assert_grep '"bg_channel":"drop"' sweep.json
expect_exit 0 wsss-pseudo -q a1/manifest.jsonl p-argmax
expect_exit 1 wsss-pseudo --ignore irn:0.45:0.15 --crf irn --out-field ir_label a1/manifest.jsonl amn-ir-bad
assert_grep "drop-bg-channel" amn-ir-bad/failed.txt
expect_exit 0 wsss-pseudo --ignore irn:0.45:0.15 --crf irn --drop-bg-channel --out-field ir_label a1/manifest.jsonl amn-ir
wsss-refine irn-train -q -j2 --init cls/model.safetensors --crop 64 --batch 8 --epochs 1 ir/manifest.jsonl irn
expect_exit 0 wsss-refine irn --exp-times 2 --cam-power 1.3 --model irn/model.safetensors a1/manifest.jsonl rw
/usr/bin/python3 - <<'PY' || fail "random walk of AMN maps is wrong"
import json
for line in open("rw/manifest.jsonl"):
    r = json.loads(line)
    assert r["refined_classes"] == r["labels"], r
PY

# --reference-dropout: the reference's random maps, reproducible per seed and -j.
expect_exit 0 wsss-amn cam -j1 "${CAM[@]}" --reference-dropout --seed 1 ir/manifest.jsonl d1
expect_exit 0 wsss-amn cam -j2 "${CAM[@]}" --reference-dropout --seed 1 ir/manifest.jsonl d2
assert_same_tree d1 d2
expect_exit 0 wsss-amn cam -j2 "${CAM[@]}" --reference-dropout --seed 2 ir/manifest.jsonl d3
cmp -s d1/cam/s000000.npy d3/cam/s000000.npy && fail "another seed gave the same dropout"
cmp -s d1/cam/s000000.npy a1/cam/s000000.npy && fail "dropout did not change the map"

# Bad input: a missing IR label, an id outside the image's labels, a model of
# another class count; one line naming the file or item, and no output.
/usr/bin/python3 - <<'PY'
import json, numpy as np
from PIL import Image
rows = [json.loads(l) for l in open("ir/manifest.jsonl")]
bad = dict(rows[1]); bad["ir_label"] = "ir_label/nowhere.png"
with open("ir/missing.jsonl", "w") as f:
    for r in [rows[0], bad] + rows[2:]: f.write(json.dumps(r) + "\n")
other = next(c for c in range(1, 7) if c not in rows[2]["labels"])
lab = np.array(Image.open("ir/" + rows[2]["ir_label"])); lab[3, 5] = other
Image.fromarray(lab).save("ir/foreign.png")
bad = dict(rows[2]); bad["ir_label"] = "foreign.png"
with open("ir/foreign.jsonl", "w") as f:
    for r in rows[:2] + [bad] + rows[3:]: f.write(json.dumps(r) + "\n")
PY
expect_exit 1 wsss-amn train "${TRAIN[@]}" --epochs 1 ir/missing.jsonl bad1
assert_grep "nowhere.png.*s000001" "$T/err"
[ ! -e bad1 ] || [ -z "$(ls -A bad1)" ] || fail "a failed training left output"
expect_exit 1 wsss-amn train "${TRAIN[@]}" --epochs 1 ir/foreign.jsonl bad2
assert_grep "foreign.png: item 's000002': label [0-9] at \(x=5, y=3\) is not among the image's labels" "$T/err"
[ ! -e bad2 ] || [ -z "$(ls -A bad2)" ] || fail "a failed training left output"
expect_exit 1 wsss-amn cam "${CAM[@]}" ir/foreign.jsonl bad3
assert_grep "s000002.*not among the image's labels" bad3/failed.txt
[ ! -e bad3/manifest.jsonl ] || fail "manifest written despite a failed item"
[ ! -e bad3/cam/s000002.npy ] || fail "a failed item left a map"
wsss-data vocab voc12 > voc.json
expect_exit 1 wsss-amn cam "${CAM[@]}" --classes voc.json ir/manifest.jsonl bad4
assert_grep "model has 6 classes but the data's vocabulary 'voc12' has 20" "$T/err"
[ ! -e bad4/manifest.jsonl ] || fail "output for a model of another class count"
echo OK
