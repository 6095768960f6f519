#!/usr/bin/env bash
# scripts/check_layers.py can fail: on a copy of lib/ with a lower layer that
# includes a higher one, and with a LibTorch-free file that includes a LibTorch
# header, it names both files and lines and exits 1.
source "$WSSS_SOURCE/tests/cli/lib.sh"
mkdir -p tree
cp -r "$WSSS_SOURCE/lib" tree/lib
python3 "$WSSS_SOURCE/scripts/check_layers.py" --root tree > clean.txt || { cat clean.txt; fail "the clean copy has violations"; }
echo '#include "wsss/eval/miou.hpp"' >> tree/lib/src/io/png.cpp
echo '#include "wsss/models/resnet.hpp"' >> tree/lib/src/refine/densecrf.cpp
set +e
python3 "$WSSS_SOURCE/scripts/check_layers.py" --root tree > bad.txt 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || fail "check_layers exited $rc on a tree with violations"
assert_grep '^lib/src/io/png.cpp:[0-9]+: io includes wsss/eval/miou.hpp, a higher layer' bad.txt
assert_grep '^lib/src/refine/densecrf.cpp:[0-9]+: builds without LibTorch but includes wsss/models/resnet.hpp' bad.txt
echo PASS
