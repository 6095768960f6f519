#!/usr/bin/env bash
# The Table-1 experiment's make rules (scripts/experiment/experiment.mk over
# scripts/pipeline.sh) at tiny sizes: a full run prints the table, an up-to-date
# run does nothing, a newer input reruns exactly the stages downstream of it, a
# changed setting reruns exactly the stages whose commands it changes, an
# interrupted stage continues from its journal or checkpoint, every stage logs
# to EXP/log/STAGE.log, --stage/--stop-stage run a range, and a bad
# configuration file is refused naming its line. The demo's ReCAM and LPCAM rows
# (with and without IRN), AMN and CAM + saliency rows run without their
# segmentation models here (SEG_ROWS), to keep the test short.
source "$(dirname "$0")/lib.sh"

export TRAIN_COUNT=24 VAL_COUNT=8 CLS_EPOCHS=1 IRN_EPOCHS=1 SEG_ITERS=4 RECAM_EPOCHS=1 AMN_EPOCHS=1 SEG_ROWS="cam crf irn gt"
EXP=$T/exp
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$WSSS_SOURCE" --no-print-directory BIN="$WSSS_BIN" EXP="$EXP" STAGE_JOBS=1 "$@"; }
stages_run() { grep -oE '^== [a-z-]+ \(log' "$1" | cut -d' ' -f2 | sort | tr '\n' ' '; }

expect_exit 0 mk -j2 experiment CONFIG=recipes/demo.conf
assert_grep '^\| CAM \+ dense CRF \(deeplab preset\) \| [0-9.]+ \| [0-9.]+ \|' "$T/out"
assert_grep '^\| ground truth \(fully supervised bound\) \| 100 \| [0-9.]+ \| - \|' "$T/out"
for row in cam crf irn gt; do
  assert_grep "\"row\": \"$row\", [^}]*\"seg_miou_val\": [0-9.]+" "$EXP/results.json"
done
for row in recam recam-irn lpcam lpcam-irn amn cam-sal; do
  assert_grep "\"row\": \"$row\", [^}]*\"pseudo_miou_train\": [0-9.]+" "$EXP/results.json"
done
assert_grep '^\| ReCAM \(bg threshold [0-9.]+\) \| [0-9.]+ \| - \|' "$T/out"
assert_grep '^\| LPCAM \(bg threshold [0-9.]+\) \| [0-9.]+ \| - \|' "$T/out"
assert_grep '^\| ReCAM \+ IRN random walk \(bg threshold [0-9.]+\) \| [0-9.]+ \| - \|' "$T/out"
assert_grep 'wsss-pseudo .*--ignore irn:[-0-9.]+:[-0-9.]+ .*/lpcam/manifest.jsonl .*/ir-lpcam ?$' "$EXP/log/ir-lpcam.log"
[ "$(stages_run "$T/err" | wc -w)" = 50 ] || fail "first run: expected all 50 stages, ran: $(stages_run "$T/err")"
assert_grep '^\| AMN \+ IRN random walk \(IR labels 0\.45 / 0\.15, bg threshold [0-9.]+\) \| [0-9.]+ \| - \|' "$T/out"
assert_grep "^\| CAM \+ saliency \(synthetic stand-in, OAA's rule\) \| [0-9.]+ \| - \|" "$T/out"
# The report of the whole run, its path printed last.
assert_grep "^report: $EXP/report.html\$" "$T/out"
assert_grep 'ReCAM' "$EXP/report.html"
for s in $(stages_run "$T/err"); do [ -s "$EXP/log/$s.log" ] || fail "no log for stage $s"; done
assert_grep '^\+ wsss-classify train ' "$EXP/log/classify.log"
# The resolved configuration is saved: the file it came from, and the environment's overrides.
assert_grep '^# config file: /.*/recipes/demo.conf$' "$EXP/config.sh"
assert_grep '^SEG_ITERS=4$' "$EXP/config.sh"
assert_grep '"SEG_ITERS": "4"' "$EXP/config.json"
cp "$EXP/results.json" first.json

# Up to date: no stage runs (the configuration is resolved again, and unchanged).
expect_exit 0 mk -n "$EXP/results.json"
assert_no_grep 'pipeline.sh [^ ]* [a-z-]+$' "$T/out"

