#!/usr/bin/env bash
# Smoke test on real images: the whole traditional pipeline on coco128 (100
# COCO JPEGs of 640 px, 80 classes) at tiny sizes and a few iterations:
#   wsss-data coco -> wsss-classify train -> wsss-cam -> wsss-refine crf -> wsss-pseudo
#   -> wsss-pseudo (IR labels) -> wsss-refine irn-train / irn -> wsss-pseudo
#   -> wsss-train-seg train / predict -> wsss-miou
# The import takes all 100 images; the pipeline runs on 8 of them (one with no
# label), because the dense CRFs at 640 px cost about 2 s per image each.
# Every stage must finish on all 16 records, and its outputs must be valid:
# maps and masks of each image's full size, CAM classes = the image's labels,
# mask ids within the 80-class vocabulary (pseudo masks: background or one of
# the image's labels), and wsss-miou's mIoU equal to one computed here from the
# masks. The models learn next to nothing at these sizes; quality is not tested.
# Skips (77) when ../shared/data/coco128 is absent. About 60 s alone on a busy
# 2-core machine (of it 33 s in the two CRFs; 16 images took 115 s).
source "$WSSS_SOURCE/tests/cli/lib.sh"
D="$WSSS_SOURCE/../shared/data/coco128"
if [ ! -f "$D/annotations/instances_train2017.json" ]; then
  echo "SKIP: $D not found (the shared data sets live beside the checkout)"
  exit 77
fi
if ! /usr/bin/python3 -c "import numpy, PIL" 2>/dev/null; then echo "SKIP: /usr/bin/python3 lacks numpy/PIL"; exit 77; fi
N=8
SECONDS=0
# run STAGE CMD...: CMD must exit 0; prints the stage's wall time to stderr.
run() {
  local name=$1; shift
  local t0=$SECONDS
  expect_exit 0 "$@"
  echo "$name: $((SECONDS - t0))s" >&2
}
done_all() { tail -n 1 "$T/err" | grep -Eq "done $N, skipped 0, failed 0 of $N in" || { cat "$T/err"; fail "$1: not done $N of $N"; }; }
records() { [ "$(wc -l < "$2")" = "$N" ] || fail "$1: $2 has $(wc -l < "$2") records, expected $N"; }

run data wsss-data coco "$D/annotations/instances_train2017.json" "$D/images/train2017" imp
[ "$(wc -l < imp/manifest.jsonl)" = 100 ] || fail "data: coco128 has 100 images"
# (awk, not grep | head: under pipefail, grep killed by head's early exit
# fails the script at random.)
{ awk -v n=$((N - 1)) '!/"labels":\[\]/ && c < n {print; c++}' imp/manifest.jsonl
  grep -m1 '"labels":\[\]' imp/manifest.jsonl; } > imp/subset.jsonl
records data imp/subset.jsonl
run classify wsss-classify train -j2 --arch resnet18 --width 8 --frozen-stages 0 --train-bn --momentum 0.9 --lr 0.05 \
  --resize-long 64:96 --crop 96 --batch $N --epochs 1 imp/subset.jsonl cls
[ -s cls/model.safetensors ] || fail "classify: no model"
# One small scale, no flip: the maps are still written at the full 640-px size.
run cam wsss-cam -j2 --scales 0.25 --no-flip --float16 --model cls/model.safetensors imp/subset.jsonl cam
done_all cam; records cam cam/manifest.jsonl
run crf wsss-refine crf -j2 --preset deeplab --float16 cam/manifest.jsonl crf
done_all crf; records crf crf/manifest.jsonl
run pseudo-crf wsss-pseudo -j2 --field refined crf/manifest.jsonl pseudo-crf
done_all pseudo-crf; records pseudo-crf pseudo-crf/manifest.jsonl
run ir-labels wsss-pseudo -j2 --field cam --ignore irn:0.30:0.05 --crf irn --out-field ir_label cam/manifest.jsonl ir
done_all ir-labels; records ir-labels ir/manifest.jsonl
run irn-train wsss-refine irn-train -j2 --init cls/model.safetensors --scale-range 0.15:0.2 --crop 96 --batch $N \
  --epochs 1 ir/manifest.jsonl irn-model
