#!/usr/bin/env bash
# Data-parallel training (c10d ProcessGroupGloo, docs/scale-out.md) on tiny
# synthetic data, through the three trainers of the shared loop:
#   - frozen BatchNorm (IRN's and DeepLab's recipes): 2 ranks x batch B/2 give
#     the weights of 1 process x batch B within 1e-5 relative, after several
#     steps (the classifier over two epochs, DeepLab with --iter-size 2 and with
#     the balanced loss, IRN's edge network), while 1 process x B/2 differs by far
#     more (the comparison can fail);
#   - trained BatchNorm (--train-bn): the difference is measured and printed;
#   - two processes started by hand with torchrun's variables equal --nproc 2
#     byte for byte; --resume with another world size; only rank 0 writes;
#   - a rank that fails stops the run (exit 1, no model); usage errors.
source "$WSSS_SOURCE/tests/cli/lib.sh"
if ! /usr/bin/python3 -c "import numpy" 2>/dev/null; then echo "SKIP: /usr/bin/python3 lacks numpy"; exit 77; fi
t_start=$(date +%s.%N)

# rel A B: the largest relative difference of two weight files (weights_diff.py).
rel() { /usr/bin/python3 "$WSSS_SOURCE/tests/cli/weights_diff.py" "$1" "$2" | sed -n 's/^max_rel=\([^ ]*\).*/\1/p'; }
# assert_close A B WHAT: within 1e-5 relative; prints the figure for the record.
assert_close() {
  local r; r=$(rel "$1" "$2")
  echo "$3: max relative difference $r"
  /usr/bin/python3 -c "import sys; sys.exit(0 if float('$r') <= 1e-5 else 1)" || fail "$3: $r > 1e-5 ($1 vs $2)"
}
assert_far() {
  local r; r=$(rel "$1" "$2")
  echo "$3: max relative difference $r"
  /usr/bin/python3 -c "import sys; sys.exit(0 if float('$r') > 1e-3 else 1)" || fail "$3: only $r ($1 vs $2)"
}

wsss-data synth -q --count 16 --size 56x56 --seed 1 d
# IRN trains on IR labels; the synthetic masks (with their 255 borders) serve.
sed 's/"mask":/"ir_label":/' d/manifest.jsonl > d/ir.jsonl

# --- Classifier, IRN's recipe (frozen BatchNorm): 2 epochs of 4 steps.
CLS_ANY=(wsss-classify train -j1 --arch resnet18 --width 8 --frozen-stages 1 --momentum 0.9 --lr 0.05
         --resize-long 48:64 --crop 48 --epochs 2 --seed 5)
CLS=("${CLS_ANY[@]}" --batch 4)
expect_exit 0 "${CLS[@]}" d/manifest.jsonl one
expect_exit 0 "${CLS[@]}" --nproc 2 d/manifest.jsonl two
assert_grep 'launching 2 data-parallel ranks on this machine \(rendezvous at 127\.0\.0\.1:[0-9]+\)' "$T/err"
assert_grep 'data-parallel: rank 0 of 2 \(torchrun, rendezvous at 127\.0\.0\.1:[0-9]+\); each rank trains on 1/2 of every batch' "$T/err"
assert_grep 'training loop: .*; [0-9.]+s in collectives \([0-9.]+% of the loop\): [0-9.]+s allreducing 0\.[0-9] MB of gradients per step, [0-9.]+s waiting for the other ranks$' "$T/err"
assert_grep 'epoch 2/2: mean loss' "$T/err"
assert_no_grep '\[rank 1\]' "$T/err"  # rank 1 is quiet when all goes well
assert_no_grep 'BatchNorm is trained' "$T/err"
assert_grep '"ranks": 2' two/meta.json
assert_close one/model.safetensors two/model.safetensors "classifier, frozen BN, 2 ranks x 2 vs 1 x 4"
[ "$(cd one && ls)" = "$(cd two && ls)" ] || fail "2 ranks wrote other files than 1 process: $(cd two && ls)"
# Each rank alone would see batch 2: that model is far from both.
expect_exit 0 "${CLS_ANY[@]}" --batch 2 d/manifest.jsonl half
assert_far one/model.safetensors half/model.safetensors "classifier, 1 x 2 vs 1 x 4 (sensitivity)"

