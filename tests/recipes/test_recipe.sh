#!/usr/bin/env bash
# A recipe (recipes/<name>/*.conf) end to end at small scale, on data sets this
# test makes in the real layouts (tests/recipes/make_trees.py): a VOC-format tree
# with VOC's names or with its own vocabulary (classes.txt), or a COCO-format tree
# with non-standard categories. The recipes' settings are kept; only sizes are
# overridden from the environment (tiny images, ResNets at width 8 made here as the
# "ImageNet" weights, one epoch, a few iterations). Checked: the stages are those
# of the full-size configuration, every stage's done file and log exists, the
# table has every configured row, and a second run from scratch gives
# byte-identical outputs.
#
#   test_recipe.sh custom|voc12|coco14
#   test_recipe.sh weights   the stand-in "ImageNet" weights, once for all three
#                            (ctest "recipe: weights", a fixture; a recipe run
#                            without it makes its own)
source "$WSSS_SOURCE/tests/cli/lib.sh"
recipe=${1:?recipe}
if ! /usr/bin/python3 -c "import numpy, PIL" 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 lacks numpy/PIL (the data trees are written with them)"; exit 77
fi
PY=/usr/bin/python3
R=$WSSS_SOURCE/recipes

# --- data and weights ---------------------------------------------------------
wsss-data synth -q --count 16 --size 64x64 --seed 1 --prefix train s_train
wsss-data synth -q --count 6 --size 64x64 --seed 2 --prefix val s_val
# Stand-ins for torchvision's ImageNet ResNets: tiny CAM classifiers (an --init
# accepts either), trained one epoch on the synthetic images. The same for every
# recipe: made once by the fixture into $SHARED_WEIGHTS, copied from there.
SHARED_WEIGHTS=${WSSS_TEST_TMP:-/tmp}/recipe-weights
make_weights() {  # DIR
  local arch
  mkdir -p "$1"
  for arch in resnet50 resnet101; do
    wsss-classify train -q -j 2 --arch $arch --width 8 --frozen-stages 0 --train-bn --epochs 1 --crop 64 \
      --resize-long 48:80 --batch 8 s_train/manifest.jsonl w_$arch
    cp w_$arch/model.safetensors "$1/$arch.safetensors"
  done
}
if [ "$recipe" = weights ]; then
  rm -rf "$SHARED_WEIGHTS"
  make_weights "$SHARED_WEIGHTS.tmp$$"
  mv "$SHARED_WEIGHTS.tmp$$" "$SHARED_WEIGHTS"
  echo ok
  exit 0
fi
if [ -s "$SHARED_WEIGHTS/resnet50.safetensors" ] && [ -s "$SHARED_WEIGHTS/resnet101.safetensors" ]; then
  mkdir -p weights
  cp "$SHARED_WEIGHTS"/resnet50.safetensors "$SHARED_WEIGHTS"/resnet101.safetensors weights/
else
  make_weights weights
fi

# Small sizes: every other setting is the recipe's.
export WEIGHTS=$T/weights
export CLS_OPTS="--init $WEIGHTS/resnet50.safetensors --width 8 --frozen-stages 0 --train-bn --crop 64 --resize-long 48:80 --batch 8"
export CLS_EPOCHS=1
export IRN_TRAIN_OPTS="--crop 64 --batch 8" IRN_EPOCHS=1
export IRN_OPTS="--beta 10 --exp-times 3"
export SEG_OPTS="--width 8 --crop 64 --batch 4 --iter-size 1" SEG_ITERS=3
export J=2

run_recipe() {  # EXP CONFIG [KEY=VALUE...]
  local exp=$1 config=$2
  shift 2
  expect_exit 0 env "$@" CONFIG="$R/$config" WSSS_BIN="$WSSS_BIN" "$WSSS_SOURCE/scripts/pipeline.sh" "$exp" all
}

# check_experiment EXP CONFIG: stages as at full size, done files, logs, the table's rows.
check_experiment() {
  local exp=$1 config=$2 full rows
  # The full-size configuration's stages (configured only: nothing runs).
  full=$(env -u CLS_OPTS -u CLS_EPOCHS -u IRN_TRAIN_OPTS -u IRN_EPOCHS -u IRN_OPTS -u SEG_OPTS -u SEG_ITERS -u WEIGHTS \
         "${@:3}" CONFIG="$R/$config" "$WSSS_SOURCE/scripts/pipeline.sh" "full-$exp" list)
  [ "$full" = "$(WSSS_BIN=$WSSS_BIN "$WSSS_SOURCE/scripts/pipeline.sh" "$exp" list)" ] \
    || fail "$config: the small run's stages differ from the full-size configuration's"
  while read -r _ s; do
    [ -e "$(WSSS_BIN=$WSSS_BIN "$WSSS_SOURCE/scripts/pipeline.sh" "$exp" done-file "$s")" ] || fail "$config: stage $s not done"
    [ -s "$exp/log/$s.log" ] || fail "$config: stage $s has no log"
  done <<< "$full"
  rows=$(sed -n 's/^ROWS=//p' "$exp/config.sh" | tr -d "'\"")
  [ "$(grep -c '^| ' "$exp/results.md")" = $(( $(wc -w <<< "$rows") + 2 )) ] \
    || fail "$config: the table lacks rows of '$rows': $(cat "$exp/results.md")"
  for r in $rows; do assert_grep "\"row\": \"$r\"" "$exp/results.json"; done
}

