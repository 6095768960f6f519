#!/usr/bin/env bash
# wsss-train-seg (train, predict) on tiny synthetic data: outputs, resume equals
# an uninterrupted run, refusal to clobber, -j determinism, --skip-existing,
# predict options, and bad input (another kind of model, a class-count
# mismatch, a missing mask field).
source "$WSSS_SOURCE/tests/cli/lib.sh"
if ! /usr/bin/python3 -c "import numpy, PIL" 2>/dev/null; then echo "SKIP: /usr/bin/python3 lacks numpy/PIL"; exit 77; fi

for cmd in "wsss-train-seg" "wsss-train-seg train" "wsss-train-seg predict"; do
  expect_exit 0 $cmd --help
  for word in 'Usage:' 'e\.g\.:' 'See also:'; do assert_grep "$word" "$T/out"; done
done
expect_exit 0 wsss-train-seg train --help
for opt in --field --iters --iter-size --lr-decay-every --loss --msc --save-every --val-every --stop-after --resume; do
  assert_grep "$opt" "$T/out"
done
expect_exit 2 wsss-train-seg
# The metadata of a safetensors file, one KEY=VALUE line each (VALUE unescaped).
metadata() {
  /usr/bin/python3 -c "
import json, struct, sys
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]
for k, v in sorted(json.loads(f.read(n))['__metadata__'].items()): print(k + '=' + v)" "$1"
}

expect_exit 0 wsss-data synth d --count 16 --size 48x48 --seed 1 -j2
expect_exit 0 wsss-data synth v --count 4 --size 48x48 --seed 2 -j2
# Tiny settings (a fraction of a second per run); -j1 because the resume check
# compares bytes and oneDNN's results depend on the thread count.
TRAIN=(wsss-train-seg train -j1 --arch resnet18 --width 8 --crop 48 --batch 2 --iter-size 2 --field mask --lr 0.01)

# --- train: outputs, validation, checkpoints every 3 iterations
expect_exit 0 "${TRAIN[@]}" --iters 6 --save-every 3 --val v/manifest.jsonl --val-every 3 d/manifest.jsonl A
for f in model.safetensors checkpoint.safetensors checkpoint.state classes.json meta.json; do
  [ -s "A/$f" ] || fail "train did not write $f"
done
assert_grep '^mIoU [0-9.]+ over [0-9]+ classes \(iteration 6, single scale\)' "$T/out"
assert_grep 'iteration 3: validation mIoU [0-9]+\.[0-9]{2}$' "$T/err"
assert_grep 'training loop: [0-9.]+s waiting for data \(loader threads busy [0-9.]+s\), [0-9.]+s writing checkpoints, of [0-9.]+s$' "$T/err"
for key in data_wait_seconds loading_seconds checkpoint_seconds; do assert_grep "\"$key\": [0-9.e-]+" A/meta.json; done
assert_grep '"validation"' A/meta.json
[ "$(grep -o '"iteration": *[0-9]*' A/meta.json | tr -d ' \n')" = '"iteration":3"iteration":6' ] \
  || fail "meta.json lacks validations at iterations 3 and 6"
metadata A/model.safetensors > A.meta
assert_grep '^wsss.model=deeplabv2$' A.meta
assert_grep '^wsss.head=\{"aspp_rates":\[6,12,18,24\]\}$' A.meta
assert_grep '^wsss.class_names=\["background",' A.meta
assert_grep '^wsss.backbone=.*"dilations":\[1,1,2,4\]' A.meta
assert_grep '^wsss.training_options=.*"iter_size":2.*"lr_decay_every":10' A.meta
assert_grep '"synth"' A/classes.json

# --- resume: 3 iterations, stop, --resume to 6 gives the same bytes as 6 at once
# (A also validated and checkpointed in between, which must not matter).
expect_exit 0 "${TRAIN[@]}" --iters 6 --stop-after 3 d/manifest.jsonl B
[ -e B/model.safetensors ] && fail "--stop-after wrote a model"
[ -s B/checkpoint.safetensors ] && [ -s B/checkpoint.state ] || fail "--stop-after left no checkpoint"
assert_grep 'stopped after iteration 3 of 6' "$T/err"
# A killed run leaves log lines past its checkpoint, the last one torn: the
# resumed run drops them (train_log.jsonl, docs/training.md).
printf '{"kind":"step","iteration":4,"loss":9,"lr":1,"seconds":1}\n{"kind":"step","itera' >> B/train_log.jsonl
expect_exit 0 "${TRAIN[@]}" --iters 6 --resume d/manifest.jsonl B
assert_grep 'resuming after iteration 3 of 6' "$T/err"
cmp -s A/model.safetensors B/model.safetensors || fail "3 iterations + --resume differ from 6 iterations"
# The log: every iteration once, with the losses and rates of the uninterrupted
# run (whose validations are its own lines), and A's validations at 3 and 6.
steps() { grep '"kind":"step"' "$1" | sed 's/,"seconds":[0-9.e+-]*//'; }
[ "$(steps A/train_log.jsonl | grep -o '"iteration":[0-9]*' | tr '\n' ' ')" = \
  '"iteration":1 "iteration":2 "iteration":3 "iteration":4 "iteration":5 "iteration":6 ' ] \
  || { cat A/train_log.jsonl; fail "A's log lacks iterations 1..6"; }
