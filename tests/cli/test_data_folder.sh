#!/usr/bin/env bash
# wsss-data folder: a folder of images with a labels CSV.
source "$WSSS_SOURCE/tests/cli/lib.sh"
/usr/bin/python3 "$WSSS_SOURCE/tests/cli/data_fixtures.py" folder fake

expect_exit 0 wsss-data folder fake/images fake/labels.csv imp --classes voc12
assert_summary
# Names or ids, ' ' or ';' separated; mask relative to the CSV's folder; sub-folder ids kept.
assert_grep '^\{"id":"a","image":"../fake/images/a.jpg","labels":\[12,15\],"mask":"../fake/masks/a.png"\}$' imp/manifest.jsonl
assert_grep '^\{"id":"b","image":"../fake/images/b.png","labels":\[11,15\]\}$' imp/manifest.jsonl
assert_grep '^\{"id":"sub/c","image":"../fake/images/sub/c.jpg","labels":\[\]\}$' imp/manifest.jsonl
assert_grep '"name": "voc12"' imp/classes.json
expect_exit 0 wsss-data check imp/manifest.jsonl --decode

# Without a header, with a classes.json file.
tail -n +2 fake/labels.csv > fake/noheader.csv
wsss-data vocab voc12 > classes.json
expect_exit 0 wsss-data folder fake/images fake/noheader.csv out2 --classes ./classes.json
cmp -s imp/manifest.jsonl out2/manifest.jsonl || { diff imp/manifest.jsonl out2/manifest.jsonl; fail "header handling changed the records"; }

# --classes is required.
expect_exit 2 wsss-data folder fake/images fake/labels.csv imp3
assert_grep 'needs --classes' "$T/err"

# An unknown class names the CSV and the line; no manifest is left.
printf 'a.jpg,dog\nb.png,dog;unicorn\n' > bad.csv
expect_exit 1 wsss-data folder fake/images bad.csv bad --classes voc12
assert_grep "bad.csv:2: unknown class 'unicorn'" "$T/err"
[ ! -e bad/manifest.jsonl ] || fail "manifest left"
printf 'a.jpg,21\n' > bad2.csv
expect_exit 1 wsss-data folder fake/images bad2.csv bad --classes voc12
assert_grep "bad2.csv:1: class id 21 outside 1..20" "$T/err"
printf 'a.jpg,dog\nmissing.jpg,cat\n' > bad3.csv
expect_exit 1 wsss-data folder fake/images bad3.csv bad --classes voc12
assert_grep "bad3.csv:2: image .*missing.jpg not found" "$T/err"
printf 'a.jpg,dog\na.png,cat\n' > bad4.csv
cp fake/images/b.png fake/images/a.png
expect_exit 1 wsss-data folder fake/images bad4.csv bad --classes voc12
assert_grep "bad4.csv:2: duplicate id 'a' \(first on line 1\)" "$T/err"
[ ! -e bad/manifest.jsonl ] || fail "manifest left"
echo PASS