# same_outputs A B: every output file equal, bar logs, times, the table's timings
# and what names the experiment's own paths (meta.json's command lines, the
# checkpoints' resume state, which holds the options).
same_outputs() {
  diff -r -q -x log -x times -x results.md -x results.json -x config.sh -x config.json -x cmd -x meta.json \
    -x checkpoint.state -x report.html -x train_log.jsonl \
    -x '*.pairs.jsonl' "$1" "$2" || fail "$1 and $2 differ"
  diff <(grep -oE '"(pseudo|seg)_miou_[a-z]+": [0-9.null]+' "$1/results.json") \
       <(grep -oE '"(pseudo|seg)_miou_[a-z]+": [0-9.null]+' "$2/results.json") || fail "the tables of $1 and $2 differ"
}

case $recipe in
  custom)
    $PY "$WSSS_SOURCE/tests/recipes/make_trees.py" voc s_train s_val data --names custom
    run_recipe exp custom/custom.conf VOC_ROOT=data/VOC2012
    check_experiment exp custom/custom.conf VOC_ROOT=data/VOC2012
    assert_grep '"locomotive"' exp/train/classes.json
    assert_grep '"name": "custom"' exp/train/classes.json
    # The custom names reached every stage: the table's IoU rows name them.
    assert_grep 'locomotive' exp/eval/pseudo-irn.txt
    run_recipe exp2 custom/custom.conf VOC_ROOT=data/VOC2012
    same_outputs exp exp2 ;;
  voc12)
    $PY "$WSSS_SOURCE/tests/recipes/make_trees.py" voc s_train s_val data --names voc
    run_recipe exp voc12/irn.conf VOC_ROOT=data/VOC2012
    check_experiment exp voc12/irn.conf VOC_ROOT=data/VOC2012
    # IRN's fixed thresholds, not swept: the recipe's numbers reached the commands.
    assert_grep '^0.15$' exp/eval/cam-threshold.txt
    assert_grep 'wsss-pseudo .*--ignore irn:0.30:0.05 --crf irn' exp/log/ir.log
    assert_grep '^0.25$' exp/eval/irn-threshold.txt
    assert_grep 'wsss-train-seg predict .*--crf' exp/log/pred-irn.log
    # Pseudo masks for train_aug, scored on train (here the same images: both lists hold them).
    assert_grep '"split": "train_aug"|train_aug' exp/train/meta.json
    run_recipe exp2 voc12/irn.conf VOC_ROOT=data/VOC2012
    same_outputs exp exp2
    # CLIP-ES's row, training-free, with the random small CLIP of the clip tests in
    # place of ViT-B-16.pt (skipped without CLIP's BPE file).
    bpe="${WSSS_CLIP_DATA:-$WSSS_SOURCE/../shared/data/clip}/bpe_simple_vocab_16e6.txt.gz"
    if [ -f "$bpe" ] && $PY -c "import torch" 2>/dev/null; then
      $PY "$WSSS_SOURCE/tests/python/clip_cli_fixture.py" clip
      cp "$bpe" clip/
      run_recipe clip voc12/clip_es.conf VOC_ROOT=data/VOC2012 CLIP_MODEL="$T/clip/model.pt"
      check_experiment clip voc12/clip_es.conf VOC_ROOT=data/VOC2012
      assert_grep 'wsss-pseudo .*--field refined --ignore confidence:0.95' clip/log/pseudo-clip-es.log
      assert_grep 'wsss-refine crf .*--preset deeplab --bg-power 1' clip/log/clip-es-crf.log
      [ ! -e clip/cls ] || fail "clip_es.conf trained a classifier"
    fi ;;
  coco14)
    $PY "$WSSS_SOURCE/tests/recipes/make_trees.py" coco s_train s_val data
    run_recipe exp coco14/irn.conf COCO_ROOT=data/coco
    check_experiment exp coco14/irn.conf COCO_ROOT=data/coco
    assert_grep '"sports ball"' exp/train/classes.json
    assert_grep 'wsss-pseudo .*--ignore irn:0.35:0.10' exp/log/ir.log
    run_recipe exp2 coco14/irn.conf COCO_ROOT=data/coco
    same_outputs exp exp2 ;;
  *) fail "unknown recipe $recipe" ;;
esac
echo ok
