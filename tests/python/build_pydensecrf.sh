#!/usr/bin/env bash
# Builds pydensecrf (the reference dense CRF) for /usr/bin/python3 into DIR and
# prints the folder to put on PYTHONPATH; exits 77 (ctest's skip) when it cannot.
#   tests/python/build_pydensecrf.sh DIR
# It runs the anchor's own script (../shared/anchors/pydensecrf/build.sh, or
# $WSSS_PYDENSECRF_ANCHOR). The anchor's copy of liblbfgs lacks its lib/ folder
# (lbfgs.c), which pydensecrf compiles in for parameter learning only, never for
# inference; when the anchor's build fails on that, the same sources are built
# again with lbfgs.c left out and Debian's liblbfgs (the same library, 1.10)
# linked instead. Nothing of pydensecrf is copied into wsss: it is built in DIR.
set -uo pipefail
out=${1:?usage: build_pydensecrf.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
anchor=${WSSS_PYDENSECRF_ANCHOR:-$here/../../../shared/anchors/pydensecrf}
log=$out.log
mkdir -p "$out" || exit 77
out=$(cd "$out" && pwd)
skip() { echo "build_pydensecrf: $* (log: $log)" >&2; exit 77; }
importable() { PYTHONPATH=$out /usr/bin/python3 -c 'import pydensecrf.densecrf, pydensecrf.utils' >>"$log" 2>&1; }

[ -x /usr/bin/python3 ] || skip "no /usr/bin/python3"
/usr/bin/python3 -c 'import numpy' 2>/dev/null || skip "/usr/bin/python3 has no numpy"
[ -f "$anchor/build.sh" ] || skip "no pydensecrf anchor at $anchor"
if importable; then echo "$out"; exit 0; fi

: >"$log"
# No debugging information (half the compile time of these template-heavy
# sources); ccache, when there is one, makes a rebuild in a fresh tree a lookup.
export CFLAGS="${CFLAGS:+$CFLAGS }-g0"
if command -v ccache >/dev/null 2>&1 && [ -z "${CC:-}" ]; then export CC="ccache x86_64-linux-gnu-gcc"; fi
# The anchor's script only when its liblbfgs is complete: otherwise it compiles
# everything and fails at the end (a wasted minute), and the fallback below is
# the build that works.
if [ -f "$anchor/src/pydensecrf/densecrf/external/liblbfgs/lib/lbfgs.c" ]; then
  if bash "$anchor/build.sh" "$out" >>"$log" 2>&1 && importable; then echo "$out"; exit 0; fi
else
  echo "build_pydensecrf: the anchor has no liblbfgs/lib/lbfgs.c: building with Debian's liblbfgs" >>"$log"
fi

# The fallback (see above).
if [ ! -f /usr/include/lbfgs.h ]; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends liblbfgs-dev >>"$log" 2>&1
  fi
  [ -f /usr/include/lbfgs.h ] || skip "the anchor's build failed and Debian's liblbfgs-dev is not installed"
fi
command -v cython3 >/dev/null 2>&1 || /usr/bin/python3 -c 'import Cython' 2>/dev/null || skip "no Cython"
[ -f "$anchor/src/setup.py" ] && [ -f "$anchor/src/pydensecrf/densecrf.pyx" ] || skip "the anchor's build failed and its sources are incomplete"
rm -rf "$out/src" "$out/pydensecrf"
cp -r "$anchor/src" "$out/src" && chmod -R u+w "$out/src" || skip "cannot copy the anchor's sources"
sed -i "/setup_requires/d" "$out/src/setup.py"
pyx=$out/src/pydensecrf/densecrf.pyx
sed -i 's# pydensecrf/densecrf/external/liblbfgs/lib/lbfgs.c##' "$pyx"
sed -i '/^# distutils: include_dirs/a # distutils: libraries = lbfgs' "$pyx"
rm -f "$out/src/pydensecrf/densecrf.cpp" "$out/src/pydensecrf/eigen.cpp"
(cd "$out/src" && /usr/bin/python3 setup.py build_ext --inplace) >>"$log" 2>&1 || skip "the build failed"
cp -r "$out/src/pydensecrf" "$out/pydensecrf" || skip "cannot copy the built module"
importable || skip "the built module does not import"
echo "$out"
