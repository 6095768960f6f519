#!/usr/bin/env bash
# ctest "python: pydensecrf_label_crf": wsss-refine crf --mask-field against
# pydensecrf's own example (examples/inference.py: label unary gt_prob 0.7,
# Gaussian 3/3, bilateral 80/13/10, 5 iterations) on the example's images; at least
# 99% of the pixels of every image must agree. Skips (77) when pydensecrf cannot be
# built or /usr/bin/python3 lacks numpy or PIL.
#   run_pydensecrf_agreement.sh WSSS_BIN PYDENSECRF_BUILD_DIR WORK_DIR
set -euo pipefail
bin=${1:?WSSS_BIN}
pydir=${2:?pydensecrf build dir}
work=${3:?work dir}
here=$(cd "$(dirname "$0")" && pwd)
examples=${WSSS_PYDENSECRF_ANCHOR:-$here/../../../shared/anchors/pydensecrf}/src/examples
[ -x "$bin/wsss-refine" ] || { echo "SKIP: no $bin/wsss-refine"; exit 77; }
[ -f "$examples/im1.png" ] || { echo "SKIP: no pydensecrf examples at $examples"; exit 77; }
/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || { echo "SKIP: /usr/bin/python3 lacks numpy or PIL"; exit 77; }
set +e
pypath=$(bash "$here/build_pydensecrf.sh" "$pydir")
rc=$?
set -e
if [ $rc -ne 0 ]; then echo "SKIP: pydensecrf could not be built (exit $rc, log $pydir.log)"; exit 77; fi

rm -rf "$work"
mkdir -p "$work"
/usr/bin/python3 "$here/pydensecrf_labels.py" prepare "$examples" "$work/in"
"$bin/wsss-refine" crf -q --mask-field pseudo --preset psa --iterations 5 --gt-prob 0.7 "$work/in/manifest.jsonl" "$work/out"
PYTHONPATH=$pypath /usr/bin/python3 "$here/pydensecrf_labels.py" compare "$examples" "$work/in" "$work/out"
