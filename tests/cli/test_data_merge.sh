#!/usr/bin/env bash
# wsss-data merge joins shard manifests: completeness, duplicates, success fraction.
source "$WSSS_SOURCE/tests/cli/lib.sh"
/usr/bin/python3 "$WSSS_SOURCE/tests/cli/data_fixtures.py" voc fake
VOC=fake/VOC2012

expect_exit 0 wsss-data voc $VOC whole --split train_aug
for j in 1 2 3; do expect_exit 0 wsss-data voc $VOC shards --split train_aug --shard $j/3; done
[ ! -e shards/manifest.jsonl ] || fail "a shard run wrote manifest.jsonl"
cp -r shards shards_copy
expect_exit 0 wsss-data merge shards
assert_grep 'merged 3 manifest\(s\): 4 records of 4 input items' "$T/err"
cmp -s shards/manifest.jsonl whole/manifest.jsonl || fail "union of shards differs from the unsharded run"
assert_grep '"total": 4' shards/meta.json
expect_exit 1 wsss-data merge shards
assert_grep 'shards/manifest.jsonl: output exists' "$T/err"
expect_exit 0 wsss-data merge shards --overwrite

# List form, shuffled order, into another folder (paths are rebased).
expect_exit 0 wsss-data merge shards_copy/manifest.3-of-3.jsonl shards_copy/manifest.1-of-3.jsonl \
  shards_copy/manifest.2-of-3.jsonl -o elsewhere/all.jsonl
[ -f elsewhere/classes.json ] || fail "classes.json not carried"
expect_exit 0 wsss-data check elsewhere/all.jsonl
# elsewhere/ and whole/ are siblings, so the rebased relative paths are the same.
cmp -s elsewhere/all.jsonl whole/manifest.jsonl || fail "list form differs from the unsharded run"

# A missing shard is named; no manifest is left.
cp -r shards_copy missing && rm missing/manifest.2-of-3.jsonl
expect_exit 1 wsss-data merge missing
assert_grep 'missing: 1 of 3 shard manifests missing: manifest.2-of-3.jsonl' "$T/err"
[ ! -e missing/manifest.jsonl ] || fail "manifest left"
# ... with the reason when the stage left one: a journal (killed) or failed items.
touch missing/.journal.2-of-3.jsonl
expect_exit 1 wsss-data merge missing
assert_grep 'manifest.2-of-3.jsonl \(interrupted: .journal.2-of-3.jsonl\); rerun those shards' "$T/err"
rm missing/manifest.3-of-3.jsonl && touch missing/failed.3-of-3.txt
expect_exit 1 wsss-data merge missing
assert_grep '2 of 3 shard manifests missing: .*2-of-3.jsonl \(interrupted: .*, manifest.3-of-3.jsonl \(items failed: failed.3-of-3.txt\)' "$T/err"
expect_exit 1 wsss-data merge shards_copy/manifest.1-of-3.jsonl shards_copy/manifest.3-of-3.jsonl -o x.jsonl
assert_grep 'manifest.2-of-3.jsonl' "$T/err"
[ ! -e x.jsonl ] || fail "manifest left"

# A duplicate id across shards names the shard and the item.
cp -r shards_copy dup && head -n 1 dup/manifest.1-of-3.jsonl >> dup/manifest.3-of-3.jsonl
expect_exit 1 wsss-data merge dup
assert_grep "dup/manifest.3-of-3.jsonl: duplicate id '[^']+' \(also in dup/manifest.1-of-3.jsonl\)" "$T/err"
[ ! -e dup/manifest.jsonl ] || fail "manifest left"

# A malformed shard line is named.
cp -r shards_copy broken && echo '{"id":' >> broken/manifest.2-of-3.jsonl
expect_exit 1 wsss-data merge broken
assert_grep 'broken/manifest.2-of-3.jsonl:[0-9]+: malformed JSON' "$T/err"
[ ! -e broken/manifest.jsonl ] || fail "manifest left"

# Success fraction against the input counts in meta.J-of-N.json: pretend shard 1 had 2 more inputs.
cp -r shards_copy frac
/usr/bin/python3 -c "
import json; p = 'frac/meta.1-of-3.json'; m = json.load(open(p)); m['items']['total'] += 2; json.dump(m, open(p, 'w'))"
expect_exit 1 wsss-data merge frac
assert_grep 'merged 4 of 6 input items \(0.6667\) is below --min-success-frac 1' "$T/err"
[ ! -e frac/manifest.jsonl ] || fail "manifest left"
expect_exit 0 wsss-data merge frac --min-success-frac 0.6
rm frac/manifest.jsonl frac/meta.2-of-3.json
expect_exit 1 wsss-data merge frac --min-success-frac 0.6
assert_grep 'frac/meta.2-of-3.json: not found' "$T/err"
echo PASS
