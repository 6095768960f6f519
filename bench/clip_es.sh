#!/usr/bin/env bash
# CLIP-ES per image: wsss_bench_clip (C++) against the same computation in
# PyTorch (bench/clip_es_torch.py: the reference's code path) on one random
# ViT-B/16-sized CLIP saved like OpenAI's ViT-B-16.pt (vision 768 wide, 12
# layers, 12 heads; text 512 wide, 12 layers) and one 500x375 image, with the
# same number of LibTorch threads, in one run. Prints both medians and the
# ratio C++ / PyTorch (target: at most 1.1). Timings are reported, never asserted.
#   REPEAT=5 THREADS=1 CLASSES=15,9 SIZE=500x375 WSSS_BIN=build/bin bench/clip_es.sh
set -euo pipefail
BIN=${WSSS_BIN:-build/bin}
REPEAT=${REPEAT:-5}
THREADS=${THREADS:-1}
CLASSES=${CLASSES:-15,9}
SIZE=${SIZE:-500x375}
PYTHON=${WSSS_PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
command -v "$BIN/wsss_bench_clip" >/dev/null || { echo "wsss_bench_clip not built (needs LibTorch)"; exit 1; }
"$PYTHON" -c "import torch, numpy, PIL" 2>/dev/null || { echo "$PYTHON lacks torch, numpy or PIL"; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/wsss-bench-clip.XXXXXX")
trap 'rm -rf "$W"' EXIT

echo "== CLIP-ES per image: ViT-B/16-sized random CLIP, $SIZE, classes $CLASSES, $THREADS thread(s), $REPEAT runs + 1 warm-up ($(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg))"
"$PYTHON" "$HERE/clip_es_torch.py" save "$W/model.pt"
"$PYTHON" - "$W/image.png" "$SIZE" <<'EOF'
import sys
import numpy as np
from PIL import Image
w, h = map(int, sys.argv[2].split("x"))
rng = np.random.default_rng(0)
y, x = np.mgrid[0:h, 0:w]
img = np.stack([x * 255 // w, y * 255 // h, (x + y) % 256], -1) + rng.integers(0, 40, (h, w, 3))
Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(sys.argv[1])
EOF
"$BIN/wsss_bench_clip" maps "$W/model.pt" "$W/image.png" "$REPEAT" "$THREADS" "$CLASSES" | tee "$W/cpp.txt"
"$PYTHON" "$HERE/clip_es_torch.py" maps "$W/model.pt" "$W/image.png" "$REPEAT" "$THREADS" "$CLASSES" | tee "$W/py.txt"
# "WALL CPU" medians of each side.
read -r cpp cpp_cpu <<<"$(sed -nE 's/^c\+\+ median ([0-9.]+) ms wall, ([0-9.]+) ms cpu.*/\1 \2/p' "$W/cpp.txt")"
read -r py py_cpu <<<"$(sed -nE 's/^pytorch median ([0-9.]+) ms wall, ([0-9.]+) ms cpu.*/\1 \2/p' "$W/py.txt")"
awk -v c="$cpp" -v p="$py" -v cc="$cpp_cpu" -v pc="$py_cpu" 'BEGIN {
  printf "per image: C++ %.1f ms wall (%.1f cpu), PyTorch %.1f ms wall (%.1f cpu)\n", c, cc, p, pc
  printf "ratio C++/PyTorch: %.3f in wall time, %.3f in cpu time (target <= 1.1)\n", c / p, cc / pc }'
echo "(load average after: $(cut -d' ' -f1 /proc/loadavg))"
