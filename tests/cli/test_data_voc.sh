#!/usr/bin/env bash
# wsss-data voc on a tiny fake VOCdevkit: splits, label sources, GT folders,
# clobber protection and bad annotations.
source "$WSSS_SOURCE/tests/cli/lib.sh"
/usr/bin/python3 "$WSSS_SOURCE/tests/cli/data_fixtures.py" voc fake
VOC=fake/VOC2012

expect_exit 0 wsss-data voc $VOC train
[ "$(wc -l < train/manifest.jsonl)" = 2 ] || fail "train has 2 images"
# The difficult dog is a label; the person's <part><name>head</name> is not an object.
assert_grep '^\{"id":"2007_000001","image":"../fake/VOC2012/JPEGImages/2007_000001.jpg","labels":\[12,15\],"mask":"../fake/VOC2012/SegmentationClass/2007_000001.png"\}$' train/manifest.jsonl
assert_grep '"id":"2007_000003".*"labels":\[20\]' train/manifest.jsonl
assert_grep '"name": "voc12"' train/classes.json
[ -f train/meta.json ] || fail "no meta.json"
assert_summary

# Refuses to clobber; --overwrite replaces.
expect_exit 1 wsss-data voc $VOC train
assert_grep 'train/manifest.jsonl: output exists' "$T/err"
expect_exit 0 wsss-data voc $VOC train --overwrite

# train_aug: the DeepLab two-column list, GT from SegmentationClassAug, SBD-only images included.
expect_exit 0 wsss-data voc $VOC aug --split train_aug
[ "$(wc -l < aug/manifest.jsonl)" = 4 ] || fail "train_aug has 4 images"
assert_grep '"id":"2008_000004".*"labels":\[1,15\],"mask":"../fake/VOC2012/SegmentationClassAug/2008_000004.png"' aug/manifest.jsonl
# ... and from a list given with --sbd-list.
head -n 2 $VOC/ImageSets/SegmentationAug/train_aug.txt > small_aug.txt
expect_exit 0 wsss-data voc $VOC aug2 --split train_aug --sbd-list small_aug.txt
[ "$(wc -l < aug2/manifest.jsonl)" = 2 ] || fail "--sbd-list was not used"

# Labels from the masks agree with the XML labels here; SegmentationClass chosen explicitly for train_aug:
# images without a GT PNG there get no mask field.
expect_exit 0 wsss-data voc $VOC bymask --split trainval --labels-from mask
expect_exit 0 wsss-data voc $VOC byxml --split trainval
cmp -s bymask/manifest.jsonl byxml/manifest.jsonl || fail "labels from masks differ from labels from XML"
expect_exit 0 wsss-data voc $VOC augvoc --split train_aug --gt SegmentationClass
assert_grep '^\{"id":"2008_000005","image":"[^"]*","labels":\[6\]\}$' augvoc/manifest.jsonl
expect_exit 0 wsss-data check augvoc/manifest.jsonl --decode

# Deterministic whatever -j.
expect_exit 0 wsss-data voc $VOC j1 --split train_aug -j 1
expect_exit 0 wsss-data voc $VOC j2 --split train_aug -j 2
assert_same_tree j1 j2

# An unknown object name: error naming the XML file and line, no manifest left.
sed -i 's#<name>tvmonitor</name>#<name>television</name>#' $VOC/Annotations/2007_000003.xml
expect_exit 1 wsss-data voc $VOC bad
assert_grep "Annotations/2007_000003.xml:[0-9]+: class name 'television' is not in the vocabulary \(voc12; a custom set gives its classes with --classes\)" "$T/err"
[ ! -e bad/manifest.jsonl ] || fail "manifest left after a failed import"

# A VOC-format set with its own vocabulary: classes.txt (background first, CRLF,
# a trailing blank line) names 'television' where VOC says tvmonitor, and one more class.
wsss-data vocab voc12 > voc12.json 2>/dev/null
/usr/bin/python3 - <<'PY'
import json
names = json.load(open("voc12.json"))["classes"]
names = ["television" if n == "tvmonitor" else n for n in names] + ["lamp"]
open("classes.txt", "w", newline="").write("\r\n".join(names) + "\r\n\r\n")
PY
expect_exit 0 wsss-data voc --classes classes.txt $VOC custom
assert_grep '"id":"2007_000003".*"labels":\[20\]' custom/manifest.jsonl
assert_grep '"name": "custom"' custom/classes.json
assert_grep '"television","lamp"' custom/classes.json
expect_exit 0 wsss-data check custom/manifest.jsonl
# ... a name outside it is still an error naming the file and line; so is a duplicate in the list.
sed -i 's#<name>television</name>#<name>sofa-bed</name>#' $VOC/Annotations/2007_000003.xml
expect_exit 1 wsss-data voc --classes classes.txt $VOC badcustom
assert_grep "Annotations/2007_000003.xml:[0-9]+: class name 'sofa-bed' is not in the vocabulary \(custom\)" "$T/err"
[ ! -e badcustom/manifest.jsonl ] || fail "manifest left after a failed import"
printf 'background\ncat\n\ndog\n' > gap.txt
expect_exit 1 wsss-data voc --classes gap.txt $VOC badgap
assert_grep 'gap.txt:3: blank line inside the class list' "$T/err"
printf 'background\ncat\ncat\n' > dup.txt
expect_exit 1 wsss-data voc --classes dup.txt $VOC baddup
assert_grep "dup.txt: class name 'cat' appears twice" "$T/err"
sed -i 's#<name>sofa-bed</name>#<name>television</name>#' $VOC/Annotations/2007_000003.xml
# Malformed XML.
printf '<annotation><object><name>cat</name></annotation>\n' > $VOC/Annotations/2007_000003.xml
expect_exit 1 wsss-data voc $VOC bad2
assert_grep 'Annotations/2007_000003.xml:1: malformed XML' "$T/err"
[ ! -e bad2/manifest.jsonl ] || fail "manifest left after a failed import"

# A missing image names the item.
rm $VOC/JPEGImages/2007_000002.jpg
expect_exit 1 wsss-data voc $VOC bad3 --split val
assert_grep "item '2007_000002': image .*2007_000002.jpg not found" "$T/err"
[ ! -e bad3/manifest.jsonl ] || fail "manifest left after a failed import"

# A duplicate id in a split list names the list and line; an unknown split names the file.
printf '2007_000001\n2007_000001\n' > $VOC/ImageSets/Segmentation/dup.txt
expect_exit 1 wsss-data voc $VOC bad4 --split dup
assert_grep "dup.txt:2: duplicate id '2007_000001' \(first on line 1\)" "$T/err"
[ ! -e bad4/manifest.jsonl ] || fail "manifest left after a failed import"
expect_exit 1 wsss-data voc $VOC bad5 --split nosuch
assert_grep 'ImageSets/Segmentation/nosuch.txt: split list not found' "$T/err"
# An empty list needs --allow-empty.
: > $VOC/ImageSets/Segmentation/empty.txt
expect_exit 1 wsss-data voc $VOC bad6 --split empty
assert_grep 'empty.txt: no images to import \(use --allow-empty' "$T/err"
[ ! -e bad6/manifest.jsonl ] || fail "manifest left after a failed import"
echo PASS