# A newer input reruns only what depends on it (with --overwrite: the done file exists).
touch "$EXP/pseudo-crf/manifest.jsonl"
expect_exit 0 mk -j2 experiment
[ "$(stages_run "$T/err")" = "pred-crf report seg-crf table " ] || fail "after touching pseudo-crf ran: $(stages_run "$T/err")"
assert_grep 'wsss-train-seg train .*--overwrite' "$EXP/log/seg-crf.log"

# A changed setting reruns the stages whose commands it changes, and those after them.
expect_exit 0 mk -j2 experiment CRF_OPTS="--preset deeplab --bg-power 2"
[ "$(stages_run "$T/err")" = "crf pred-crf pseudo-crf report seg-crf table " ] || fail "after CRF_OPTS ran: $(stages_run "$T/err")"
assert_grep 'wsss-refine crf .*--bg-power 2' "$EXP/log/crf.log"
expect_exit 0 mk -j2 experiment      # back to the configuration's value: the same stages again
[ "$(stages_run "$T/err")" = "crf pred-crf pseudo-crf report seg-crf table " ] || fail "after restoring CRF_OPTS ran: $(stages_run "$T/err")"

# Interrupted stages continue. A predict that stopped part-way (here: one
# unreadable image, so no manifest) takes its finished images from the journal
# once rerun; a trainer without its model resumes from its checkpoint.
rm "$EXP/pred-irn/manifest.jsonl" "$EXP/seg-gt/model.safetensors"
mv "$EXP/val/images/val000003.png" hidden.png
expect_exit 2 mk -j2 experiment          # make's own exit code for a failed recipe
assert_grep 'val000003' "$EXP/pred-irn/failed.txt"
assert_grep "stage pred-irn failed \(exit 1\); its log: .*/log/pred-irn.log" "$T/err"
[ ! -e "$EXP/pred-irn/manifest.jsonl" ] || fail "a failed stage wrote its manifest"
mv hidden.png "$EXP/val/images/val000003.png"
expect_exit 0 mk -j2 experiment
assert_grep 'done 1, skipped 7, failed 0 of 8' "$EXP/log/pred-irn.log"
assert_grep 'wsss-train-seg train .*--resume' "$EXP/log/seg-gt.log"

# Same seed and inputs: the same table.
sed 's/"experiment": "[^"]*", //' first.json > a.json
sed 's/"experiment": "[^"]*", //' "$EXP/results.json" > b.json
# Times differ between runs; every mIoU must not.
diff <(grep -oE '"(pseudo|seg)_miou_[a-z]+": [0-9.]+' a.json) <(grep -oE '"(pseudo|seg)_miou_[a-z]+": [0-9.]+' b.json) \
  || fail "mIoU changed between the first run and the resumed one"

# Kaldi's --stage/--stop-stage: exactly that range, finished or not.
P() { WSSS_BIN="$WSSS_BIN" J=1 "$WSSS_SOURCE/scripts/pipeline.sh" "$EXP" "$@"; }
expect_exit 0 P list
assert_grep '^6 pseudo-cam$' "$T/out"
expect_exit 0 P all --stage 6 --stop-stage pseudo-cam
[ "$(stages_run "$T/err")" = "pseudo-cam " ] || fail "--stage 6 --stop-stage pseudo-cam ran: $(stages_run "$T/err")"
assert_grep 'wsss-pseudo .*--overwrite' "$EXP/log/pseudo-cam.log"
expect_exit 2 P all --stage nosuch
assert_grep "no stage 'nosuch'" "$T/err"

# A bad configuration file: one line naming the file and line; nothing run.
printf 'DATA=synth\nSEG_ITRES=5\n' > bad.conf
expect_exit 2 env CONFIG=bad.conf "$WSSS_SOURCE/scripts/pipeline.sh" bad-exp configure
assert_grep '^pipeline.sh: bad.conf:2: unknown setting SEG_ITRES' "$T/err"
printf 'ROWS="cam nosuch"\n' > bad2.conf
expect_exit 2 env CONFIG=bad2.conf "$WSSS_SOURCE/scripts/pipeline.sh" bad-exp2 configure
assert_grep "ROWS: unknown row 'nosuch'" "$T/err"
printf 'ROWS="cam clip-es"\n' > bad3.conf
expect_exit 2 env CONFIG=bad3.conf "$WSSS_SOURCE/scripts/pipeline.sh" bad-exp3 configure
assert_grep 'the clip-es row needs CLIP_MODEL' "$T/err"
echo ok
