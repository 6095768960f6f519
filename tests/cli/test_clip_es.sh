#!/usr/bin/env bash
# wsss-clip-es end to end on synthetic images with a random small CLIP saved like
# OpenAI's files (tests/python/clip_cli_fixture.py): the maps in the score-map
# format (usable by wsss-miou's (1-max)^1 background), byte-identical for any -j,
# shards merging to the whole, --skip-existing, the tags -> cams zero-shot chain,
# and the bad inputs of issue #14 (not CLIP, missing / corrupt BPE file, a prompt
# over 77 tokens, an image smaller than one patch), each one line naming the
# file or item with nothing partial written. Skips (77) without /usr/bin/python3's
# torch or without CLIP's BPE file (shared/data/clip).
source "$WSSS_SOURCE/tests/cli/lib.sh"
if ! /usr/bin/python3 -c "import torch, numpy, PIL" 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 lacks torch/numpy/PIL (the CLIP fixture is made with torch)"; exit 77
fi
data_dir=${WSSS_CLIP_DATA:-$WSSS_SOURCE/../shared/data/clip}
bpe_src="$data_dir/bpe_simple_vocab_16e6.txt.gz"
[ -f "$bpe_src" ] || { echo "SKIP: $bpe_src is absent (CLIP's BPE vocabulary)"; exit 77; }
/usr/bin/python3 "$WSSS_SOURCE/tests/python/clip_cli_fixture.py" fx
cp "$bpe_src" fx/   # found beside the model
wsss-data synth -q --count 6 --size 120x90 --seed 3 data
K=$(/usr/bin/python3 -c "import json; print(len(json.load(open('data/classes.json'))['classes']) - 1)")

# The maps: [k, H, W] float32 in [0, 1] for the record's labels.
expect_exit 0 wsss-clip-es -j2 --model fx/model.pt data/manifest.jsonl maps
assert_summary
assert_grep 'done 6, skipped 0, failed 0 of 6' "$T/err"
assert_grep 'CLIP vision 128 wide, 6 layers, 2 heads, patch 16, grid 7' "$T/err"
/usr/bin/python3 - <<'PY' || fail "maps are not the labels' [k,H,W] score maps"
import json, numpy as np
peaks = []
for line in open("maps/manifest.jsonl"):
    r = json.loads(line)
    m = np.load("maps/" + r["cam"])
    assert r["cam_classes"] == r["labels"], r
    assert m.dtype == np.float32 and m.shape == (len(r["labels"]), 90, 120), (r["id"], m.shape)
    assert m.min() >= 0 and m.max() <= 1 + 1e-6, (r["id"], m.min(), m.max())
    peaks += list(m.reshape(m.shape[0], -1).max(1))
# A map is all zero when its CAM is above the box threshold only in the grid's
# last row or column (the reference's clipped boxes leave them out); most are not.
assert sum(p > 0.5 for p in peaks) >= len(peaks) / 2, peaks
PY
expect_exit 0 wsss-miou --pred cam --bg-power 1 maps/manifest.jsonl
assert_grep '^mIoU' "$T/out"

# Byte-identical for any -j; shards merge to the whole.
expect_exit 0 wsss-clip-es -j1 --model fx/model.pt --bpe fx/bpe_simple_vocab_16e6.txt.gz data/manifest.jsonl maps_j1
assert_same_tree maps maps_j1
expect_exit 0 wsss-clip-es -j2 --shard 1/2 --model fx/model.pt data/manifest.jsonl sharded
expect_exit 0 wsss-clip-es -j1 --shard 2/2 --model fx/model.pt data/manifest.jsonl sharded
expect_exit 0 wsss-data merge sharded
cmp -s sharded/manifest.jsonl maps/manifest.jsonl || fail "merged shards differ from the unsharded manifest"
diff -r maps/cam sharded/cam >/dev/null || fail "sharded maps differ"

# --skip-existing redoes only what is missing; a plain rerun is refused.
cp -a maps maps_copy
rm maps/cam/s000002.npy
expect_exit 0 wsss-clip-es --skip-existing --model fx/model.pt data/manifest.jsonl maps
assert_grep 'done 1, skipped 5, failed 0 of 6' "$T/err"
assert_same_tree maps maps_copy
expect_exit 1 wsss-clip-es --model fx/model.pt data/manifest.jsonl maps
assert_grep 'output exists' "$T/err"

# The box threshold changes the maps (the comparisons above can fail); float16 storage.
expect_exit 0 wsss-clip-es --box-threshold 0.9 --float16 --model fx/model.pt data/manifest.jsonl maps_t9
head -c 128 maps_t9/cam/s000000.npy | tr -d '\0' | grep -q "'descr': '<f2'" || fail "--float16 did not store float16"
/usr/bin/python3 - <<'PY' || fail "--box-threshold 0.9 changed no map"
import json, numpy as np
ids = [json.loads(l)["id"] for l in open("maps/manifest.jsonl")]
assert any(np.abs(np.load(f"maps/cam/{i}.npy") - np.load(f"maps_t9/cam/{i}.npy").astype(np.float32)).max() > 1e-3
           for i in ids)
