#!/usr/bin/env bash
# ReCAM (wsss-classify recam, wsss-cam --recam) and LPCAM (wsss-lpcam cluster,
# wsss-cam --lpcam) on tiny synthetic data (issue #12): outputs, stop + resume,
# determinism over -j and shards, --skip-existing, and the bad inputs (another
# classifier's architecture, classes or prototypes; a manifest without CAMs).
# Every LibTorch process costs about a second of CPU to start, so each run
# below checks several things at once.
source "$WSSS_SOURCE/tests/cli/lib.sh"

expect_exit 0 wsss-data synth d --count 16 --size 64x64 --seed 1 -j2
# The tiny classifier of test_classify_cam.sh, one epoch.
expect_exit 0 wsss-classify train -j1 --arch resnet18 --width 8 --frozen-stages 0 --train-bn --resize-long 48:80 \
  --crop 64 --batch 4 --lr 0.05 --momentum 0.9 --epochs 1 d/manifest.jsonl cls

# --- ReCAM training: the ReCAM model; stop + resume = uninterrupted
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
# Bad input: a classifier of another architecture or class count; one line naming the file, no model.
expect_exit 1 "${RECAM[@]}" --arch resnet50 d/manifest.jsonl r50
assert_grep 'cls/model.safetensors: the classifier is resnet18 but --arch is resnet50' "$T/err"
expect_exit 1 "${RECAM[@]}" --classes voc12 d/manifest.jsonl voc
assert_grep 'cls/model.safetensors: model has 6 classes but the data.s vocabulary .voc12. has 20' "$T/err"
[ "$(grep -c 'error' "$T/err")" = 1 ] || fail "not one error line"
[ -e r50/model.safetensors ] || [ -e voc/model.safetensors ] && fail "a mismatched classifier gave a model"

# --- wsss-cam --recam: wsss-cam's outputs from W_rec * W_cls
expect_exit 0 wsss-cam -j2 --recam --model recam/model.safetensors d/manifest.jsonl rc
assert_summary
assert_grep '^\{"id":"s000000",.*"cam":"cam/s000000.npy","cam_classes":\[[1-6](,[1-6])*\],"cam_lowres"' rc/manifest.jsonl
expect_exit 0 wsss-cam -j2 --model cls/model.safetensors d/manifest.jsonl cam
cmp -s cam/cam/s000000.npy rc/cam/s000000.npy && fail "--recam gives the plain CAM"
expect_exit 1 wsss-cam --recam --model cls/model.safetensors d/manifest.jsonl bad
assert_grep "cls/model.safetensors: not a ReCAM model \(wsss.model = 'cam-classifier'" "$T/err"
[ -e bad/manifest.jsonl ] && fail "output from a refused model"

# --- LPCAM prototypes: byte-identical for -j1 and -j2 on a seeded sample
# A one-epoch classifier is unsure (p about 1/6): low probability thresholds keep prototypes of both kinds.
PROTO=(wsss-lpcam cluster --model cls/model.safetensors --clusters 4 --class-prob 0.2 --context-prob 0.05:0.2
       --max-points 40)
expect_exit 0 "${PROTO[@]}" -j1 cam/manifest.jsonl proto
assert_grep 'wrote proto/prototypes.safetensors; done 1, skipped 0, failed 0 of 1' "$T/err"
assert_grep "class 1 '[a-z]+': [0-9]+ images; [0-9]+ foreground points \([0-9]+ clustered" "$T/err"
for f in prototypes.safetensors classes.json meta.json; do [ -s "proto/$f" ] || fail "cluster did not write $f"; done
assert_grep 'lpcam-prototypes' proto/prototypes.safetensors
assert_grep '\\"clustered\\":40,' proto/prototypes.safetensors  # a set larger than --max-points was sampled
# Some class has class prototypes, some class context prototypes (else the maps below test little).
assert_grep '"class\.[1-6]":\{"data_offsets":\[[0-9]+,[0-9]+\],"dtype":"F32","shape":\[[1-4],64\]' proto/prototypes.safetensors
assert_grep '"context\.[1-6]":\{"data_offsets":\[[0-9]+,[0-9]+\],"dtype":"F32","shape":\[[1-4],64\]' proto/prototypes.safetensors
expect_exit 0 "${PROTO[@]}" -j2 cam/manifest.jsonl proto2
cmp -s proto/prototypes.safetensors proto2/prototypes.safetensors || fail "cluster -j1 and -j2 differ"
# A manifest without CAMs: one line naming it and the item, no output.
expect_exit 1 "${PROTO[@]}" d/manifest.jsonl nocam
assert_grep "d/manifest.jsonl: item 's000000': no \"cam\" score map" "$T/err"
[ -e nocam ] && fail "cluster without CAMs left output"

# --- wsss-cam --lpcam: shards at -j1 and -j2 merged = one run; --skip-existing
LP=(wsss-cam --lpcam proto/prototypes.safetensors --model cls/model.safetensors d/manifest.jsonl)
expect_exit 0 "${LP[@]}" -j2 lp
assert_summary
assert_grep '"cam":"cam/s000000.npy","cam_classes":\[' lp/manifest.jsonl
cmp -s cam/cam/s000000.npy lp/cam/s000000.npy && fail "--lpcam gives the plain CAM"
expect_exit 0 "${LP[@]}" -j1 --shard 1/2 sharded
expect_exit 0 "${LP[@]}" -j2 --shard 2/2 sharded
expect_exit 0 wsss-data merge sharded
cmp -s sharded/manifest.jsonl lp/manifest.jsonl || fail "merged shards differ from the unsharded manifest"
diff -r lp/cam sharded/cam >/dev/null || fail "sharded maps differ"
diff -r lp/cam_lowres sharded/cam_lowres >/dev/null || fail "sharded low-res maps differ"
cp -a lp lp_copy
rm lp/cam/s000004.npy
expect_exit 0 "${LP[@]}" -j2 --skip-existing lp
assert_grep 'done 1, skipped 15, failed 0 of 16' "$T/err"
assert_same_tree lp lp_copy
# Maps are finite and at most 1, some non-zero (a class without prototypes is zero, never NaN).
/usr/bin/python3 - lp/cam <<'PY' || fail "LPCAM maps not finite, above 1 or all zero"
import glob, struct, sys
peak = 0.0
for f in glob.glob(sys.argv[1] + "/*.npy"):
    data = open(f, "rb").read()
    n = struct.unpack("<H", data[8:10])[0]
    values = struct.unpack("<%df" % ((len(data) - 10 - n) // 4), data[10 + n:])
    assert all(v == v and abs(v) != float("inf") and v <= 1.0 + 1e-6 for v in values), f
    peak = max([peak] + list(values))
assert peak > 0.99, peak
PY
# Prototypes of another classifier (same architecture, one weight changed): one line naming the file, no output.
/usr/bin/python3 - cls/model.safetensors other.safetensors <<'PY'
import json, struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
start = 8 + n + header["classifier.weight"]["data_offsets"][0]
data[start:start + 4] = struct.pack("<f", 0.5)
open(sys.argv[2], "wb").write(data)
PY
expect_exit 1 "${LP[@]/cls\/model.safetensors/other.safetensors}" -j2 other
assert_grep 'proto/prototypes.safetensors: made with another classifier \(file hash [0-9a-f]+\) than other.safetensors' "$T/err"
[ "$(grep -c 'error' "$T/err")" = 1 ] || fail "not one error line"
[ -e other/manifest.jsonl ] && fail "output with another classifier's prototypes"
exit 0
