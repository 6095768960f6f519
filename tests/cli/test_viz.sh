#!/usr/bin/env bash
# wsss-viz on hand-made score maps and masks: panel layout, -j and shard
# determinism, the grid after a sharded run, --worst against per-image mIoU from
# wsss-miou, --sample and --ids, resume and refusals, bad input; wsss-report's
# command line (the page itself: tests/unit/report_test.cpp, tests/browser/).
source "$WSSS_SOURCE/tests/cli/lib.sh"
if ! /usr/bin/python3 -c "import numpy, PIL" 2>/dev/null; then echo "SKIP: /usr/bin/python3 lacks numpy/PIL"; exit 77; fi

for cmd in wsss-viz wsss-report; do
  expect_exit 0 $cmd --help
  for word in 'Usage:' 'e\.g\.:' 'See also:'; do assert_grep "$word" "$T/out"; done
  expect_exit 2 $cmd
done

wsss-data synth -q --count 12 --size 48x40 --seed 5 data
# Score maps from the GT with noise of a different strength per image, so that
# the pseudo masks made from them range from good to poor.
/usr/bin/python3 - <<'PY'
import json, os
import numpy as np
from PIL import Image
rng = np.random.default_rng(1)
os.makedirs("cams/cam", exist_ok=True)
out = []
for line in open("data/manifest.jsonl"):
    r = json.loads(line)
    gt = np.array(Image.open(os.path.join("data", r["mask"])))
    noise = rng.uniform(0.1, 1.2)
    maps = np.stack([(gt == c) * 0.6 + rng.random(gt.shape) * noise for c in r["labels"]]).astype(np.float32)
    np.save(f"cams/cam/{r['id']}.npy", np.clip(maps, 0, 1))
    r.update(image="../data/" + r["image"], mask="../data/" + r["mask"], cam=f"cam/{r['id']}.npy", cam_classes=r["labels"])
    out.append(json.dumps(r))
open("cams/manifest.jsonl", "w").write("\n".join(out) + "\n")
PY
cp data/classes.json cams/
wsss-pseudo -q -j2 --bg-threshold 0.5 cams/manifest.jsonl p 2>/dev/null
wsss-pseudo -q -j2 --bg-threshold 0.8 cams/manifest.jsonl q 2>/dev/null
mkdir m
wsss-data join -q p/manifest.jsonl q/manifest.jsonl --take pseudo:pred -o m/manifest.jsonl
png_size() { /usr/bin/python3 -c "import struct,sys; d=open(sys.argv[1],'rb').read(24); print(*struct.unpack('>II', d[16:24]))" "$1"; }
labels_of() { grep -o "\"id\":\"$1\"[^}]*\"labels\":\[[0-9,]*\]" m/manifest.jsonl | grep -o '\[[0-9,]*\]' | tr -d '[]' | tr ',' '\n' | grep -c .; }

