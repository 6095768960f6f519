# The Table-1 experiment's make rules (scripts/experiment.mk over
# scripts/pipeline.sh) at tiny sizes: a full run prints the table, an up-to-date
# run does nothing, a newer input reruns exactly the stages downstream of it, and
# an interrupted stage continues from its journal or checkpoint.
source "$(dirname "$0")/lib.sh"

export TRAIN_COUNT=24 VAL_COUNT=8 CLS_EPOCHS=1 IRN_EPOCHS=1 SEG_ITERS=4
EXP=$T/exp
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$WSSS_SOURCE" --no-print-directory BIN="$WSSS_BIN" EXP="$EXP" STAGE_JOBS=1 "$@"; }
stages_run() { grep -oE '^== [a-z-]+$' "$1" | cut -d' ' -f2 | sort | tr '\n' ' '; }

expect_exit 0 mk -j2 experiment
assert_grep '^\| CAM \+ dense CRF \(deeplab preset\) \| [0-9.]+ \| [0-9.]+ \|' "$T/out"
assert_grep '^\| ground truth \(fully supervised bound\) \| 100 \| [0-9.]+ \| - \|' "$T/out"
for row in cam crf irn gt; do
  assert_grep "\"row\": \"$row\", [^}]*\"seg_miou_val\": [0-9.]+" "$EXP/results.json"
done
[ "$(stages_run "$T/err" | wc -w)" = 22 ] || fail "first run: expected all 22 stages, ran: $(stages_run "$T/err")"
cp "$EXP/results.json" first.json

# Up to date: nothing to do.
expect_exit 0 mk -n "$EXP/results.json"
assert_no_grep 'pipeline.sh' "$T/out"

# A newer input reruns only what depends on it (with --overwrite: the done file exists).
touch "$EXP/pseudo-crf/manifest.jsonl"
expect_exit 0 mk -j2 experiment
[ "$(stages_run "$T/err")" = "pred-crf seg-crf table " ] || fail "after touching pseudo-crf ran: $(stages_run "$T/err")"
assert_grep 'wsss-train-seg train .*--overwrite' "$T/err"

# Interrupted stages continue. A predict that stopped part-way (here: one
# unreadable image, so no manifest) takes its finished images from the journal
# once rerun; a trainer without its model resumes from its checkpoint.
rm "$EXP/pred-irn/manifest.jsonl" "$EXP/seg-gt/model.safetensors"
mv "$EXP/val/images/val000003.png" hidden.png
expect_exit 2 mk -j2 experiment          # make's own exit code for a failed recipe
assert_grep 'val000003' "$EXP/pred-irn/failed.txt"
cp "$T/err" failed-run.err
[ ! -e "$EXP/pred-irn/manifest.jsonl" ] || fail "a failed stage wrote its manifest"
mv hidden.png "$EXP/val/images/val000003.png"
expect_exit 0 mk -j2 experiment
assert_grep 'done 1, skipped 7, failed 0 of 8' "$T/err"
cat failed-run.err "$T/err" > both.err   # make -j2 may have run seg-gt beside the failing stage
assert_grep 'wsss-train-seg train .*--resume' both.err

# Same seed and inputs: the same table.
sed 's/"experiment": "[^"]*", //' first.json > a.json
sed 's/"experiment": "[^"]*", //' "$EXP/results.json" > b.json
# Times differ between runs; every mIoU must not.
diff <(grep -oE '"(pseudo|seg)_miou_[a-z]+": [0-9.]+' a.json) <(grep -oE '"(pseudo|seg)_miou_[a-z]+": [0-9.]+' b.json) \
  || fail "mIoU changed between the first run and the resumed one"
echo ok
