#!/usr/bin/env bash
# wsss-tags (tags -> labels, detector prompts) and wsss-miou --groups: exit
# codes, the issue's synonym cases end to end, reports of unmatched tags,
# refusal to clobber, and Table 2 group means against a NumPy computation.
source "$WSSS_SOURCE/tests/cli/lib.sh"
PY=/usr/bin/python3

expect_exit 0 wsss-tags --help
assert_grep "labels" "$T/out"
expect_exit 0 wsss-tags labels --help
assert_grep "synonyms" "$T/out"
expect_exit 2 wsss-tags
expect_exit 2 wsss-tags labels tags.json
expect_exit 2 wsss-tags labels tags.json m.jsonl zs --missing maybe

# --- A three-image VOC manifest --------------------------------------------
$PY - <<'PYEOF'
from PIL import Image
for name, size in [("2007_000032", (50, 40)), ("2007_000039", (30, 20)), ("2007_000063", (20, 20))]:
    Image.new("RGB", size).save(name + ".jpg")
PYEOF
wsss-data vocab voc12 > classes.json 2>/dev/null
cat > m.jsonl <<'JSON'
{"id":"2007_000032","image":"2007_000032.jpg","labels":[1,15]}
{"id":"2007_000039","image":"2007_000039.jpg","labels":[20]}
{"id":"2007_000063","image":"2007_000063.jpg","labels":[8,12]}
JSON
# RAM's output forms: a " | " string per image (keyed by file name) and lists.
cat > tags.json <<'JSON'
{"2007_000032.jpg": "airliner | person | sky | bush", "2007_000039": ["Television", "carpet", "motorcycle"],
 "2007_000063": "vegetable | sky"}
JSON
expect_exit 0 wsss-tags labels tags.json m.jsonl zs
[ "$(sed -n 1p zs/manifest.jsonl)" = '{"id":"2007_000032","image":"../2007_000032.jpg","labels":[1,15],"labels_gt":[1,15],"tags":["airliner","person","sky","bush"]}' ] \
  || fail "record 1: $(sed -n 1p zs/manifest.jsonl)"
# carpet is no car, motorcycle is a motorbike (14), vegetable no dining table.
assert_grep '"id":"2007_000039".*"labels":\[14,20\],"labels_gt":\[20\]' zs/manifest.jsonl
assert_grep '"id":"2007_000063".*"labels":\[\],"labels_gt":\[8,12\]' zs/manifest.jsonl
[ "$(cat zs/no_class.txt)" = "$(printf '2007_000063\tvegetable | sky')" ] || fail "no_class.txt: $(cat zs/no_class.txt)"
[ "$(head -n 1 zs/unmatched_tags.tsv)" = "$(printf 'sky\t2')" ] || fail "unmatched_tags.tsv: $(cat zs/unmatched_tags.tsv)"
assert_grep '^bush	1$' zs/unmatched_tags.tsv
assert_grep '^carpet	1$' zs/unmatched_tags.tsv
assert_grep '^vegetable	1$' zs/unmatched_tags.tsv
# The image without classes gets no caption; prompt names are SAM_WSSS's.
[ "$(wc -l < zs/detector_prompts.jsonl)" = 2 ] || fail "detector prompts: $(cat zs/detector_prompts.jsonl)"
assert_grep '^\{"id":"2007_000039","image":"\.\./2007_000039\.jpg","text":"motorbike \. monitor/tv \.","prompts":\["motorbike","monitor/tv"\],"category_ids":\[14,20\]\}$' zs/detector_prompts.jsonl
assert_grep 'labels vs labels_gt on 3 images: precision 75\.0%, recall 60\.0%, exact 33\.3%' "$T/err"
assert_grep '9 tags, 4 \(44\.4%\) name a class' "$T/err"
[ -f zs/classes.json ] && [ -f zs/meta.json ] || fail "classes.json or meta.json missing"

# Outputs are never clobbered without --overwrite; a rerun is byte-identical and
# a report that no longer applies is removed.
expect_exit 1 wsss-tags labels tags.json m.jsonl zs
assert_grep 'zs/manifest.jsonl: output exists' "$T/err"
cp -r zs first
printf '2007_000032\tplane\n2007_000039\ttv\n2007_000063\tcat\n' > all.txt
expect_exit 0 wsss-tags labels all.txt m.jsonl zs --overwrite
[ ! -e zs/no_class.txt ] && [ ! -e zs/unmatched_tags.tsv ] || fail "stale reports kept"
expect_exit 0 wsss-tags labels tags.json m.jsonl zs --overwrite
assert_same_tree first zs

# --- Bad input: one line naming the file and the item ------------------------
printf '2007_000032\tplane\nzzz\tcat\n' > bad.txt
expect_exit 1 wsss-tags labels bad.txt m.jsonl bad
assert_grep "bad.txt:2: 'zzz' is not an image of m.jsonl" "$T/err"
[ ! -e bad ] || fail "output written after an error"
printf '2007_000032\tplane\n2007_000039 tv\n' > bad.txt
expect_exit 1 wsss-tags labels bad.txt m.jsonl bad
assert_grep 'bad.txt:2: expected IMAGE<TAB>tag' "$T/err"
printf '2007_000032\tplane\n' > some.txt
expect_exit 1 wsss-tags labels some.txt m.jsonl bad
assert_grep "some.txt: no tags for 2 record\(s\) of m.jsonl, e.g. '2007_000039'" "$T/err"
expect_exit 0 wsss-tags labels some.txt m.jsonl some --missing skip
[ "$(wc -l < some/manifest.jsonl)" = 1 ] || fail "--missing skip"
expect_exit 0 wsss-tags labels some.txt m.jsonl empty --missing empty
[ "$(wc -l < empty/manifest.jsonl)" = 3 ] || fail "--missing empty"
# The synonym table: found in data_manifests/ beside the build, or given.
mkdir nothing
WSSS_DATA_MANIFESTS=$T/nothing expect_exit 2 wsss-tags labels tags.json m.jsonl x
assert_grep "no synonym table shipped for vocabulary 'voc12'" "$T/err"
WSSS_DATA_MANIFESTS=$T/nothing expect_exit 0 wsss-tags labels tags.json m.jsonl given \
  --synonyms "$WSSS_SOURCE/data_manifests/voc12/synonyms.json"
