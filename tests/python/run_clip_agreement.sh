#!/bin/bash
# ctest "python: clip_es" (labels clip, python): writes a random small CLIP saved
# like OpenAI's files and the independent Python reference's CLIP-ES results
# (tests/python/clip_fixture.py, clip_reference.py) with /usr/bin/python3, then
# runs the hidden [clip_python] C++ test against them. Exit 77 (skip) when that
# Python lacks torch, numpy or PIL, or when CLIP's BPE file and golden token ids
# (shared/data/clip) are absent.
# Usage: run_clip_agreement.sh TEST_BINARY FIXTURE_DIR CLIP_DATA_DIR
set -euo pipefail
test_bin=$1
fixture=$2
data=${WSSS_CLIP_DATA:-$3}
python=${WSSS_PYTHON:-/usr/bin/python3}
if ! "$python" -c "import torch, numpy, PIL" 2>/dev/null; then
  echo "SKIP: $python cannot import torch, numpy and PIL; the CLIP-ES agreement test needs them"
  exit 77
fi
for f in bpe_simple_vocab_16e6.txt.gz tokens_golden.jsonl; do
  if [ ! -f "$data/$f" ]; then
    echo "SKIP: $data/$f is absent; the CLIP-ES agreement test needs CLIP's BPE file and golden token ids"
    exit 77
  fi
done
rm -rf "$fixture"
"$python" "$(dirname "$0")/clip_fixture.py" "$fixture" "$data/tokens_golden.jsonl"
export WSSS_CLIP_FIXTURE="$fixture" WSSS_CLIP_DATA="$data"
"$test_bin" "[clip_python]" -s | sed -n '/clip agreement/,/of them differ/p' || true
"$test_bin" "[clip_python]"
# The fixture holds ~60 MB of weights: keep it only when the test failed.
rm -rf "$fixture"
