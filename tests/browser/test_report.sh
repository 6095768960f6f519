#!/usr/bin/env bash
# The experiment report in a real browser: a tiny run of the Table-1 experiment
# (scripts/pipeline.sh at test sizes), wsss-report on it, then headless Chromium
# (tests/browser/check_report.py over the DevTools protocol) checks that the page
# loads with no console error and no network request, that the table, charts
# and grids are there with the expected counts, and takes a screenshot
# ($WSSS_TEST_TMP/browser/report.png). Chromium is installed through
# scripts/install-deps.sh --browser when missing; without root or sudo to do
# that the test skips (77).
source "$WSSS_SOURCE/tests/cli/lib.sh"

CHROMIUM=$(command -v chromium || true)
if [ -z "$CHROMIUM" ]; then
  if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then
    echo "SKIP: chromium is not installed and there is no root or sudo to install it" >&2
    exit 77
  fi
  "$WSSS_SOURCE/scripts/install-deps.sh" --no-slurm --browser >&2 || fail "could not install chromium"
  CHROMIUM=$(command -v chromium) || fail "chromium still missing after install-deps.sh --browser"
fi

# The experiment at the sizes of tests/cli/test_experiment.sh (about 30 s on 2 cores).
EXP=$T/exp
ROWS="cam crf irn gt" TRAIN_COUNT=24 VAL_COUNT=8 CLS_EPOCHS=1 IRN_EPOCHS=1 SEG_ITERS=4 J=2 WSSS_BIN=$WSSS_BIN \
  "$WSSS_SOURCE/scripts/pipeline.sh" "$EXP" all > pipeline.out 2> pipeline.err \
  || { tail -n 30 pipeline.err; fail "the tiny experiment failed"; }

# The experiment's last stage wrote the report; it is written again here.
[ -s "$EXP/report.html" ] || fail "the experiment wrote no report.html"
expect_exit 0 wsss-report -j2 --overwrite "$EXP"
assert_grep "wrote $EXP/report.html \([0-9]+ KiB\)" "$T/err"
size=$(stat -c %s "$EXP/report.html")
[ "$size" -lt 3000000 ] || fail "report.html is $size bytes (at most 3 MB for a small experiment)"

# Four rows (cam, crf, irn, gt) and the baseline; per-class IoU for pseudo masks
# and segmentation plus the stage times (3 bar charts); confusion matrices for 3
# pseudo-mask rows and 4 segmentation rows; two sweeps (cam, irn) with their
# markers; loss curves of the three trainers (wsss-classify train also has its
# validation). Grids: 8 of the 24 training images x (image, CAM, 3 pseudo masks,
# GT), the 8 validation images x (image, 4 predictions, GT).
expect='{"table_rows": 5, "charts": {"bar": 3, "matrix": 7, "line": 6}, "markers": 2,
         "sections": ["table", "per-class", "confusion", "sweeps", "grids", "training", "times", "config"],
         "grids": {"grid-train": [8, 6], "grid-val": [8, 6]}}'
mkdir -p "${WSSS_TEST_TMP:-/tmp}/browser"
shot="${WSSS_TEST_TMP:-/tmp}/browser/report.png"
python3 "$WSSS_SOURCE/tests/browser/check_report.py" --chromium "$CHROMIUM" --report "$EXP/report.html" \
  --screenshot "$shot" --expect "$expect" > counts.json 2> check.err \
  || { cat counts.json check.err; fail "the report failed in Chromium"; }
cat counts.json
echo "screenshot: $shot"

# The checker can fail: a page that loads something from outside is caught.
sed 's|<body>|<body><img alt="" src="https://example.invalid/x.png">|' "$EXP/report.html" > bad.html
if python3 "$WSSS_SOURCE/tests/browser/check_report.py" --chromium "$CHROMIUM" --report bad.html \
     --screenshot bad.png --expect "$expect" > /dev/null 2> bad.err; then
  fail "a page with an external image passed"
fi
assert_grep 'network request: https://example.invalid/x.png' bad.err
echo ok