# --- every field the records have: image, one heat map per class (cam), the
# overlays of mask, pseudo and pred, the error maps of pseudo and pred.
expect_exit 0 wsss-viz -j2 m/manifest.jsonl all
assert_summary
assert_grep 'drawing 12 of 12 images' "$T/err"
assert_grep "wrote all/grid.png" "$T/err"
[ "$(grep -c '"viz":"viz/' all/manifest.jsonl)" = 12 ] || fail "not 12 viz fields"
for id in s000000 s000005; do
  n=$((1 + $(labels_of $id) + 3 + 2))
  [ "$(png_size all/viz/$id.png)" = "$((n * 48 + (n - 1) * 4)) $((40 + 16))" ] \
    || fail "$id: picture $(png_size all/viz/$id.png), expected $n panels of 48x40 with titles"
done
[ -s all/grid.png ] || fail "no grid"
# The same pictures whatever -j.
expect_exit 0 wsss-viz -j1 m/manifest.jsonl all1
assert_same_tree all all1
# --size scales the panels.
expect_exit 0 wsss-viz -q --ids s000000 --size 96 --scores cam --masks pseudo m/manifest.jsonl big
n=$((1 + $(labels_of s000000) + 1))
[ "$(png_size big/viz/s000000.png)" = "$((n * 96 + (n - 1) * 4)) $((80 + 16))" ] || fail "--size 96: $(png_size big/viz/s000000.png)"

# --- shards: no grid per shard; after the merge an unsharded --skip-existing run
# draws nothing again and writes the same grid.
for j in 1 2; do
  expect_exit 0 wsss-viz -j2 --shard $j/2 m/manifest.jsonl sh
  assert_grep 'no grid for a shard' "$T/err"
done
[ -e sh/grid.png ] && fail "a shard wrote the grid"
wsss-data merge -q sh
expect_exit 0 wsss-viz -j2 --skip-existing m/manifest.jsonl sh
assert_grep 'done 0, skipped 12, failed 0 of 12' "$T/err"
cmp -s all/grid.png sh/grid.png || fail "grid after shards + merge differs"
# Refusals: an existing output without --overwrite or --skip-existing.
expect_exit 1 wsss-viz m/manifest.jsonl all
assert_grep 'output exists' "$T/err"

# --- --worst ranks by per-image mIoU, the same as wsss-miou on each image alone.
for id in $(grep -o '"id":"[^"]*"' m/manifest.jsonl | cut -d'"' -f4); do
  grep "\"id\":\"$id\"" m/manifest.jsonl > m/one.jsonl
  printf '%s %s\n' "$(wsss-miou -q --pred pred m/one.jsonl | grep '^mIoU' | cut -d' ' -f2)" "$id"
done | sort -n -k1,1 -k2,2 > per_image.txt
expect_exit 0 wsss-viz -j2 --worst 3 --errors pred m/manifest.jsonl worst
assert_grep 'drawing 3 of 12 images' "$T/err"
/usr/bin/python3 - <<'PY' > worst.txt
import json
rows = [json.loads(l) for l in open("worst/manifest.jsonl")]
for r in sorted(rows, key=lambda r: r["viz_rank"]):
    print("%.2f %s" % (r["viz_miou"] * 100, r["id"]))
PY
diff <(head -n 3 per_image.txt) worst.txt || fail "--worst 3 differs from the three lowest per-image mIoUs of wsss-miou"
# The grid is those three pictures, stacked lowest first, with the legend.
read -r w h < <(png_size worst/grid.png)
[ "$h" -gt $((3 * 56 + 2 * 4)) ] || fail "worst grid height $h: no legend under three rows"

# --- --sample is seeded (the same with -j1), --ids keeps its order.
expect_exit 0 wsss-viz -j2 --sample 4 --seed 3 --masks pseudo m/manifest.jsonl s3
[ "$(grep -c . s3/manifest.jsonl)" = 4 ] || fail "--sample 4 drew $(grep -c . s3/manifest.jsonl)"
expect_exit 0 wsss-viz -j1 --sample 4 --seed 3 --masks pseudo m/manifest.jsonl s3b
assert_same_tree s3 s3b
expect_exit 0 wsss-viz -j2 --sample 4 --seed 4 --masks pseudo m/manifest.jsonl s4
[ "$(grep -o '"id":"[^"]*"' s3/manifest.jsonl)" != "$(grep -o '"id":"[^"]*"' s4/manifest.jsonl)" ] \
  || fail "--seed does not change the sample"
expect_exit 0 wsss-viz --ids s000007,s000002 --masks pseudo m/manifest.jsonl ids
assert_grep '"id":"s000007".*"viz_rank":0' ids/manifest.jsonl
assert_grep '"id":"s000002".*"viz_rank":1' ids/manifest.jsonl

# --- bad input
expect_exit 1 wsss-viz --ids s000099 m/manifest.jsonl x
assert_grep "m/manifest.jsonl: --ids: no item 's000099'" "$T/err"
expect_exit 2 wsss-viz --ids s1 --worst 2 m/manifest.jsonl x
expect_exit 2 wsss-viz --errors mask m/manifest.jsonl x
assert_grep "'mask' is the GT field itself" "$T/err"
expect_exit 2 wsss-viz --worst 2 --masks pseudo m/manifest.jsonl x
assert_grep 'worst needs a prediction' "$T/err"
expect_exit 2 wsss-viz --masks pseudo,pseudo m/manifest.jsonl x
expect_exit 2 wsss-viz --alpha 1.5 m/manifest.jsonl x
expect_exit 1 wsss-viz --ids s000001 --masks sam m/manifest.jsonl x
assert_grep "s000001.*no \"sam\" mask" x/failed.txt
rm cams/cam/s000004.npy
expect_exit 1 wsss-viz --scores cam cams/manifest.jsonl y
assert_grep 's000004.*s000004.npy' y/failed.txt
[ -e y/manifest.jsonl ] && fail "a failed stage wrote its manifest"

# --- wsss-report's command line: the default output, refusing to clobber, bad directories.
mkdir exp
echo '{"format":"wsss-table1","version":1,"rows":[{"row":"only","label":"only row","seg_miou_val":1.5}]}' > exp/results.json
expect_exit 0 wsss-report exp
assert_grep 'wrote exp/report.html' "$T/err"
assert_grep '<td>only row</td><td>1.50</td>' exp/report.html
expect_exit 1 wsss-report exp
assert_grep 'exp/report.html: output exists' "$T/err"
expect_exit 0 wsss-report --overwrite -o elsewhere.html exp
[ -s elsewhere.html ] || fail "-o did not write"
expect_exit 1 wsss-report data
assert_grep 'data/results.json: no results.json' "$T/err"
echo '{"rows":[{"row":"a"},{"row":"a"}]}' > exp/results.json
expect_exit 1 wsss-report --overwrite exp
assert_grep "exp/results.json: rows\[1\]: row 'a' given twice" "$T/err"
echo ok
