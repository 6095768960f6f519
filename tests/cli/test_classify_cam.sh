#!/usr/bin/env bash
# wsss-classify (train, predict) and wsss-cam on tiny synthetic data: outputs,
# resume, refusal to clobber, determinism over -j and shards, --skip-existing,
# float16, and bad input (wrong model, class mismatch, missing labels,
# truncated weights, --device cuda without CUDA).
source "$WSSS_SOURCE/tests/cli/lib.sh"

for cmd in "wsss-classify" "wsss-classify train" "wsss-classify predict" "wsss-cam"; do
  expect_exit 0 $cmd --help
  for word in 'Usage:' 'e\.g\.:' 'See also:'; do assert_grep "$word" "$T/out"; done
done
expect_exit 2 wsss-classify
expect_exit 2 wsss-cam

expect_exit 0 wsss-data synth d --count 24 --size 64x64 --seed 1 -j2
expect_exit 0 wsss-data synth v --count 8 --size 64x64 --seed 2 -j2
# Small settings so that each run takes a fraction of a second (-j1: OpenMP
# threads spin badly on tiny tensors when the machine is busy); momentum 0.9
# makes the optimiser state matter for the resume check.
TRAIN=(wsss-classify train -j1 --arch resnet18 --width 8 --frozen-stages 0 --train-bn --resize-long 48:80
       --crop 64 --batch 4 --lr 0.05 --momentum 0.9)

# --- train: outputs and validation metrics
expect_exit 0 "${TRAIN[@]}" --epochs 2 --val v/manifest.jsonl d/manifest.jsonl cls
for f in model.safetensors checkpoint.safetensors checkpoint.state classes.json meta.json; do
  [ -s "cls/$f" ] || fail "train did not write $f"
done
assert_grep '^mAP [0-9.]+  micro-F1 [0-9.]+  macro-F1 [0-9.]+' "$T/out"
assert_grep '"mAP"' cls/meta.json
assert_grep '"train"' cls/classes.json
assert_grep 'cam-classifier' cls/model.safetensors

# --- resume: stopping after epoch 1 of 2 and resuming gives the same model
expect_exit 0 "${TRAIN[@]}" --epochs 2 d/manifest.jsonl whole
expect_exit 0 "${TRAIN[@]}" --epochs 2 --stop-after 1 d/manifest.jsonl parts
[ -e parts/model.safetensors ] && fail "--stop-after wrote a model"
[ -s parts/checkpoint.safetensors ] && [ -s parts/checkpoint.state ] || fail "--stop-after left no checkpoint"
expect_exit 0 "${TRAIN[@]}" --epochs 2 --resume d/manifest.jsonl parts
assert_grep 'resuming after epoch 1 of 2' "$T/err"
cmp -s whole/model.safetensors parts/model.safetensors || fail "1 epoch + --resume differs from 2 epochs"
# The training log (docs/training.md): a line per step and per epoch, the
# resumed run's the same as the uninterrupted one's but for the seconds.
no_seconds() { sed 's/,"seconds":[0-9.e+-]*//' "$1"; }
diff <(no_seconds whole/train_log.jsonl) <(no_seconds parts/train_log.jsonl) || fail "resumed training log differs"
[ "$(grep -c '"kind":"step","iteration":[0-9]*,"epoch":[12],"loss":' whole/train_log.jsonl)" = 12 ] \
  || { cat whole/train_log.jsonl; fail "not 12 step lines (2 epochs of 24/4 steps)"; }
assert_grep '^\{"kind":"epoch","iteration":12,"epoch":2,"mean_loss":[0-9.e-]+,"seconds":[0-9.]+\}$' whole/train_log.jsonl
assert_grep '"kind":"validation","iteration":12,"epoch":2,"mAP":' cls/train_log.jsonl
# Another seed gives another model (the comparison above can fail).
expect_exit 0 "${TRAIN[@]}" --epochs 2 --seed 6 d/manifest.jsonl seed6
cmp -s whole/model.safetensors seed6/model.safetensors && fail "--seed does not change the model"
# Resuming with another schedule is refused, naming the option.
expect_exit 0 "${TRAIN[@]}" --epochs 2 --stop-after 1 d/manifest.jsonl other
expect_exit 1 "${TRAIN[@]}" --epochs 3 --resume d/manifest.jsonl other
assert_grep 'other/checkpoint.safetensors: --resume with other training options \(epochs 3 here, 2 in' "$T/err"
expect_exit 1 "${TRAIN[@]}" --epochs 2 d/manifest.jsonl other
assert_grep 'other/checkpoint.safetensors: a checkpoint exists' "$T/err"
expect_exit 1 "${TRAIN[@]}" --epochs 2 --resume d/manifest.jsonl nothing
assert_grep 'nothing: --resume but no checkpoint' "$T/err"