# Without prompts.json the class names are the prompts.
assert_grep '"text":"aeroplane \. person \."' given/detector_prompts.jsonl
printf '{"format":"wsss-synonyms","version":1,"classes":{"zebra":["zebra"]}}' > syn.json
expect_exit 1 wsss-tags labels tags.json m.jsonl x --synonyms syn.json
assert_grep "syn.json: classes: 'zebra' is not a class of vocabulary 'voc12'" "$T/err"

# --- prompts from known labels (text input) ----------------------------------
expect_exit 0 wsss-tags prompts m.jsonl -o p/detector_prompts.jsonl
assert_grep '^\{"id":"2007_000063","image":"\.\./2007_000063\.jpg","text":"cat \. dog \.","prompts":\["cat","dog"\],"category_ids":\[8,12\]\}$' p/detector_prompts.jsonl
expect_exit 1 wsss-tags prompts m.jsonl -o p/detector_prompts.jsonl
printf '{"format":"wsss-prompts","version":1,"prompts":{"cat":"house cat"}}' > names.json
expect_exit 0 wsss-tags prompts m.jsonl --prompt-names names.json -o p/named.jsonl
assert_grep '"text":"house cat \. dog \."' p/named.jsonl
printf '{"format":"wsss-prompts","version":1,"prompts":{"cat":"dog"}}' > names.json
expect_exit 1 wsss-tags prompts m.jsonl --prompt-names names.json -o p/bad.jsonl
assert_grep "names.json: prompts: 'dog' would name both 'cat' and 'dog'" "$T/err"
printf '{"id":"000000000009","image":"2007_000032.jpg","labels":[1,11,80]}\n' > coco.jsonl
expect_exit 0 wsss-tags prompts coco.jsonl --classes coco -o coco_prompts.jsonl
assert_grep '"text":"person \. fire hydrant \. toothbrush \.".*"category_ids":\[1,11,90\]' coco_prompts.jsonl
expect_exit 0 wsss-tags prompts coco.jsonl --classes coco --category-ids vocab -o coco_vocab.jsonl
assert_grep '"category_ids":\[1,11,80\]' coco_vocab.jsonl

# --- wsss-miou --groups: the survey's Table 2 on VOC classes -----------------
mkdir eval
$PY - <<'PYEOF'
import json
import numpy as np
from PIL import Image
rng = np.random.default_rng(6)
gt = rng.integers(0, 21, size=(2, 40, 30)).astype(np.uint8)
gt[0, :3, :] = 255
pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, 21, size=gt.shape)).astype(np.uint8)
pred[pred == 255] = 0
lines = []
for i in range(2):
    Image.fromarray(gt[i], mode="L").save(f"eval/gt{i}.png")
    Image.fromarray(pred[i], mode="L").save(f"eval/pred{i}.png")
    lines.append(json.dumps({"id": f"i{i}", "mask": f"gt{i}.png", "pred": f"pred{i}.png"}))
open("eval/m.jsonl", "w").write("\n".join(lines) + "\n")
keep = gt != 255
g, p = gt[keep].astype(int), pred[keep].astype(int)
iou = {}
for c in range(21):
    inter = np.sum((g == c) & (p == c)); union = np.sum((g == c) | (p == c))
    iou[c] = inter / union
names = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
         "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]
groups = [("person", ["person"]), ("animals", ["bird", "cat", "cow", "dog", "horse", "sheep"]),
          ("transportation", ["aeroplane", "bicycle", "boat", "bus", "car", "motorbike", "train"]),
          ("objects/items", ["bottle", "chair", "diningtable", "pottedplant", "sofa", "tvmonitor"])]
json.dump({n: float(np.mean([iou[names.index(c)] for c in cs])) for n, cs in groups}, open("eval/want.json", "w"))
PYEOF
expect_exit 0 wsss-miou eval/m.jsonl --classes voc12 --json eval/r.json
assert_grep '^animals +[0-9.]+  bird [0-9.]+, cat ' "$T/out"
assert_grep '^objects/items ' "$T/out"
[ "$(tail -n 1 "$T/out" | cut -c1-5)" = "mIoU " ] || fail "mIoU is no longer the last line"
$PY - <<'PYEOF' || fail "group means differ from NumPy"
import json
want = json.load(open("eval/want.json"))
got = {g["name"]: g["miou"] for g in json.load(open("eval/r.json"))["groups"]}
assert set(got) == set(want), got
for k in want:
    assert abs(got[k] - want[k]) < 1e-12, (k, got[k], want[k])
PYEOF
expect_exit 0 wsss-miou eval/m.jsonl --classes voc12 --groups none
assert_no_grep '^animals' "$T/out"
cp classes.json eval/classes.json
sed -i 's/"voc12"/"other"/; s/"sofa"/"couch"/' eval/classes.json
expect_exit 0 wsss-miou eval/m.jsonl
assert_no_grep '^animals' "$T/out"
expect_exit 2 wsss-miou eval/m.jsonl --groups voc-table2
assert_grep 'needs the 21 VOC 2012 classes' "$T/err"
echo OK
