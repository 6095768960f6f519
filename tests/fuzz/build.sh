#!/usr/bin/env bash
# Configures (once) and builds the sanitizer tree: clang, no LibTorch, the
# library with AddressSanitizer + UndefinedBehaviorSanitizer and libFuzzer's
# coverage, the fuzz targets, the unit tests and the binaries without LibTorch
# (docs/robustness.md). Incremental: a second call only rebuilds what changed.
#   build.sh SOURCE_DIR BUILD_DIR [TARGET...]   (default targets: fuzz_targets)
# Exits 77 (skip) when clang++ or its libFuzzer runtime is missing
# (scripts/install-deps.sh installs clang and libclang-rt-14-dev).
set -euo pipefail
src=${1:?usage: build.sh SOURCE_DIR BUILD_DIR [TARGET...]}
build=${2:?usage: build.sh SOURCE_DIR BUILD_DIR [TARGET...]}
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_targets)

CXX_FUZZ=${WSSS_FUZZ_CXX:-clang++}
if ! command -v "$CXX_FUZZ" >/dev/null 2>&1; then
  echo "SKIP: $CXX_FUZZ not found (scripts/install-deps.sh installs clang)"; exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <cstdint>\n#include <cstddef>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' >"$probe/p.cpp"
if ! "$CXX_FUZZ" -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" 2>"$probe/err"; then
  cat "$probe/err" >&2
  echo "SKIP: $CXX_FUZZ cannot link libFuzzer with ASan/UBSan (install libclang-rt-14-dev)"; exit 77
fi

if [ ! -f "$build/CMakeCache.txt" ]; then
  mkdir -p "$build"  # its configure log goes beside it
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$CXX_FUZZ" \
    -DWSSS_WITH_TORCH=OFF -DWSSS_FUZZ=ON >"$build.configure.log" 2>&1 \
    || { cat "$build.configure.log" >&2; exit 1; }
fi
cmake --build "$build" -j "${WSSS_FUZZ_JOBS:-$(nproc)}" --target "${targets[@]}"