# --- refusal to clobber a finished run
cp cls/model.safetensors model.before
expect_exit 1 "${TRAIN[@]}" --epochs 1 d/manifest.jsonl cls
assert_grep 'cls/model.safetensors: output exists' "$T/err"
cmp -s cls/model.safetensors model.before || fail "refused run touched the model"
expect_exit 2 "${TRAIN[@]}" --epochs 1 --stop-after 2 d/manifest.jsonl x
expect_exit 2 "${TRAIN[@]}" --epochs 1 --batch 25 d/manifest.jsonl x
[ -e x ] && fail "a refused run left x/"

# --- predict: scores and pred_labels; --set-labels fills absent labels only
expect_exit 0 wsss-classify predict -j2 --model cls/model.safetensors d/manifest.jsonl pred
assert_summary
[ "$(grep -c '"scores":\[[0-9.e-]*\(,[0-9.e-]*\)\{5\}\],"pred_labels":\[' pred/manifest.jsonl)" = 24 ] \
  || { cat pred/manifest.jsonl; fail "predict: not 6 scores and pred_labels on every record"; }
expect_exit 0 wsss-classify predict -j1 --model cls/model.safetensors d/manifest.jsonl pred1
cmp -s pred/manifest.jsonl pred1/manifest.jsonl || fail "predict -j1 and -j2 differ"
# s000000 keeps its labels, s000001 loses them and gets the predicted ones;
# s000002 has an empty label list (an image of background only).
sed -e '2s/"labels":\[[0-9,]*\],//' -e '3s/"labels":\[[0-9,]*\]/"labels":[]/' d/manifest.jsonl > d/partial.jsonl
assert_no_grep '"id":"s000001".*"labels"' d/partial.jsonl
expect_exit 0 wsss-classify predict --set-labels --model cls/model.safetensors d/partial.jsonl setl
first_labels=$(head -n 1 d/manifest.jsonl | grep -o '"labels":\[[0-9,]*\]')
head -n 1 setl/manifest.jsonl | grep -qF "$first_labels" || fail "--set-labels replaced existing labels"
line2=$(sed -n 2p setl/manifest.jsonl)
pred2=$(grep -o '"pred_labels":\[[0-9,]*\]' <<<"$line2")
labels2=$(grep -o '"labels":\[[0-9,]*\]' <<<"$line2") || fail "--set-labels left s000001 without labels"
[ "${pred2#*:}" = "${labels2#*:}" ] || fail "--set-labels: $labels2 is not $pred2"

# --- wsss-cam: one [k,H,W] float32 map per image, k = number of labels
expect_exit 0 wsss-cam -j2 --model cls/model.safetensors d/manifest.jsonl cam
assert_summary
[ "$(wc -l < cam/manifest.jsonl)" = 24 ] || fail "expected 24 CAM records"
assert_grep '^\{"id":"s000000",.*"cam":"cam/s000000.npy","cam_classes":\[[1-6](,[1-6])*\],"cam_lowres":"cam_lowres/s000000.npy"\}$' \
  cam/manifest.jsonl
while IFS= read -r line; do
  id=$(grep -o '"id":"[^"]*"' <<<"$line" | cut -d'"' -f4)
  labels=$(grep -o '"labels":\[[0-9,]*\]' <<<"$line")
  classes=$(grep -o '"cam_classes":\[[0-9,]*\]' <<<"$line")
  [ "${labels#*:}" = "${classes#*:}" ] || fail "$id: cam_classes $classes differ from $labels"
  k=$(grep -o '[0-9]' <<<"${labels#*:}" | wc -l)
  head -c 128 "cam/cam/$id.npy" | tr -d '\0' | grep -q "'descr': '<f4'.*'shape': ($k, 64, 64)" \
    || fail "$id: cam is not [$k,64,64] float32"
  head -c 128 "cam/cam_lowres/$id.npy" | tr -d '\0' | grep -q "'descr': '<f4'.*'shape': ($k, 16, 16)" \
    || fail "$id: cam_lowres is not [$k,16,16] float32"
done < cam/manifest.jsonl