[ -s irn-model/model.safetensors ] || fail "irn-train: no model"
run irn wsss-refine irn -j2 --exp-times 3 --model irn-model/model.safetensors ir/manifest.jsonl irn
done_all irn; records irn irn/manifest.jsonl
run pseudo-irn wsss-pseudo -j2 --field refined irn/manifest.jsonl pseudo
done_all pseudo-irn; records pseudo-irn pseudo/manifest.jsonl
# -j1: a second thread only adds synchronisation at this size.
run train-seg wsss-train-seg train -j1 --arch resnet18 --width 8 --crop 64 --batch 4 --iter-size 1 --iters 10 --lr 0.01 \
  pseudo/manifest.jsonl seg
assert_grep 'trained 10 iteration\(s\)' "$T/err"
[ -s seg/model.safetensors ] || fail "train-seg: no model"
run predict wsss-train-seg predict -j2 --model seg/model.safetensors imp/subset.jsonl pred
done_all predict; records predict pred/manifest.jsonl
run miou wsss-miou --json miou.json --pred pred pred/manifest.jsonl
assert_grep '^mIoU [0-9]+\.[0-9]+ over [0-9]+ classes$' "$T/out"
grep -oE '^mIoU [0-9.]+' "$T/out" | cut -d' ' -f2 > miou.txt

/usr/bin/python3 - "$N" <<'PY' || fail "pipeline outputs are not valid"
import json, os, sys
import numpy as np
from PIL import Image

n = int(sys.argv[1])
vocab = json.load(open("imp/classes.json"))
K = len(vocab["classes"])
assert K == 81 and vocab["classes"][0] == "background", K

def load(d, manifest="manifest.jsonl"):
    recs = [json.loads(l) for l in open(f"{d}/{manifest}")]
    assert len(recs) == n, (d, len(recs))
    return {r["id"]: r for r in recs}

imp = load("imp", "subset.jsonl")
size = {}
for i, r in imp.items():
    with Image.open(os.path.join("imp", r["image"])) as im:
        size[i] = (im.height, im.width)
assert max(max(s) for s in size.values()) == 640, "coco128 images are 640 px on the long side"
labels = {i: r["labels"] for i, r in imp.items()}
assert all(1 <= c < K for ls in labels.values() for c in ls)
assert sum(not ls for ls in labels.values()) == 1, "the subset has one image without labels"

def mask(d, path, i):
    m = np.array(Image.open(os.path.join(d, path)))
    assert m.ndim == 2 and m.shape == size[i], (d, i, m.shape, size[i])
    return m

def check_maps(d, field, with_background):
    for i, r in load(d).items():
        classes = r[field + "_classes"]
        want = ([0] if with_background else []) + labels[i]
        assert classes == want, (d, i, classes, want)
        a = np.load(os.path.join(d, r[field]))
        assert a.shape == (len(classes),) + size[i], (d, i, a.shape)
        assert np.isfinite(a).all() and (a.size == 0 or a.min() >= 0), (d, i)

check_maps("cam", "cam", False)
check_maps("crf", "refined", True)
check_maps("irn", "refined", False)

def check_masks(d, field, allowed):
    seen = set()
    for i, r in load(d).items():
        values = set(np.unique(mask(d, r[field], i)).tolist())
        assert values <= allowed(i), (d, i, values - allowed(i))
        seen |= values
    return seen

check_masks("pseudo-crf", "pseudo", lambda i: {0, *labels[i]})
check_masks("ir", "ir_label", lambda i: {0, 255, *labels[i]})
check_masks("pseudo", "pseudo", lambda i: {0, *labels[i]})
seen = check_masks("pred", "pred", lambda i: set(range(K)))

# mIoU from the masks: confusion over the GT's non-ignored pixels, IoU of the
# classes with a non-empty union (docs/evaluation.md).
conf = np.zeros((K, K), np.int64)
for i, r in load("pred").items():
    gt, pred = mask("pred", r["mask"], i).ravel().astype(np.int64), mask("pred", r["pred"], i).ravel().astype(np.int64)
    keep = gt != 255
    conf += np.bincount(gt[keep] * K + pred[keep], minlength=K * K).reshape(K, K)
tp = np.diag(conf)
union = conf.sum(0) + conf.sum(1) - tp
miou = 100 * (tp[union > 0] / union[union > 0]).mean()
got = float(open("miou.txt").read())
assert abs(got - miou) < 0.006, (got, miou)
report = json.load(open("miou.json"))
assert report["images"]["evaluated"] == n, report["images"]
print(f"coco128 pipeline: prediction mIoU {got:.2f} (recomputed {miou:.4f}), predicted classes {sorted(seen)}")
PY
echo "total: ${SECONDS}s" >&2
echo PASS
