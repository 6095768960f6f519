#!/usr/bin/env bash
# ReCAM (wsss-classify recam, wsss-cam --recam) and LPCAM (wsss-lpcam cluster,
# wsss-cam --lpcam) on tiny synthetic data (issue #12): outputs, stop + resume,
# determinism over -j and shards, --skip-existing, and the bad inputs (another
# classifier's architecture, classes or prototypes; a manifest without CAMs).
source "$WSSS_SOURCE/tests/cli/lib.sh"

for cmd in "wsss-classify recam" "wsss-lpcam" "wsss-lpcam cluster"; do
  expect_exit 0 $cmd --help
  for word in 'Usage:' 'e\.g\.:' 'See also:'; do assert_grep "$word" "$T/out"; done
done
expect_exit 0 wsss-cam --help
assert_grep -- '--recam' "$T/out"
assert_grep -- '--lpcam' "$T/out"
expect_exit 2 wsss-lpcam

expect_exit 0 wsss-data synth d --count 16 --size 64x64 --seed 1 -j2
# The tiny classifier of test_classify_cam.sh, one epoch.
CLS=(wsss-classify train -j1 --arch resnet18 --width 8 --frozen-stages 0 --train-bn --resize-long 48:80
     --crop 64 --batch 4 --lr 0.05 --momentum 0.9 --epochs 1)
expect_exit 0 "${CLS[@]}" d/manifest.jsonl cls
expect_exit 0 "${CLS[@]}" --seed 3 d/manifest.jsonl cls3

# --- ReCAM training: the ReCAM model, stop + resume = uninterrupted
RECAM=(wsss-classify recam -j1 --init cls/model.safetensors --resize-long 48:80 --crop 64 --batch 4 --lr 0.01
       --momentum 0.9 --epochs 2)
expect_exit 0 "${RECAM[@]}" d/manifest.jsonl recam
assert_grep 'ReCAM from cls/model.safetensors: resnet18 \(width 8' "$T/err"
for f in model.safetensors classes.json meta.json; do [ -s "recam/$f" ] || fail "recam did not write $f"; done
assert_grep 'recam-classifier' recam/model.safetensors
assert_grep 'predictor.weight' recam/model.safetensors
expect_exit 0 "${RECAM[@]}" --stop-after 1 d/manifest.jsonl parts
[ -e parts/model.safetensors ] && fail "--stop-after wrote a model"
expect_exit 0 "${RECAM[@]}" --resume d/manifest.jsonl parts
assert_grep 'resuming after epoch 1 of 2' "$T/err"
cmp -s recam/model.safetensors parts/model.safetensors || fail "1 epoch + --resume differs from 2 epochs"
# The ReCAM loss changes the weights (the comparison above can fail): loss weight 0 is BCE only.
expect_exit 0 "${RECAM[@]}" --loss-weight 0 d/manifest.jsonl bceonly
cmp -s recam/model.safetensors bceonly/model.safetensors && fail "--loss-weight does not change the model"

# --- ReCAM bad input: one line naming the file, no output
expect_exit 1 "${RECAM[@]}" --arch resnet50 d/manifest.jsonl r50
assert_grep 'cls/model.safetensors: the classifier is resnet18 but --arch is resnet50' "$T/err"
[ -e r50/model.safetensors ] && fail "an architecture mismatch wrote a model"
expect_exit 1 "${RECAM[@]}" --classes voc12 d/manifest.jsonl voc
assert_grep 'cls/model.safetensors: model has 6 classes but the data.s vocabulary .voc12. has 20' "$T/err"
[ -e voc/model.safetensors ] && fail "a class mismatch wrote a model"
expect_exit 1 wsss-classify recam -j1 --init recam/model.safetensors --crop 64 --batch 4 d/manifest.jsonl again
assert_grep "recam/model.safetensors: not a CAM classifier \(wsss.model = 'recam-classifier'" "$T/err"
expect_exit 2 wsss-classify recam --crop 64 --batch 4 d/manifest.jsonl noinit
assert_grep -- '--init' "$T/err"
[ "$(wc -l < "$T/err")" -le 2 ] || fail "errors are not one line"

# --- wsss-cam --recam: maps like wsss-cam's, byte-identical for any -j and shards
expect_exit 0 wsss-cam -j2 --recam --model recam/model.safetensors d/manifest.jsonl rc
assert_summary
[ "$(wc -l < rc/manifest.jsonl)" = 16 ] || fail "expected 16 ReCAM records"
assert_grep '"cam":"rc/cam/s000000.npy","cam_classes":\[' rc/manifest.jsonl
expect_exit 0 wsss-cam -j1 --recam --model recam/model.safetensors d/manifest.jsonl rc1
assert_same_tree rc rc1
expect_exit 0 wsss-cam -j2 --model cls/model.safetensors d/manifest.jsonl cam
cmp -s cam/cam/s000000.npy rc/cam/s000000.npy && fail "--recam gives the plain CAM"
expect_exit 1 wsss-cam --recam --model cls/model.safetensors d/manifest.jsonl bad1
assert_grep "cls/model.safetensors: not a ReCAM model \(wsss.model = 'cam-classifier'" "$T/err"
expect_exit 1 wsss-cam --model recam/model.safetensors d/manifest.jsonl bad2
assert_grep "recam/model.safetensors: not a CAM classifier .*use wsss-cam --recam" "$T/err"
expect_exit 1 wsss-cam --recam --classes voc12 --model recam/model.safetensors d/manifest.jsonl bad3
assert_grep 'recam/model.safetensors: model has 6 classes' "$T/err"
for o in bad1 bad2 bad3; do [ -e $o/manifest.jsonl ] && fail "$o: output after a refused model"; done