# Byte-identical for any -j, and sharded + merged = unsharded.
expect_exit 0 wsss-cam -j1 --model cls/model.safetensors d/manifest.jsonl cam_j1
assert_same_tree cam cam_j1
expect_exit 0 wsss-cam -j2 --model cls/model.safetensors d/manifest.jsonl --shard 1/2 sharded
expect_exit 0 wsss-cam -j1 --model cls/model.safetensors d/manifest.jsonl --shard 2/2 sharded
expect_exit 0 wsss-data merge sharded
cmp -s sharded/manifest.jsonl cam/manifest.jsonl || fail "merged shards differ from the unsharded manifest"
diff -r cam/cam sharded/cam >/dev/null || fail "sharded maps differ"
# A model with a NaN weight is refused before any map is written (it used to
# write all-NaN score maps with exit 0), naming the file and the tensor.
/usr/bin/python3 - cls/model.safetensors nan_model.safetensors <<'PY'
import json, struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
name = "backbone.layer3.0.conv1.weight"
start = 8 + n + header[name]["data_offsets"][0]
assert header[name]["dtype"] == "F32"
data[start + 8:start + 12] = struct.pack("<f", float("nan"))
open(sys.argv[2], "wb").write(data)
PY
expect_exit 1 wsss-cam -j2 --model nan_model.safetensors d/manifest.jsonl cam_nan
assert_grep "nan_model.safetensors: tensor 'backbone.layer3.0.conv1.weight' has 1 NaN or infinite values" "$T/err"
ls cam_nan/cam/*.npy >/dev/null 2>&1 && fail "maps were written from a model with a NaN"
# Another model gives other maps (the comparisons above can fail).
expect_exit 0 wsss-cam -j2 --model seed6/model.safetensors d/manifest.jsonl cam_seed6
cmp -s cam/cam/s000000.npy cam_seed6/cam/s000000.npy && fail "the model does not change the maps"

# --skip-existing after a complete run changes nothing; a second run without it is refused.
cp -a cam cam_copy
expect_exit 0 wsss-cam -j2 --skip-existing --model cls/model.safetensors d/manifest.jsonl cam
assert_grep 'done 0, skipped 24, failed 0 of 24' "$T/err"
assert_same_tree cam cam_copy
[ -z "$(find cam -name '*.npy' -newer cam_copy/manifest.jsonl)" ] || fail "--skip-existing rewrote maps"
rm cam/cam/s000003.npy
expect_exit 0 wsss-cam -j2 --skip-existing --model cls/model.safetensors d/manifest.jsonl cam
assert_grep 'done 1, skipped 23, failed 0 of 24' "$T/err"
assert_same_tree cam cam_copy
expect_exit 1 wsss-cam --model cls/model.safetensors d/manifest.jsonl cam
assert_grep 'output exists' "$T/err"

# Options: float16, no low-res maps, one scale, classes from predictions or all.
expect_exit 0 wsss-cam --float16 --no-lowres --scales 1.0 --model cls/model.safetensors d/manifest.jsonl half
head -c 128 half/cam/s000000.npy | tr -d '\0' | grep -q "'descr': '<f2'" || fail "--float16 did not write <f2"
[ -e half/cam_lowres ] && fail "--no-lowres wrote cam_lowres"
assert_no_grep 'cam_lowres' half/manifest.jsonl
expect_exit 0 wsss-cam --cam-classes all --model cls/model.safetensors d/partial.jsonl all
assert_grep '"id":"s000001",.*"cam_classes":\[1,2,3,4,5,6\]' all/manifest.jsonl
expect_exit 0 wsss-cam --cam-classes pred --model cls/model.safetensors pred/manifest.jsonl campred
expect_exit 2 wsss-cam --scales 1.0,x --model cls/model.safetensors d/manifest.jsonl y
expect_exit 2 wsss-cam --scales 0 --model cls/model.safetensors d/manifest.jsonl y

# The CAM manifest feeds the background-threshold sweep of wsss-miou.
expect_exit 0 wsss-miou --pred cam --bg-sweep 0.05:0.60:0.05 -j2 cam/manifest.jsonl
assert_grep '^mIoU [0-9.]+ over 7 classes at threshold 0\.[0-9]+' "$T/out"

# --- bad input: one line naming the file or item, no manifest left behind
# An image without labels fails that item only; --max-failed 1 lets the run finish without it.
expect_exit 1 wsss-cam --model cls/model.safetensors d/partial.jsonl nolab
assert_grep "item 's000001' failed: .*d/partial.jsonl: item 's000001': no \"labels\"" "$T/err"
[ -e nolab/manifest.jsonl ] && fail "manifest left after a failed item"
assert_grep '^s000001	' nolab/failed.txt
expect_exit 0 wsss-cam --max-failed 1 --model cls/model.safetensors d/partial.jsonl nolab1
assert_grep 'done 23, skipped 0, failed 1 of 24' "$T/err"
assert_no_grep '"id":"s000001"' nolab1/manifest.jsonl
assert_grep '^s000001	' nolab1/failed.txt
# No labels at all: empty [0,H,W] maps, no network pass needed.
assert_grep '"id":"s000002",.*"cam_classes":\[\]' nolab1/manifest.jsonl
head -c 128 nolab1/cam/s000002.npy | tr -d '\0' | grep -q "'shape': (0, 64, 64)" || fail "empty labels: not [0,64,64]"
head -c 128 nolab1/cam_lowres/s000002.npy | tr -d '\0' | grep -q "'shape': (0, 16, 16)" || fail "empty labels: low-res not [0,16,16]"
expect_exit 1 "${TRAIN[@]}" --epochs 1 d/partial.jsonl trainlab
assert_grep "d/partial.jsonl: item 's000001': no \"labels\"" "$T/err"
[ -e trainlab/model.safetensors ] && fail "training without labels wrote a model"

# Model and vocabulary disagree (6 synth classes vs 20 VOC classes).
expect_exit 1 wsss-cam --classes voc12 --model cls/model.safetensors d/manifest.jsonl voc
assert_grep 'cls/model.safetensors: model has 6 classes but the data.s vocabulary .voc12. has 20' "$T/err"
[ -e voc/manifest.jsonl ] && fail "manifest left after a class mismatch"
expect_exit 1 wsss-classify predict --classes voc12 --model cls/model.safetensors d/manifest.jsonl vocp
assert_grep 'model has 6 classes' "$T/err"

# Hand-edited weight files: no model kind, another model kind, another architecture.
cat > tamper.py <<'EOF'
import json, struct, sys
src, dst, key, value = sys.argv[1:5]
data = open(src, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
meta = header.setdefault("__metadata__", {})
if value == "-":
    meta.pop(key, None)
elif key == "wsss.backbone":
    spec = json.loads(meta[key]); spec["arch"] = value; meta[key] = json.dumps(spec)
else:
    meta[key] = value
out = json.dumps(header).encode()
open(dst, "wb").write(struct.pack("<Q", len(out)) + out + data[8 + n:])
EOF
/usr/bin/python3 tamper.py cls/model.safetensors nokind.safetensors wsss.model -
/usr/bin/python3 tamper.py cls/model.safetensors seg.safetensors wsss.model segmenter
/usr/bin/python3 tamper.py cls/model.safetensors r34.safetensors wsss.backbone resnet34
expect_exit 1 wsss-cam --model nokind.safetensors d/manifest.jsonl m1
assert_grep "nokind.safetensors: not a CAM classifier \(wsss.model = ''" "$T/err"
expect_exit 1 wsss-cam --model seg.safetensors d/manifest.jsonl m2
assert_grep "seg.safetensors: not a CAM classifier \(wsss.model = 'segmenter'" "$T/err"
expect_exit 1 wsss-cam --model r34.safetensors d/manifest.jsonl m3
assert_grep "r34.safetensors: [0-9]+ model tensors missing from the file" "$T/err"
expect_exit 1 wsss-classify predict --model seg.safetensors d/manifest.jsonl m4
assert_grep "seg.safetensors: not a CAM classifier" "$T/err"

# Truncated weight files: inside the header and inside the tensor data.
head -c 1000 cls/model.safetensors > trunc.safetensors
expect_exit 1 wsss-cam --model trunc.safetensors d/manifest.jsonl t1
assert_grep 'trunc.safetensors: truncated safetensors file' "$T/err"
size=$(stat -c %s cls/model.safetensors)
head -c $((size - 100)) cls/model.safetensors > short.safetensors
expect_exit 1 wsss-cam --model short.safetensors d/manifest.jsonl t2
assert_grep "short.safetensors: tensor '[^']+': .*truncated file" "$T/err"
for d in voc vocp m1 m2 m3 m4 t1 t2; do [ -e "$d/manifest.jsonl" ] && fail "$d/manifest.jsonl left"; done

# --device cuda without CUDA: a usage error, nothing written.
if ! command -v nvidia-smi >/dev/null; then
  expect_exit 2 wsss-cam --device cuda --model cls/model.safetensors d/manifest.jsonl gpu
  assert_grep '--device cuda: CUDA is not available' "$T/err"
  expect_exit 2 "${TRAIN[@]}" --epochs 1 --device cuda d/manifest.jsonl gpu
  assert_grep '--device cuda: CUDA is not available' "$T/err"
  [ -e gpu ] && fail "--device cuda left gpu/"
fi
exit 0
