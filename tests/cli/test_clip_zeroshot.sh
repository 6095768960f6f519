#!/usr/bin/env bash
# The zero-shot CLIP -> SAM recipe (issue #14; `make clip-zeroshot`, the
# experiment's clip-sam row): CLIP's labels for the images (wsss-clip-es --mode
# tags), CLIP-ES maps of those labels, SAM prompted by boxes and points of the
# maps, on synthetic images with the random small CLIP of the clip tests and
# the TorchScript stand-in for SAM of the SAM tests. Checked: the make target
# runs end to end and scores the masks; they equal the same three commands run
# by hand; the image labels used are CLIP's (the given ones kept as labels_gt);
# a rerun is byte-identical; images without ground truth are made, not scored.
# Skips (77) without /usr/bin/python3's torch or CLIP's BPE file.
source "$WSSS_SOURCE/tests/cli/lib.sh"
if ! /usr/bin/python3 -c "import torch, numpy, PIL" 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 lacks torch/numpy/PIL (the CLIP and SAM fixtures are made with torch)"; exit 77
fi
bpe="${WSSS_CLIP_DATA:-$WSSS_SOURCE/../shared/data/clip}/bpe_simple_vocab_16e6.txt.gz"
[ -f "$bpe" ] || { echo "SKIP: $bpe is absent (CLIP's BPE vocabulary)"; exit 77; }
/usr/bin/python3 "$WSSS_SOURCE/tests/python/clip_cli_fixture.py" clip
cp "$bpe" clip/
/usr/bin/python3 "$WSSS_SOURCE/tests/python/sam_fixture.py" models sam
wsss-data synth -q --count 6 --size 96x80 --seed 5 data

mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$WSSS_SOURCE" --no-print-directory BIN="$WSSS_BIN" STAGE_JOBS=2 "$@"; }
expect_exit 0 mk clip-zeroshot EXP="$T/zs" MANIFEST="$T/data/manifest.jsonl" CLIP_MODEL="$T/clip/model.pt" \
  SAM_MODEL="$T/sam/field.pt"
assert_grep '^\| CLIP tags \+ CLIP-ES \+ SAM \(zero-shot, no labels\) \| [0-9.]+ \| - \|' "$T/out"
for s in clip-tags clip-tags-cam pseudo-clip-sam table; do [ -s "zs/log/$s.log" ] || fail "no log for $s"; done

# The same three commands by hand give the same masks.
expect_exit 0 wsss-clip-es -j2 --mode tags --tag-threshold 0.5 --model clip/model.pt data/manifest.jsonl h/tags
expect_exit 0 wsss-clip-es -j2 --model clip/model.pt h/tags/manifest.jsonl h/cams
expect_exit 0 wsss-sam -j2 --model sam/field.pt --cam-prompts box+point h/cams/manifest.jsonl h/sam
/usr/bin/python3 - <<'PY' || fail "the recipe's records differ from the hand-run chain's"
import json
def records(path):
    return [{k: r.get(k) for k in ("id", "labels", "labels_gt", "pseudo", "cam_classes")} for r in map(json.loads, open(path))]
assert records("h/sam/manifest.jsonl") == records("zs/pseudo-clip-sam/manifest.jsonl")
PY
diff -r h/sam/pseudo zs/pseudo-clip-sam/pseudo >/dev/null || fail "the recipe's masks differ from the hand-run chain"
/usr/bin/python3 - <<'PY' || fail "the masks' labels are not CLIP's"
import json
for line in open("zs/pseudo-clip-sam/manifest.jsonl"):
    r = json.loads(line)
    assert "labels_gt" in r and "clip_scores" in r, r
PY
# Its mIoU is wsss-miou's on the masks.
expect_exit 0 wsss-miou -q --pred pseudo zs/pseudo-clip-sam/manifest.jsonl
[ "$(grep -oE '^mIoU [0-9.]+' "$T/out")" = "$(grep -oE '^mIoU [0-9.]+' zs/eval/pseudo-clip-sam.txt)" ] || fail "table mIoU differs"

# Without ground truth: masks made, the table says there is nothing to score.
grep -v '^$' data/manifest.jsonl | sed 's/,"mask":"[^"]*"//' > data/nomask.jsonl
expect_exit 0 mk clip-zeroshot EXP="$T/zs2" MANIFEST="$T/data/nomask.jsonl" CLIP_MODEL="$T/clip/model.pt" \
  SAM_MODEL="$T/sam/field.pt"
assert_grep '^\| all background \(baseline\) \| - \(no ground truth\) \|' "$T/out"
assert_grep '^\| CLIP tags \+ CLIP-ES \+ SAM \(zero-shot, no labels\) \| - \|' "$T/out"
diff -r zs/pseudo-clip-sam/pseudo zs2/pseudo-clip-sam/pseudo >/dev/null || fail "masks differ without the GT field"
echo ok
