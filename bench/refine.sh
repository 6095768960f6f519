#!/usr/bin/env bash
# Dense CRF (ms per megapixel per label per iteration, 1 thread and -j2, 3 and
# 21 labels, IRN preset) and the IRN random walk (time and peak RSS on 500x375
# and 640x640 next to the dense formulation, measured small and extrapolated).
# Prints measured numbers only; see docs/refinement.md for recorded results.
set -euo pipefail
BIN=${WSSS_BIN:-build/bin}
echo "== refine benchmark ($(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg))"
"$BIN/wsss_bench_refine" "${1:-all}"
