#!/bin/bash
# ctest "clip: tokenizer_golden": the hidden [clip_golden] unit test, which checks
# the C++ CLIP tokenizer against token ids made by CLIP's own Python tokenizer
# (shared/data/clip/tokens_golden.jsonl). Exit 77 (skip) when the BPE file or the
# golden file is absent. Usage: run_golden.sh TEST_BINARY CLIP_DATA_DIR
set -euo pipefail
test_bin=$1
data=${WSSS_CLIP_DATA:-$2}
for f in bpe_simple_vocab_16e6.txt.gz tokens_golden.jsonl; do
  if [ ! -f "$data/$f" ]; then
    echo "SKIP: $data/$f is absent; the tokenizer golden check needs CLIP's BPE file and the golden ids"
    exit 77
  fi
done
WSSS_CLIP_DATA="$data" "$test_bin" "[clip_golden]" -s | grep -E "golden check|passed|failed" || true
WSSS_CLIP_DATA="$data" "$test_bin" "[clip_golden]"
