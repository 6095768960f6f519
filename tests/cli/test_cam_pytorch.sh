#!/usr/bin/env bash
# wsss-cam against IRN's make_cam computed in PyTorch with the same seeded
# torchvision ResNet-50 and weights: scale 1 with flip within 1e-4, and the four
# default scales (PIL bicubic vs OpenCV resizing) with correlation >= 0.99.
source "$WSSS_SOURCE/tests/cli/lib.sh"
if ! /usr/bin/python3 -c "import torch, torchvision, numpy, PIL" 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 lacks torch/torchvision/numpy/PIL"; exit 77
fi
/usr/bin/python3 "$WSSS_SOURCE/tests/python/cam_reference.py" make ref
expect_exit 0 wsss-cam -j2 --scales 1.0 --model ref/model.safetensors ref/data/manifest.jsonl ref/cam1
assert_summary
expect_exit 0 wsss-cam -j2 --model ref/model.safetensors ref/data/manifest.jsonl ref/cam4
/usr/bin/python3 "$WSSS_SOURCE/tests/python/cam_reference.py" compare ref | tee "$T/compare"