# The same two ranks started by hand with torchrun's variables: identical bytes.
port=$(/usr/bin/python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port timeout 120 "${CLS[@]}" d/manifest.jsonl byhand \
    >"$T/out.$r" 2>"$T/err.$r" &
done
wait %1 || fail "rank 0 by hand failed: $(cat "$T/err.0")"
wait %2 || fail "rank 1 by hand failed: $(cat "$T/err.1")"
cmp -s two/model.safetensors byhand/model.safetensors || fail "ranks by hand differ from --nproc 2"
[ ! -s "$T/out.1" ] || fail "rank 1 printed on stdout"

# --resume with another world size: 1 epoch on 2 ranks, the second on one process.
expect_exit 0 "${CLS[@]}" --nproc 2 --stop-after 1 d/manifest.jsonl resumed
[ ! -e resumed/model.safetensors ] && [ -s resumed/checkpoint.safetensors ] || fail "--stop-after on 2 ranks"
expect_exit 0 "${CLS[@]}" --resume d/manifest.jsonl resumed
assert_grep 'resuming after epoch 1 of 2' "$T/err"
assert_close one/model.safetensors resumed/model.safetensors "classifier, 1 epoch on 2 ranks + 1 on 1"

# Trained BatchNorm: each rank normalises by its own half-batch statistics
# (no SyncBN), so the result differs; measured, for docs/scale-out.md.
expect_exit 0 "${CLS[@]}" --train-bn d/manifest.jsonl bn1
expect_exit 0 "${CLS[@]}" --train-bn --nproc 2 d/manifest.jsonl bn2
assert_grep 'warning: BatchNorm is trained: each rank normalises by the statistics of its own slice' "$T/err"
assert_no_grep '\[rank 1\]' "$T/err"
echo "classifier, trained BN, 2 ranks x 2 vs 1 x 4: max relative difference $(rel bn1/model.safetensors bn2/model.safetensors)"

# --- DeepLab (frozen BatchNorm): 4 iterations of --iter-size 2, masks with
# ignored pixels (the loss divides by the global batch's pixel count).
SEG=(wsss-train-seg train -j1 --arch resnet18 --width 8 --crop 48 --batch 4 --iter-size 2 --iters 4
     --field mask --lr 0.01 --seed 2)
expect_exit 0 "${SEG[@]}" d/manifest.jsonl seg1
expect_exit 0 "${SEG[@]}" --nproc 2 d/manifest.jsonl seg2
assert_close seg1/model.safetensors seg2/model.safetensors "deeplab, 2 ranks x 2 vs 1 x 4"
expect_exit 0 "${SEG[@]}" --loss balanced d/manifest.jsonl segb1
expect_exit 0 "${SEG[@]}" --loss balanced --nproc 2 d/manifest.jsonl segb2
assert_close segb1/model.safetensors segb2/model.safetensors "deeplab balanced loss, 2 ranks x 2 vs 1 x 4"

# --- IRN's edge network (frozen backbone, affinity loss over the global batch's pairs).
IRN=(wsss-refine irn-train -j1 --init one/model.safetensors --crop 48 --batch 4 --epochs 1 --seed 3)
expect_exit 0 "${IRN[@]}" d/ir.jsonl irn1
expect_exit 0 "${IRN[@]}" --nproc 2 d/ir.jsonl irn2
assert_close irn1/model.safetensors irn2/model.safetensors "irn, 2 ranks x 2 vs 1 x 4"

# --- Failures: a rank that fails stops the others; nothing is written.
# Batch 16 = every image: image s000003 is in exactly one rank's half.
head -c 100 d/images/s000003.png > bad.png
sed 's#"images/s000003.png"#"../bad.png"#' d/manifest.jsonl > d/bad.jsonl
grep -q bad.png d/bad.jsonl || fail "fixture: s000003 not replaced"
expect_exit 1 timeout 120 "${CLS_ANY[@]}" --batch 16 --nproc 2 d/bad.jsonl failed
assert_grep 'error: .*bad\.png' "$T/err"
assert_grep 'rank [01] failed \(exit 1\); stopping the other ranks' "$T/err"
[ ! -e failed/model.safetensors ] && [ ! -e failed/checkpoint.safetensors ] || fail "a failed run wrote weights"

# Usage errors: a batch that does not split, --nproc inside a launcher's rank.
expect_exit 2 "${CLS_ANY[@]}" --batch 3 --nproc 2 d/manifest.jsonl odd
assert_grep 'batch 3 does not split evenly over the 2 ranks' "$T/err"
RANK=0 WORLD_SIZE=2 MASTER_PORT=$port expect_exit 2 "${CLS[@]}" --nproc 3 d/manifest.jsonl nested
assert_grep 'nproc 3, but this process is already rank 0 of 2 \(torchrun' "$T/err"
WORLD_SIZE=2 RANK=x expect_exit 2 "${CLS[@]}" d/manifest.jsonl badenv
assert_grep "RANK='x' is not a whole number" "$T/err"

echo "test_ddp: $(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
