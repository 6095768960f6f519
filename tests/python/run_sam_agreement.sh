#!/bin/bash
# ctest "python: sam_numerics": writes images and the expected SAM / EfficientSAM
# model inputs and postprocessed logits with /usr/bin/python3 (segment_anything's
# formulas: PIL resize, normalisation, padding, F.interpolate), then runs the
# hidden [sam_python] C++ tests against them. Exit 77 (skip) without torch/PIL.
# Usage: run_sam_agreement.sh TEST_BINARY FIXTURE_DIR
set -euo pipefail
test_bin=$1
fixture=$2
python=${WSSS_PYTHON:-/usr/bin/python3}
if ! "$python" -c "import torch, numpy, PIL" 2>/dev/null; then
  echo "SKIP: $python cannot import torch, numpy and PIL; the SAM agreement test needs them"
  exit 77
fi
rm -rf "$fixture"
"$python" "$(dirname "$0")/sam_fixture.py" numerics "$fixture"
WSSS_SAM_FIXTURE="$fixture" "$test_bin" "[sam_python]" -s | grep -E "sam agreement|passed|failed" || true
WSSS_SAM_FIXTURE="$fixture" "$test_bin" "[sam_python]"
rm -rf "$fixture"
