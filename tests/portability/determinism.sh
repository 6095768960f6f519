#!/usr/bin/env bash
# The determinism promise (docs/determinism.md), checked end to end under the
# BLAS and ATen settings that ctest's `portability` runs put in the environment
# (OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS, ATEN_CPU_CAPABILITY):
# - every LibTorch per-image stage is byte-identical for -j1 and -j2, and for
#   another OPENBLAS_NUM_THREADS on top of the environment's settings;
# - every trainer run twice at the same -j gives the same bytes.
# Tiny sizes; the cost is mostly LibTorch's start-up (~1 s CPU a command).
source "$WSSS_SOURCE/tests/cli/lib.sh"
echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS-}" \
     "ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY-}"

wsss-data synth -q --count 8 --size 64x64 --seed 1 d
CLS=(wsss-classify train -q -j2 --arch resnet50 --width 4 --frozen-stages 0 --train-bn --resize-long 48:80
     --crop 64 --batch 4 --epochs 1 --momentum 0.9 d/manifest.jsonl)
"${CLS[@]}" clsA
"${CLS[@]}" clsB
cmp -s clsA/model.safetensors clsB/model.safetensors || fail "classifier: two runs at -j2 differ"

# A per-image stage at -j1 and at -j2 with OpenBLAS told to use another number
# of threads than the environment's: one set of bytes. (Shards are compared in
# the CLI tests; each run here costs a LibTorch start-up, so there are few.)
per_image() {  # NAME COMMAND... (the output directory is appended)
  local name=$1; shift
  local other_blas=3
  [ "${OPENBLAS_NUM_THREADS-}" = 3 ] && other_blas=1
  "$@" -q -j1 "$name.a"
  OPENBLAS_NUM_THREADS=$other_blas "$@" -q -j2 "$name.b"
  diff -r -x 'meta*.json' "$name.a" "$name.b" >/dev/null \
    || fail "$name: -j1 and -j2 with OPENBLAS_NUM_THREADS=$other_blas differ"
}
per_image cam wsss-cam --model clsA/model.safetensors d/manifest.jsonl
per_image predict wsss-classify predict --model clsA/model.safetensors d/manifest.jsonl

wsss-pseudo -q --field cam --ignore irn:0.30:0.05 --crf irn --out-field ir_label cam.a/manifest.jsonl ir
IRN=(wsss-refine irn-train -q -j2 --init clsA/model.safetensors --crop 64 --batch 4 --epochs 1 --seed 3 ir/manifest.jsonl)
"${IRN[@]}" irnA
"${IRN[@]}" irnB
cmp -s irnA/model.safetensors irnB/model.safetensors || fail "IRN: two runs at -j2 differ"
per_image walk wsss-refine irn --edges --exp-times 3 --model irnA/model.safetensors ir/manifest.jsonl

SEG=(wsss-train-seg train -q -j2 --arch resnet50 --width 4 --crop 48 --batch 2 --iters 3 --field mask --lr 0.01
     d/manifest.jsonl)
"${SEG[@]}" segA
"${SEG[@]}" segB
cmp -s segA/model.safetensors segB/model.safetensors || fail "segmentation: two runs at -j2 differ"
per_image seg wsss-train-seg predict --model segA/model.safetensors --scales 1,0.75 --flip d/manifest.jsonl
echo "determinism: all outputs identical"
