#!/usr/bin/env bash
# wsss-data join: fields by id, renaming, rebased paths, missing ids.
source "$WSSS_SOURCE/tests/cli/lib.sh"

wsss-data synth a --count 6 --size 32x32 --masks-only -q
wsss-data synth b --count 6 --size 32x32 --masks-only --seed 1 -q

expect_exit 0 wsss-data join --help
expect_exit 2 wsss-data join a/manifest.jsonl b/manifest.jsonl --take mask:pred   # no -o
expect_exit 0 wsss-data join a/manifest.jsonl b/manifest.jsonl --take mask:pred -o eval/pairs.jsonl
[ "$(wc -l < eval/pairs.jsonl)" = 6 ] || fail "expected 6 records"
assert_grep '^\{"id":"s000000","labels":\[[0-9,]+\],"mask":"../a/masks/s000000.png","pred":"../b/masks/s000000.png"\}$' eval/pairs.jsonl
cmp -s a/classes.json eval/classes.json || fail "classes.json not copied beside the output"

# The output is not replaced without --overwrite.
expect_exit 1 wsss-data join a/manifest.jsonl b/manifest.jsonl --take mask:pred -o eval/pairs.jsonl
expect_exit 0 wsss-data join a/manifest.jsonl b/manifest.jsonl --take mask:pred --take labels:pred_labels \
  -o eval/pairs.jsonl --overwrite
assert_grep '"pred_labels":' eval/pairs.jsonl

# Taking a field A already has is refused.
expect_exit 1 wsss-data join a/manifest.jsonl b/manifest.jsonl --take mask -o x.jsonl
assert_grep 'already has a "mask" field' "$T/err"

# Missing ids: an error naming the id, or skipped.
grep -v s000003 b/manifest.jsonl > b/partial.jsonl
expect_exit 1 wsss-data join a/manifest.jsonl b/partial.jsonl --take mask:pred -o y.jsonl
assert_grep "'s000003'" "$T/err"
[ -e y.jsonl ] && fail "output written despite the error"
expect_exit 0 wsss-data join a/manifest.jsonl b/partial.jsonl --take mask:pred -o y.jsonl --missing skip
[ "$(wc -l < y.jsonl)" = 5 ] || fail "--missing skip should leave 5 records"
expect_exit 0 wsss-data join a/manifest.jsonl b/partial.jsonl --take mask:pred -o z.jsonl --missing keep
[ "$(wc -l < z.jsonl)" = 6 ] || fail "--missing keep should leave 6 records"
assert_grep '^\{"id":"s000003","labels":\[[0-9,]+\],"mask":"a/masks/s000003.png"\}$' z.jsonl
exit 0