PY

# Zero-shot: CLIP's labels (the old ones kept as labels_gt), then maps of them.
expect_exit 0 wsss-clip-es --mode tags --tag-threshold 0.5 --model fx/model.pt data/manifest.jsonl tags
/usr/bin/python3 - "$K" <<'PY' || fail "tags mode did not write labels, labels_gt and clip_scores"
import json, sys
k = int(sys.argv[1])
for line in open("tags/manifest.jsonl"):
    r = json.loads(line)
    assert len(r["clip_scores"]) == k and len(r["labels"]) >= 1 and "labels_gt" in r, r
    assert all(1 <= c <= k for c in r["labels"]) and r["labels"] == sorted(r["labels"]), r
    assert [c for c in range(1, k + 1) if r["clip_scores"][c - 1] >= 0.5] in (r["labels"], []), r
PY
[ ! -d tags/cam ] || fail "tags mode wrote maps"
expect_exit 0 wsss-clip-es --model fx/model.pt tags/manifest.jsonl zeroshot
assert_grep 'done 6, skipped 0, failed 0 of 6' "$T/err"
expect_exit 0 wsss-clip-es --mode tags --tag-threshold 1 --allow-no-tags --model fx/model.pt data/manifest.jsonl none
assert_grep '"labels":\[\]' none/manifest.jsonl

# Bad inputs: one line naming the file or item; no manifest written.
one_error() {  # PATTERN: exactly one error line on stderr, matching PATTERN
  [ "$(grep -c 'error' "$T/err")" = 1 ] || { cat "$T/err"; fail "expected one error line"; }
  assert_grep "$1" "$T/err"
}
expect_exit 1 wsss-clip-es --model fx/not_clip.pt data/manifest.jsonl bad1
one_error 'fx/not_clip.pt: not a CLIP model'
[ ! -e bad1/manifest.jsonl ] || fail "a manifest was written for a bad model"
echo 'PK not a zip' > fx/broken.pt
expect_exit 1 wsss-clip-es --model fx/broken.pt data/manifest.jsonl bad1
one_error 'fx/broken.pt: not a TorchScript archive'
expect_exit 1 wsss-clip-es --model fx/model.pt --bpe fx/none.txt.gz data/manifest.jsonl bad2
one_error 'fx/none.txt.gz: no such file'
mkdir -p nobpe && cp fx/model.pt nobpe/
expect_exit 1 wsss-clip-es --model nobpe/model.pt data/manifest.jsonl bad2
one_error 'nobpe/bpe_simple_vocab_16e6.txt.gz: no such file.*--bpe'
head -c 50000 fx/bpe_simple_vocab_16e6.txt.gz > fx/cut.txt.gz
expect_exit 1 wsss-clip-es --model fx/model.pt --bpe fx/cut.txt.gz data/manifest.jsonl bad3
one_error 'fx/cut.txt.gz: corrupt or truncated gzip'
long=$(printf 'box %.0s' $(seq 80))
printf '{"format":"wsss-clip-es","version":1,"classes":{"kite":"%s"},"background":["sky"]}' "$long" > long.json
expect_exit 1 wsss-clip-es --model fx/model.pt --prompts long.json data/manifest.jsonl bad4
one_error "long.json: class 'kite': text 'a clean origami box box .*' is 86 tokens.*context length 77"
[ ! -e bad4 ] || [ -z "$(ls -A bad4)" ] || fail "files written before a prompt error"
# An image smaller than one patch fails its item (named), the others are done.
/usr/bin/python3 - <<'PY'
import json
from PIL import Image
Image.new("RGB", (12, 40), (90, 120, 30)).save("data/tiny.png")
lines = open("data/manifest.jsonl").read().splitlines()
lines.append(json.dumps({"id": "tiny", "image": "tiny.png", "labels": [1]}))
open("data/with_tiny.jsonl", "w").write("\n".join(lines) + "\n")
PY
expect_exit 1 wsss-clip-es --model fx/model.pt data/with_tiny.jsonl bad5
assert_grep "item 'tiny' failed: .*tiny.png: 12x40 image is smaller than one 16x16 patch" "$T/err"
assert_grep '^tiny' bad5/failed.txt
[ ! -e bad5/manifest.jsonl ] || fail "a manifest was written with a failed item"
[ ! -e bad5/cam/tiny.npy ] || fail "a map was written for the failed item"
echo "ok"
