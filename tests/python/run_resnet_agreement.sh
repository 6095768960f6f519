#!/bin/bash
# ctest "python: resnet_torchvision": builds the torchvision reference with
# /usr/bin/python3 into the build tree, then runs the hidden [torchvision] C++
# tests against it. Exit 77 (skip) when that Python lacks torch/torchvision.
# Usage: run_resnet_agreement.sh TEST_BINARY FIXTURE_DIR
set -euo pipefail
test_bin=$1
fixture=$2
python=${WSSS_PYTHON:-/usr/bin/python3}  # overridable to check the skip path
if ! "$python" -c "import torch, torchvision, numpy" 2>/dev/null; then
  echo "SKIP: $python cannot import torch, torchvision and numpy; the PyTorch agreement test needs them"
  exit 77
fi
rm -rf "$fixture"
"$python" "$(dirname "$0")/make_resnet_fixture.py" "$fixture"
WSSS_RESNET_FIXTURE="$fixture" "$test_bin" "[torchvision]"
# The fixture holds ~300 MB of weights: keep it only when the test failed.
rm -rf "$fixture"
