#!/bin/bash
# ctest "python: amn" (labels python, methods): writes a seeded small AMN and
# the independent Python reference's loss and maps (tests/python/amn_reference.py)
# with /usr/bin/python3, then runs the hidden [amn_python] C++ test against them.
# Exit 77 (skip) when that Python lacks torch, numpy or PIL.
# Usage: run_amn_agreement.sh TEST_BINARY FIXTURE_DIR
set -euo pipefail
test_bin=$1
fixture=$2
python=${WSSS_PYTHON:-/usr/bin/python3}
if ! "$python" -c "import torch, numpy, PIL" 2>/dev/null; then
  echo "SKIP: $python cannot import torch, numpy and PIL; the AMN agreement test needs them"
  exit 77
fi
rm -rf "$fixture"
"$python" "$(dirname "$0")/amn_reference.py" "$fixture"
WSSS_AMN_FIXTURE="$fixture" "$test_bin" "[amn_python]" -s | grep "amn agreement" || true
WSSS_AMN_FIXTURE="$fixture" "$test_bin" "[amn_python]"
rm -rf "$fixture"
