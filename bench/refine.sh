#!/usr/bin/env bash
# Dense CRF side by side with pydensecrf (3, 21 and 81 labels at 10 and 5
# iterations, one thread, the same images in turn; -j2 scaling over images) and
# the IRN random walk (time and peak RSS on 500x375 and 640x640 next to the dense
# formulation, measured small and extrapolated). Prints measured numbers only; see
# docs/refinement.md for recorded results.
#   bench/refine.sh [crf|rw|all]    ROUNDS=5 by default
# pydensecrf is built from ../shared/anchors/pydensecrf (tests/python/build_pydensecrf.sh)
# into $PYDENSECRF_DIR (default build/pydensecrf); without it the CRF rows are wsss only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${WSSS_BIN:-build/bin}
what=${1:-all}
rounds=${ROUNDS:-5}
echo "== refine benchmark ($(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg))"
if [ "$what" = crf ] || [ "$what" = all ]; then
  pypath=""
  if pypath=$(bash "$here/../tests/python/build_pydensecrf.sh" "${PYDENSECRF_DIR:-build/pydensecrf}" 2>/tmp/wsss-pydensecrf-build.log); then
    :
  else
    echo "pydensecrf could not be built (log: /tmp/wsss-pydensecrf-build.log): wsss only"
    pypath=""
  fi
  "$BIN/wsss_bench_refine" crf "$rounds" "$pypath" "$here/pydensecrf_bench.py" /usr/bin/python3
  echo "load average after: $(cut -d' ' -f1 /proc/loadavg)"
fi
if [ "$what" = rw ] || [ "$what" = all ]; then
  "$BIN/wsss_bench_refine" rw
fi
