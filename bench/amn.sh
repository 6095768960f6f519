#!/usr/bin/env bash
# AMN's training step against the CAM classifier's on the same input size
# (issue #13): wsss_bench_amn, both networks on random tensors. Defaults: the
# reference's ResNet-50 at a crop and batch a 2-core machine manages.
#   bench/amn.sh [CROP [BATCH [STEPS [THREADS]]]]
set -euo pipefail
BIN=${WSSS_BIN:-build/bin}
"$BIN/wsss_bench_amn" "${1:-256}" "${2:-4}" "${3:-3}" "${4:-$(nproc)}" resnet50 64 20
