#!/usr/bin/env bash
# wsss-data synth: options, refusal to clobber, and byte-identical output for any -j.
source "$WSSS_SOURCE/tests/cli/lib.sh"

expect_exit 0 wsss-data synth --help
assert_grep "count" "$T/out"
expect_exit 2 wsss-data synth
expect_exit 2 wsss-data synth a --size 12
expect_exit 2 wsss-data synth a --size 500by375

expect_exit 0 wsss-data synth j1 --count 40 --size 64x48 --seed 3 -j1
assert_summary
expect_exit 0 wsss-data synth j2 --count 40 --size 64x48 --seed 3 -j2
assert_same_tree j1 j2
[ "$(wc -l < j1/manifest.jsonl)" = 40 ] || fail "expected 40 records"
[ -f j1/classes.json ] && [ -f j1/meta.json ] && [ -d j1/images ] && [ -d j1/masks ] || fail "missing outputs"
assert_grep '^\{"id":"s000000","image":"images/s000000.png","labels":\[[1-6](,[1-6])*\],"mask":"masks/s000000.png"\}$' j1/manifest.jsonl
assert_grep '"train"' j1/classes.json

# Another seed gives other data; the same seed in shards gives the same items.
expect_exit 0 wsss-data synth other --count 40 --size 64x48 --seed 4
cmp -s j1/manifest.jsonl other/manifest.jsonl && fail "seed does not change the data"
expect_exit 0 wsss-data synth sh --count 40 --size 64x48 --seed 3 --shard 2/2
cmp -s j1/masks/s000039.png sh/masks/s000039.png || fail "shard 2/2 differs from the unsharded run"

# Refuse to clobber, unless --overwrite.
expect_exit 1 wsss-data synth j1 --count 40 --size 64x48 --seed 3
assert_grep "exists" "$T/err"
expect_exit 0 wsss-data synth j1 --count 40 --size 64x48 --seed 3 --overwrite
assert_same_tree j1 j2

# Masks only: no images, no image field.
expect_exit 0 wsss-data synth mo --count 5 --size 32x32 --masks-only --prefix m
[ -d mo/images ] && fail "--masks-only wrote images"
assert_no_grep '"image"' mo/manifest.jsonl
assert_grep '^\{"id":"m000004","labels":' mo/manifest.jsonl
exit 0
