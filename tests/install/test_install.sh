#!/usr/bin/env bash
# `cmake --install` gives a tree that a program can build against with
# find_package(wsss) and target_link_libraries(app wsss::wsss), and whose
# binaries find their shipped vocabularies.
# usage: test_install.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: test_install.sh BUILD_DIR}
source "$WSSS_SOURCE/tests/cli/lib.sh"
cmake --install "$build" --prefix "$T/prefix" > install.log
for f in bin/wsss-data bin/wsss-cam include/wsss/stage/stage.hpp include/wsss/cli/tool.hpp \
         lib/cmake/wsss/wsssConfig.cmake share/wsss/data_manifests/voc12/classes.json; do
  [ -e "$T/prefix/$f" ] || fail "not installed: $f"
done
# The installed binaries run from the prefix and find data_manifests/ there.
"$T/prefix/bin/wsss-data" vocab voc12 > voc12.json 2> /dev/null
grep -q '"aeroplane"' voc12.json || fail "installed wsss-data vocab voc12 printed no VOC classes"
"$T/prefix/bin/wsss-data" synth -q --count 3 --size 32x32 data
cmake -S "$WSSS_SOURCE/tests/install/consumer" -B consumer -DCMAKE_PREFIX_PATH="$T/prefix" \
      -DCMAKE_BUILD_TYPE=Release > configure.log 2>&1 || { tail -30 configure.log; fail "consumer: configure failed"; }
cmake --build consumer -j2 > build.log 2>&1 || { tail -30 build.log; fail "consumer: build failed"; }
./consumer/consumer data/manifest.jsonl counted > out.txt
assert_grep '^records 3 done 3 progress-updates [1-9]' out.txt
assert_grep '"pixels":1024' counted/manifest.jsonl
assert_grep '"program": "consumer"' counted/meta.json
echo PASS