diff <(steps A/train_log.jsonl) <(steps B/train_log.jsonl) || fail "stopped + resumed log differs from the uninterrupted one"
[ "$(grep -c . B/train_log.jsonl)" = 6 ] || { cat B/train_log.jsonl; fail "B's log is not 6 lines"; }
[ "$(grep '"kind":"validation"' A/train_log.jsonl | grep -o '"iteration":[0-9]*,"miou":[0-9.e-]*' | cut -d, -f1 | tr '\n' ' ')" = \
  '"iteration":3 "iteration":6 ' ] || { cat A/train_log.jsonl; fail "A's log lacks validations at 3 and 6"; }
assert_grep '"kind":"step","iteration":1,"loss":[0-9.e-]+,"lr":0\.01,"seconds":[0-9.]+' A/train_log.jsonl
# The comparison can fail: another seed, another loss, MSC each change the model.
expect_exit 0 "${TRAIN[@]}" --iters 6 --seed 5 d/manifest.jsonl seed5
cmp -s A/model.safetensors seed5/model.safetensors && fail "--seed does not change the model"
expect_exit 0 "${TRAIN[@]}" --iters 6 --loss balanced d/manifest.jsonl bal
cmp -s A/model.safetensors bal/model.safetensors && fail "--loss balanced does not change the model"
expect_exit 0 "${TRAIN[@]}" --iters 2 --msc d/manifest.jsonl msc
metadata msc/model.safetensors > msc.meta
assert_grep '"msc":true' msc.meta
# Resuming with another schedule is refused, naming the option; so is a second run.
expect_exit 0 "${TRAIN[@]}" --iters 6 --stop-after 3 d/manifest.jsonl other
expect_exit 1 "${TRAIN[@]}" --iters 7 --resume d/manifest.jsonl other
assert_grep 'other/checkpoint.safetensors: --resume with other training options \(iters 7 here, 6 in' "$T/err"
expect_exit 1 "${TRAIN[@]}" --iters 6 d/manifest.jsonl other
assert_grep 'other/checkpoint.safetensors: a checkpoint exists' "$T/err"
expect_exit 1 "${TRAIN[@]}" --iters 6 --resume d/manifest.jsonl nothing
assert_grep 'nothing: --resume but no checkpoint' "$T/err"
cp A/model.safetensors model.before
expect_exit 1 "${TRAIN[@]}" --iters 6 d/manifest.jsonl A
assert_grep 'A/model.safetensors: output exists' "$T/err"
cmp -s A/model.safetensors model.before || fail "a refused run touched the model"
expect_exit 2 "${TRAIN[@]}" --iters 6 --stop-after 7 d/manifest.jsonl x
expect_exit 2 "${TRAIN[@]}" --loss focal d/manifest.jsonl x
expect_exit 2 "${TRAIN[@]}" --scales 1.0,zero d/manifest.jsonl x
[ -e x ] && fail "a refused run left x/"