# --- LPCAM prototypes: byte-identical for any -j; a seeded sample of the points
PROTO=(wsss-lpcam cluster --model cls/model.safetensors --clusters 4 --class-prob 0.5 --context-prob 0.05:0.5)
expect_exit 0 "${PROTO[@]}" -j1 cam/manifest.jsonl proto
assert_grep 'wrote proto/prototypes.safetensors; done 1, skipped 0, failed 0 of 1' "$T/err"
assert_grep "class 1 '[a-z]+': [0-9]+ images; [0-9]+ foreground points" "$T/err"
for f in prototypes.safetensors classes.json meta.json; do [ -s "proto/$f" ] || fail "cluster did not write $f"; done
assert_grep 'lpcam-prototypes' proto/prototypes.safetensors
expect_exit 0 "${PROTO[@]}" -j2 cam/manifest.jsonl proto2
cmp -s proto/prototypes.safetensors proto2/prototypes.safetensors || fail "cluster -j1 and -j2 differ"
expect_exit 0 "${PROTO[@]}" -j1 --max-points 40 cam/manifest.jsonl sampled1
expect_exit 0 "${PROTO[@]}" -j2 --max-points 40 cam/manifest.jsonl sampled2
cmp -s sampled1/prototypes.safetensors sampled2/prototypes.safetensors || fail "sampled cluster -j1 and -j2 differ"
assert_grep '"clustered":40' sampled1/prototypes.safetensors
cmp -s proto/prototypes.safetensors sampled1/prototypes.safetensors && fail "--max-points changes nothing"
expect_exit 0 "${PROTO[@]}" -j2 --seed 5 cam/manifest.jsonl proto5
cmp -s proto/prototypes.safetensors proto5/prototypes.safetensors && fail "--seed changes nothing"
expect_exit 1 "${PROTO[@]}" cam/manifest.jsonl proto
assert_grep 'proto/prototypes.safetensors: output exists' "$T/err"
# A manifest without CAMs: one line naming it and the item, no output.
expect_exit 1 "${PROTO[@]}" d/manifest.jsonl nocam
assert_grep "d/manifest.jsonl: item 's000000': no \"cam\" score map" "$T/err"
[ -e nocam ] && fail "cluster without CAMs left output"
expect_exit 2 "${PROTO[@]}" --context-prob 0.9:0.1 cam/manifest.jsonl x
expect_exit 2 "${PROTO[@]}" --class-prob nan cam/manifest.jsonl x
[ -e x ] && fail "a refused cluster left output"

# --- wsss-cam --lpcam: any -j, shards + merge, --skip-existing
expect_exit 0 wsss-cam -j2 --lpcam proto/prototypes.safetensors --model cls/model.safetensors d/manifest.jsonl lp
assert_summary
assert_grep '"cam":"lp/cam/s000000.npy","cam_classes":\[' lp/manifest.jsonl
expect_exit 0 wsss-cam -j1 --lpcam proto/prototypes.safetensors --model cls/model.safetensors d/manifest.jsonl lp1
assert_same_tree lp lp1
cmp -s cam/cam/s000000.npy lp/cam/s000000.npy && fail "--lpcam gives the plain CAM"
LP=(wsss-cam --lpcam proto/prototypes.safetensors --model cls/model.safetensors d/manifest.jsonl)
expect_exit 0 "${LP[@]}" -j2 --shard 1/2 sharded
expect_exit 0 "${LP[@]}" -j1 --shard 2/2 sharded
expect_exit 0 wsss-data merge sharded
cmp -s sharded/manifest.jsonl lp/manifest.jsonl || fail "merged shards differ from the unsharded manifest"
diff -r lp/cam sharded/cam >/dev/null || fail "sharded maps differ"
rm lp/cam/s000004.npy
expect_exit 0 "${LP[@]}" -j2 --skip-existing lp
assert_grep 'done 1, skipped 15, failed 0 of 16' "$T/err"
assert_same_tree lp lp1
# Maps are finite, in [0, 1] where context exists (NaN never: a class without prototypes is zero).
/usr/bin/python3 - lp/cam <<'PY' || fail "LPCAM maps not finite or above 1"
import glob, sys
import numpy as np
for f in glob.glob(sys.argv[1] + "/*.npy"):
    m = np.load(f)
    assert np.isfinite(m).all() and m.max() <= 1.0 + 1e-6, f
PY

# --- LPCAM bad input: prototypes of another classifier, both methods at once
expect_exit 1 wsss-cam --lpcam proto/prototypes.safetensors --model cls3/model.safetensors d/manifest.jsonl other
assert_grep 'proto/prototypes.safetensors: made with another classifier .* than cls3/model.safetensors' "$T/err"
[ "$(grep -c error "$T/err")" = 1 ] || fail "not one error line"
[ -e other/manifest.jsonl ] && fail "output with another classifier's prototypes"
expect_exit 1 wsss-cam --lpcam cls/model.safetensors --model cls/model.safetensors d/manifest.jsonl notproto
assert_grep "cls/model.safetensors: not an LPCAM prototypes file" "$T/err"
expect_exit 2 wsss-cam --recam --lpcam proto/prototypes.safetensors --model recam/model.safetensors d/manifest.jsonl both
assert_grep 'exclude each other' "$T/err"