# --- predict: palette PNGs in pred/, the "pred" field, scored by wsss-miou
PRED=(wsss-train-seg predict --model A/model.safetensors)
expect_exit 0 "${PRED[@]}" -j2 v/manifest.jsonl P
assert_summary
[ "$(grep -c '"pred":"pred/s[0-9]*\.png"' P/manifest.jsonl)" = 4 ] || { cat P/manifest.jsonl; fail "no pred field on every record"; }
for f in P/pred/*.png; do
  [ "$(head -c 26 "$f" | tail -c 2 | od -An -tu1 | tr -d ' ')" = 83 ] || fail "$f is not an 8-bit palette PNG"
done
expect_exit 0 wsss-miou --pred pred P/manifest.jsonl
assert_grep '^mIoU [0-9.]+' "$T/out"
expect_exit 0 "${PRED[@]}" -j1 v/manifest.jsonl P1
assert_same_tree P P1
# Flip and CRF: the same determinism (their arithmetic is covered by the unit tests).
expect_exit 0 "${PRED[@]}" --flip -j2 v/manifest.jsonl Pflip
expect_exit 0 "${PRED[@]}" --flip -j1 v/manifest.jsonl Pflip1
assert_same_tree Pflip Pflip1
expect_exit 0 "${PRED[@]}" --crf --flip --scales 1.0 --fuse mean -j2 v/manifest.jsonl Pcrf
expect_exit 0 "${PRED[@]}" --crf --flip --scales 1.0 --fuse mean -j1 v/manifest.jsonl Pcrf1
assert_same_tree Pcrf Pcrf1
expect_exit 0 wsss-miou --pred pred Pcrf/manifest.jsonl
# The VOC evaluation server's layout (test split): the same PNGs under results/.
expect_exit 0 "${PRED[@]}" --voc-server -j2 v/manifest.jsonl Pserver
for f in P/pred/*.png; do
  cmp -s "$f" "Pserver/results/VOC2012/Segmentation/comp6_test_cls/$(basename "$f")" || fail "--voc-server: $f differs or is missing"
done
[ "$(ls Pserver/results/VOC2012/Segmentation/comp6_test_cls | wc -l)" = 4 ] || fail "--voc-server: not 4 PNGs"
[ ! -e Pserver/pred ] || fail "--voc-server also wrote pred/"
assert_grep '"pred":"results/VOC2012/Segmentation/comp6_test_cls/s[0-9]*\.png"' Pserver/manifest.jsonl
# --skip-existing after a complete run changes nothing; without it the rerun is refused.
cp -a P P.before
expect_exit 0 "${PRED[@]}" -j2 --skip-existing v/manifest.jsonl P
assert_grep 'done 0, skipped 4, failed 0 of 4' "$T/err"
assert_same_tree P P.before
expect_exit 1 "${PRED[@]}" v/manifest.jsonl P
assert_grep 'output exists' "$T/err"
expect_exit 2 "${PRED[@]}" --scales 1.0,-1 v/manifest.jsonl y
expect_exit 2 "${PRED[@]}" --fuse median v/manifest.jsonl y

# --- bad input
# A CAM classifier is not a segmentation model.
expect_exit 0 wsss-classify train -j1 --arch resnet18 --width 8 --resize-long 48:64 --crop 48 --batch 4 --epochs 1 \
  d/manifest.jsonl cls
expect_exit 1 wsss-train-seg predict --model cls/model.safetensors v/manifest.jsonl bad1
assert_grep 'cls/model.safetensors: not a DeepLab-v2 segmentation model \(wsss.model = .cam-classifier.' "$T/err"
[ -e bad1/manifest.jsonl ] && fail "manifest left after a refused model"
# A vocabulary with one class fewer than the model.
/usr/bin/python3 -c "
import json; v = json.load(open('v/classes.json')); v['classes'] = v['classes'][:-1]; json.dump(v, open('fewer.json', 'w'))"
expect_exit 1 wsss-train-seg predict --classes fewer.json --model A/model.safetensors v/manifest.jsonl bad2
assert_grep 'A/model.safetensors: model has 7 classes \(background included\) but the data.s vocabulary .synth. has 6' "$T/err"
# Predict: an item without its image fails alone, named; --max-failed 1 lets the rest finish.
sed '2s/"image":"[^"]*",//' v/manifest.jsonl > v/noimage.jsonl
expect_exit 1 "${PRED[@]}" v/noimage.jsonl bad7
assert_grep "item 's000001' failed: .*v/noimage.jsonl: .*image" "$T/err"
[ -e bad7/manifest.jsonl ] && fail "manifest left after a failed item"
assert_grep '^s000001	' bad7/failed.txt
expect_exit 0 "${PRED[@]}" --max-failed 1 v/noimage.jsonl bad8
assert_grep 'done 3, skipped 0, failed 1 of 4' "$T/err"
# Training masks: a record without the field, the default field on data without pseudo masks.
sed '2s/,"mask":"[^"]*"//' d/manifest.jsonl > d/nomask.jsonl
expect_exit 1 "${TRAIN[@]}" --iters 2 d/nomask.jsonl bad3
assert_grep "d/nomask.jsonl: item 's000001': no \"mask\" mask" "$T/err"
expect_exit 1 "${TRAIN[@]}" --iters 2 --val d/nomask.jsonl d/manifest.jsonl bad6
assert_grep "d/nomask.jsonl: item 's000001': no \"mask\" mask to validate against" "$T/err"
[ -e bad6/checkpoint.safetensors ] && fail "a refused validation set let training start"
expect_exit 1 wsss-train-seg train --arch resnet18 --width 8 --crop 48 --batch 2 --iters 1 d/manifest.jsonl bad4
assert_grep "no \"pseudo\" mask \(--field pseudo; --field mask trains on ground truth\)" "$T/err"
[ -e bad3/model.safetensors ] || [ -e bad4/model.safetensors ] && fail "a failed run wrote a model"
# A mask with a label outside the vocabulary names the file.
/usr/bin/python3 - <<'PY'
import json
from PIL import Image
import numpy as np
r = json.loads(open("d/manifest.jsonl").readline())
m = np.array(Image.open("d/" + r["mask"])); m[0, 0] = 40
Image.fromarray(m).save("badlabel.png")
r["image"] = "d/" + r["image"]; r["mask"] = "badlabel.png"
open("badlabel.jsonl", "w").write(json.dumps(r) + "\n")
PY
cp d/classes.json .
expect_exit 1 "${TRAIN[@]}" --iters 1 badlabel.jsonl bad5
assert_grep 'badlabel.png: label 40 is neither a class id \(0\.\.6\) nor the ignore id 255' "$T/err"
echo OK
