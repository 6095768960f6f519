# shellcheck shell=bash
# The experiment's stages: which exist for the configured rows, what each needs,
# the file that marks it finished, and its commands. Sourced by scripts/pipeline.sh.
#
# Every command of a stage goes through run / run_to / per_image / trainer, so
# that the same code either runs the stage or (PRINT_ONLY=1) prints its
# commands: scripts/pipeline.sh saves them as EXP/cmd/STAGE.sh, and make reruns
# a stage whose commands changed (a changed setting).

STAGES=()
declare -A DONE=() NEEDS=() INPUTS=()

# --- the plan -------------------------------------------------------------------

add_stage() {  # NAME DONE_FILE NEEDED_STAGE...
  local name=$1 done=$2 s
  shift 2
  [ -n "${DONE[$name]+x}" ] && return 0
  for s in "$@"; do [ -n "$s" ] && [ -z "${DONE[$s]+x}" ] && { echo "pipeline.sh: internal: $name needs unknown $s" >&2; exit 3; }; done
  STAGES+=("$name")
  DONE[$name]=$done
  NEEDS[$name]="$*"
}

# The given files a stage reads (make reruns it when they change).
add_inputs() { INPUTS[$1]="${INPUTS[$1]:-} ${*:2}"; }

KNOWN_ROWS="cam crf irn recam recam-irn lpcam lpcam-irn amn cam-sal clip-es sam-text sam-zeroshot sam-cam clip-sam gt"

plan() {
  local row
  STAGES=()
  DONE=() NEEDS=() INPUTS=()
  TRAIN_M=$EXP/train/manifest.jsonl VAL_M=$EXP/val/manifest.jsonl EVAL_M=
  case $DATA in
    synth)
      add_stage data-train "$TRAIN_M"
      add_stage data-val "$VAL_M" ;;
    voc | coco)
      add_stage data-train "$TRAIN_M"
      add_stage data-val "$VAL_M"
      if [ "$DATA" = voc ] && [ -n "$EVAL_SPLIT" ] && [ "$EVAL_SPLIT" != "$TRAIN_SPLIT" ]; then
        EVAL_M=$EXP/eval-set/manifest.jsonl
        add_stage data-eval "$EVAL_M"
      fi ;;
    manifests)
      [ -n "$TRAIN" ] || { echo "pipeline.sh: DATA=manifests needs TRAIN=MANIFEST (and VAL=MANIFEST for segmentation)" >&2; exit 2; }
      [ -n "$VAL" ] || [ "$SEG_ROWS" = none ] || { echo "pipeline.sh: DATA=manifests needs VAL=MANIFEST (or SEG_ROWS=none)" >&2; exit 2; }
      TRAIN_M=$TRAIN VAL_M=$VAL ;;
    *) echo "pipeline.sh: DATA=$DATA: expected synth, manifests, voc or coco" >&2; exit 2 ;;
  esac
  [ -n "$EVAL" ] && EVAL_M=$EVAL
  DATA_STAGES=$(data_stage train) VAL_STAGES=$(data_stage val)
  for row in $ROWS; do
    case " $KNOWN_ROWS " in *" $row "*) ;; *)
      echo "pipeline.sh: ROWS: unknown row '$row' (rows: $KNOWN_ROWS)" >&2; exit 2 ;; esac
    "plan_row_${row//-/_}"
    [ "$row" = gt ] || [ -n "${DONE[pseudo-$row]+x}" ] || { echo "pipeline.sh: internal: row $row has no pseudo-$row" >&2; exit 3; }
  done
  for row in $(seg_rows); do
    local from=pseudo-$row
    [ "$row" = gt ] && from=$DATA_STAGES
    [ -n "$SEG_INIT" ] || plan_classifier   # the segmentation model starts from the CAM classifier
    add_stage "seg-$row" "$EXP/seg-$row/model.safetensors" $from $([ -n "$SEG_INIT" ] || echo classify)
    add_inputs "seg-$row" "$(given train)" "$SEG_INIT"
    add_stage "pred-$row" "$EXP/pred-$row/manifest.jsonl" "seg-$row" $VAL_STAGES
    add_inputs "pred-$row" "$(given val)"
  done
  local needs=() s
  for s in "${STAGES[@]}"; do case $s in pseudo-* | pred-*) needs+=("$s") ;; esac; done
  add_stage table "$EXP/results.json" "${needs[@]}"
  add_inputs table "$(given train)" "$(given val)" "$EVAL"
  add_stage report "$EXP/report.html" table
}

data_stage() { [ "$DATA" = manifests ] || echo "data-$1"; }   # train|val: the stage that makes it, if any
given() { [ "$DATA" = manifests ] && { [ "$1" = train ] && echo "$TRAIN" || echo "$VAL"; }; }
seg_rows() {
  case $SEG_ROWS in
    all) echo "$ROWS" ;;
    none) ;;
    *) local r out=()   # one line, like "all" (callers match " $(seg_rows) ")
       for r in $SEG_ROWS; do
         case " $ROWS " in *" $r "*) out+=("$r") ;; *) echo "pipeline.sh: SEG_ROWS: '$r' is not in ROWS" >&2; exit 2 ;; esac
       done
       echo "${out[*]}" ;;
  esac
}

plan_classifier() {
  add_stage classify "$EXP/cls/model.safetensors" $DATA_STAGES $VAL_STAGES
  add_inputs classify "$(given train)" "$(given val)"
  add_stage cam "$EXP/cam/manifest.jsonl" classify
  add_stage cam-threshold "$EXP/eval/cam-threshold.txt" cam
}
plan_row_cam() { plan_classifier; add_stage pseudo-cam "$EXP/pseudo-cam/manifest.jsonl" cam cam-threshold; }
plan_row_crf() {
  plan_classifier
  add_stage crf "$EXP/crf/manifest.jsonl" cam
  add_stage pseudo-crf "$EXP/pseudo-crf/manifest.jsonl" crf
}
# IRN's steps on the maps of SRC (cam, recam or lpcam), as IRN's, ReCAM's and
# LPCAM's run_sample.py do: IR labels, the edge network, the walk, a threshold.
# The stages of SRC=cam are ir, irn-train, irn, irn-threshold; of the others
# ir-SRC, irn-train-SRC, irn-SRC, irn-SRC-threshold. Sets IRN_PSEUDO_NEEDS.
plan_irn_on() {  # SRC
  local src=$1 x
  x=$(irn_suffix "$1")
  add_stage "ir$x" "$EXP/ir$x/manifest.jsonl" "$src" "$src-threshold"
  add_stage "irn-train$x" "$EXP/irn-model$x/model.safetensors" "ir$x" $([ -n "$IRN_INIT" ] || echo classify)
  add_inputs "irn-train$x" "$IRN_INIT"
  add_stage "irn$x" "$EXP/irn$x/manifest.jsonl" "ir$x" "irn-train$x"
  add_stage "irn$x-threshold" "$EXP/eval/irn$x-threshold.txt" "irn$x"
  IRN_PSEUDO_NEEDS="irn$x irn$x-threshold"
}
irn_suffix() { [ "$1" = cam ] || echo "-$1"; }   # SRC: "" for the CAM row's maps
plan_row_irn() {
  plan_classifier
  plan_irn_on cam
  add_stage pseudo-irn "$EXP/pseudo-irn/manifest.jsonl" $IRN_PSEUDO_NEEDS
}
plan_row_recam_irn() {
  plan_row_recam
  plan_irn_on recam
  add_stage pseudo-recam-irn "$EXP/pseudo-recam-irn/manifest.jsonl" $IRN_PSEUDO_NEEDS
}
plan_row_lpcam_irn() {
  plan_row_lpcam
  plan_irn_on lpcam
  add_stage pseudo-lpcam-irn "$EXP/pseudo-lpcam-irn/manifest.jsonl" $IRN_PSEUDO_NEEDS
}
# ReCAM and LPCAM: other maps from the CAM row's classifier, then the CAM row's
# steps (a swept or given background threshold, pseudo masks).
plan_row_recam() {
  plan_classifier
  add_stage recam-train "$EXP/recam-model/model.safetensors" classify
  add_stage recam "$EXP/recam/manifest.jsonl" recam-train
  add_stage recam-threshold "$EXP/eval/recam-threshold.txt" recam
  add_stage pseudo-recam "$EXP/pseudo-recam/manifest.jsonl" recam recam-threshold
}
plan_row_lpcam() {
  plan_classifier
  add_stage lpcam-cluster "$EXP/lpcam-proto/prototypes.safetensors" cam
  add_stage lpcam "$EXP/lpcam/manifest.jsonl" lpcam-cluster
  add_stage lpcam-threshold "$EXP/eval/lpcam-threshold.txt" lpcam
  add_stage pseudo-lpcam "$EXP/pseudo-lpcam/manifest.jsonl" lpcam lpcam-threshold
}
# AMN (docs/amn.md): trained on the IRN row's IR labels (stage ir); its maps'
# class channels give a second set of IR labels (the reference's 0.45 / 0.15)
# for a second IRN, whose walk of the maps (cam^1.3) gives the pseudo masks.
plan_row_amn() {
  plan_classifier
  add_stage ir "$EXP/ir/manifest.jsonl" cam cam-threshold   # as plan_irn_on cam
  add_stage amn-train "$EXP/amn-model/model.safetensors" ir $([ -n "$IRN_INIT" ] || echo classify)
  add_inputs amn-train "$IRN_INIT"
  add_stage amn "$EXP/amn/manifest.jsonl" ir amn-train
  add_stage amn-ir "$EXP/amn-ir/manifest.jsonl" amn
  add_stage amn-irn-train "$EXP/amn-irn-model/model.safetensors" amn-ir $([ -n "$IRN_INIT" ] || echo classify)
  add_inputs amn-irn-train "$IRN_INIT"
  add_stage amn-irn "$EXP/amn-irn/manifest.jsonl" amn-ir amn-irn-train
  add_stage amn-threshold "$EXP/eval/amn-threshold.txt" amn-irn
  add_stage pseudo-amn "$EXP/pseudo-amn/manifest.jsonl" amn-irn amn-threshold
}
# CAM + saliency (docs/pseudo.md, "Saliency"): the CAMs with a saliency map per
# image (SALIENCY's folder, or the synthetic stand-in), OAA's rule.
plan_row_cam_sal() {
  plan_classifier
  [ -n "$SALIENCY" ] || [ "$DATA" = synth ] \
    || { echo "pipeline.sh: the cam-sal row needs SALIENCY (a folder of <id>.png or <id>.npy saliency maps)" >&2; exit 2; }
  add_stage saliency "$EXP/saliency/manifest.jsonl" cam
  add_inputs saliency "$SALIENCY"
  add_stage pseudo-cam-sal "$EXP/pseudo-cam-sal/manifest.jsonl" saliency
}
plan_row_clip_es() {
  require_setting CLIP_MODEL "the clip-es row"
  add_stage clip-es "$EXP/clip-es/manifest.jsonl" $DATA_STAGES
  add_inputs clip-es "$(given train)" "$CLIP_MODEL"
  add_stage clip-es-crf "$EXP/clip-es-crf/manifest.jsonl" clip-es
  add_stage pseudo-clip-es "$EXP/pseudo-clip-es/manifest.jsonl" clip-es-crf
}
plan_row_sam_text() {
  require_setting SAM_MODEL "the sam-text row"
  add_stage captions "$EXP/captions/detector_prompts.jsonl" $DATA_STAGES
  add_inputs captions "$(given train)"
  add_stage pseudo-sam-text "$EXP/pseudo-sam-text/manifest.jsonl" captions
  add_inputs pseudo-sam-text "$(given train)" "$(sam_model_file)" "$(detections_file "$DETECTIONS")"
}
plan_row_sam_zeroshot() {
  require_setting SAM_MODEL "the sam-zeroshot row"
  require_setting TAGS "the sam-zeroshot row (a tagger's tags per image)"
  add_stage tags "$EXP/tags/manifest.jsonl" $DATA_STAGES
  add_inputs tags "$(given train)" "$TAGS"
  add_stage pseudo-sam-zeroshot "$EXP/pseudo-sam-zeroshot/manifest.jsonl" tags
  add_inputs pseudo-sam-zeroshot "$(sam_model_file)" "$(detections_file "$ZEROSHOT_DETECTIONS")"
}
plan_row_sam_cam() {
  require_setting SAM_MODEL "the sam-cam row"
  plan_classifier
  add_stage pseudo-sam-cam "$EXP/pseudo-sam-cam/manifest.jsonl" cam
  add_inputs pseudo-sam-cam "$(sam_model_file)"
}
plan_row_clip_sam() {
  require_setting CLIP_MODEL "the clip-sam row"
  require_setting SAM_MODEL "the clip-sam row"
  add_stage clip-tags "$EXP/clip-tags/manifest.jsonl" $DATA_STAGES
  add_inputs clip-tags "$(given train)" "$CLIP_MODEL"
  add_stage clip-tags-cam "$EXP/clip-tags-cam/manifest.jsonl" clip-tags
  add_stage pseudo-clip-sam "$EXP/pseudo-clip-sam/manifest.jsonl" clip-tags-cam
  add_inputs pseudo-clip-sam "$(sam_model_file)"
}
plan_row_gt() { :; }

require_setting() {  # KEY WHAT
  [ -n "${!1}" ] || { echo "pipeline.sh: $2 needs $1 (see scripts/experiment/defaults.conf)" >&2; exit 2; }
}
sam_model_file() { [ "$SAM_MODEL" = grabcut ] || echo "$SAM_MODEL"; }
detections_file() { [ "$1" = oracle ] || echo "$1"; }

# --- how commands run ------------------------------------------------------------

PRINT_ONLY=${PRINT_ONLY:-0}

# Runs a command (echoed into the stage's log first), or prints it.
run() {
  if [ "$PRINT_ONLY" = 1 ]; then printf '%q ' "$@" | sed 's/ $//'; echo; return 0; fi
  echo "+ $(printf '%q ' "$@")" >&2
  "$@"
}
# The same with stdout into FILE, atomically.
run_to() {  # FILE COMMAND...
  local file=$1
  shift
  if [ "$PRINT_ONLY" = 1 ]; then echo "$(printf '%q ' "$@")> $(printf '%q' "$file")"; return 0; fi
  mkdir -p "$(dirname "$file")"
  echo "+ $(printf '%q ' "$@")> $file" >&2
  "$@" > "$file.tmp" && mv "$file.tmp" "$file"
}
# A value a finished stage wrote into FILE (a threshold), or its name when printing.
value_of() {  # FILE
  if [ "$PRINT_ONLY" = 1 ]; then echo "<$1>"; else cat "$1"; fi
}
# TEXT into FILE atomically.
write_value() {  # FILE TEXT
  if [ "$PRINT_ONLY" = 1 ]; then echo "echo $(printf '%q' "$2") > $(printf '%q' "$1")"; return 0; fi
  mkdir -p "$(dirname "$1")"
  echo "+ echo $(printf '%q' "$2") > $1" >&2
  printf '%s\n' "$2" > "$1.tmp" && mv "$1.tmp" "$1"
}

# Options that make a per-image stage continue an interrupted run, or replace a
# finished one that is being rerun (make found an input newer, or --stage).
resume_or_replace() {  # DONE_FILE
  if [ "$PRINT_ONLY" = 1 ]; then echo --resume-or-replace; elif [ -e "$1" ]; then echo --overwrite; else echo --skip-existing; fi
}
# A single-output step without a journal: --overwrite once it finished.
replace_if_done() {  # DONE_FILE
  if [ "$PRINT_ONLY" = 1 ]; then echo --replace-if-done; elif [ -e "$1" ]; then echo --overwrite; fi
}
# The same for a trainer: its checkpoint lets an interrupted run continue.
train_resume_or_replace() {  # OUT_DIR
  if [ "$PRINT_ONLY" = 1 ]; then echo --resume-or-replace
  elif [ -e "$1/model.safetensors" ]; then echo --overwrite
  elif [ -e "$1/checkpoint.state" ]; then echo --resume
  fi
}

# A per-image stage writing OUT_DIR: here, or on Slurm as an array of SHARDS
# tasks and a merge (scripts/slurm/wsss-submit; the merged output is the same).
per_image() {  # OUT_DIR COMMAND...
  local out=$1
  shift
  if [ "$LAUNCH" = slurm ]; then
    local opts=() o
    for o in $SLURM_OPTS; do opts+=("--sbatch=$o"); done
    run "$SCRIPTS/slurm/wsss-submit" -n "$SHARDS" -c "$J" --wait "${opts[@]}" --name "$STAGE" "$out" -- "$@" > /dev/null
  else
    run "$@"
  fi
}
# A trainer (or any single-process step): here, or on Slurm as one job that make waits for.
trainer() {  # COMMAND...
  if [ "$LAUNCH" = slurm ] && [ "$PRINT_ONLY" != 1 ]; then
    mkdir -p "$EXP/log"
    # shellcheck disable=SC2086  # SLURM_OPTS holds several options
    run sbatch --wait --parsable --job-name "wsss-$STAGE" --cpus-per-task "$J" --output "$EXP/log/$STAGE.slurm.log" \
      $SLURM_OPTS --wrap "$(printf '%q ' "$@")" > /dev/null
  else
    run "$@"
  fi
}

# --- evaluation --------------------------------------------------------------------

# The manifest a field of MANIFEST is scored on: MANIFEST itself, or the EVAL
# images with that field taken from it (path fields rewritten by wsss-data join).
scored_manifest() {  # NAME MANIFEST FIELD...
  local name=$1 manifest=$2 take=() f
  shift 2
  if [ -z "$EVAL_M" ]; then echo "$manifest"; return 0; fi
  if [ "$PRINT_ONLY" = 1 ]; then echo "$EXP/eval/$name.pairs.jsonl"; return 0; fi
  for f in "$@"; do take+=(--take "$f"); done
  run wsss-data join -q --overwrite "${take[@]}" -o "$EXP/eval/$name.pairs.jsonl" "$EVAL_M" "$manifest" >&2
  echo "$EXP/eval/$name.pairs.jsonl"
}

# mIoU of a manifest into EXP/eval/NAME.{txt,json}.
evaluate() {  # NAME MANIFEST [wsss-miou options...]
  local name=$1 manifest=$2
  shift 2
  run_to "$EXP/eval/$name.txt" wsss-miou -q -j "$J" --overwrite --groups auto --json "$EXP/eval/$name.json" "$@" "$manifest"
}
miou_of() { grep -oE '^mIoU [0-9.]+' "$1" | cut -d' ' -f2; }
best_threshold() { if [ "$PRINT_ONLY" = 1 ]; then echo "<best threshold of $1>"; else grep -oE '^best threshold [0-9.]+' "$1" | cut -d' ' -f3; fi; }

# A background threshold: swept on the EVAL images (score-map FIELD of STAGE's
# manifest) or given.
threshold_stage() {  # NAME MANIFEST FIELD SETTING_VALUE SWEEP
  local name=$1 manifest=$2 field=$3 value=$4 sweep=$5 scored
  if [ "$value" = sweep ]; then
    scored=$(scored_manifest "$name-sweep" "$manifest" "$field" "${field}_classes")
    evaluate "$name-sweep" "$scored" --pred "$field" --bg-sweep "$sweep"
    write_value "$EXP/eval/$name-threshold.txt" "$(best_threshold "$EXP/eval/$name-sweep.txt")"
  else
    write_value "$EXP/eval/$name-threshold.txt" "$value"
  fi
}

# The SAM segmenter's options.
sam_segmenter() { if [ "$SAM_MODEL" = grabcut ]; then echo "--segmenter grabcut"; else echo "--model $SAM_MODEL"; fi; }

# Boxes for wsss-sam: the given file, or the ground truth's (oracle) written to OUT.
detections_for() {  # SETTING_VALUE OUT_JSON
  if [ "$1" = oracle ]; then
    [ "$PRINT_ONLY" = 1 ] && { echo "<ground-truth boxes: $2>"; return 0; }
    run wsss-data boxes -q --overwrite "$TRAIN_M" "$2" >&2
    echo "$2"
  elif [ -z "$1" ]; then
    echo "pipeline.sh: $STAGE: no detections: run the detector on the captions (docs/recipes.md, 'SAM rows'), then set them in the configuration" >&2
    return 1
  else
    echo "$1"
  fi
}

# --- the stages ----------------------------------------------------------------------

run_stage() {  # STAGE
  local s=$1 out=${DONE[$1]} t fg bg row manifest field src x
  STAGE=$s
  case $s in
    data-train | data-val | data-eval) data_import "${s#data-}" "$out" ;;
    classify)
      # shellcheck disable=SC2086
      trainer wsss-classify train -j "$J" --seed "$SEED" $(train_resume_or_replace "$EXP/cls") \
        $CLS_OPTS --epochs "$CLS_EPOCHS" ${VAL_M:+--val "$VAL_M"} "$TRAIN_M" "$EXP/cls" ;;
    cam)
      # shellcheck disable=SC2086
      per_image "$EXP/cam" wsss-cam -j "$J" $(resume_or_replace "$out") $CAM_OPTS --model "$EXP/cls/model.safetensors" \
        "$TRAIN_M" "$EXP/cam" ;;
    cam-threshold) threshold_stage cam "$EXP/cam/manifest.jsonl" cam "$CAM_BG" "$CAM_SWEEP" ;;
    pseudo-cam)
      per_image "$EXP/pseudo-cam" wsss-pseudo -q -j "$J" $(resume_or_replace "$out") \
        --bg-threshold "$(value_of "$EXP/eval/cam-threshold.txt")" "$EXP/cam/manifest.jsonl" "$EXP/pseudo-cam" ;;
    crf)
      # shellcheck disable=SC2086
      per_image "$EXP/crf" wsss-refine crf -j "$J" $(resume_or_replace "$out") $CRF_OPTS "$EXP/cam/manifest.jsonl" "$EXP/crf" ;;
    pseudo-crf)
      per_image "$EXP/pseudo-crf" wsss-pseudo -q -j "$J" $(resume_or_replace "$out") --field refined \
        "$EXP/crf/manifest.jsonl" "$EXP/pseudo-crf" ;;
    ir | ir-recam | ir-lpcam)
      src=${s#ir} src=${src#-} src=${src:-cam}
      t=$(value_of "$EXP/eval/$src-threshold.txt")
      fg=$IR_FG bg=$IR_BG
      # auto: t +- 0.10, kept within [0, 1] (a best threshold near 0 or 1)
      [ "$fg" = auto ] && fg=$(awk -v t="$t" 'BEGIN { v = t + 0.10; printf "%.2f", (v > 1 ? 1 : v) }')
      [ "$bg" = auto ] && bg=$(awk -v t="$t" 'BEGIN { v = t - 0.10; printf "%.2f", (v < 0 ? 0 : v) }')
      # shellcheck disable=SC2086
      per_image "$EXP/$s" wsss-pseudo -q -j "$J" $(resume_or_replace "$out") --ignore "irn:$fg:$bg" $IR_OPTS \
        --out-field ir_label "$EXP/$src/manifest.jsonl" "$EXP/$s" ;;
    irn-train | irn-train-recam | irn-train-lpcam)
      x=${s#irn-train}
      # shellcheck disable=SC2086
      trainer wsss-refine irn-train -j "$J" --seed "$SEED" $(train_resume_or_replace "$EXP/irn-model$x") \
        --init "${IRN_INIT:-$EXP/cls/model.safetensors}" $IRN_TRAIN_OPTS --epochs "$IRN_EPOCHS" \
        "$EXP/ir$x/manifest.jsonl" "$EXP/irn-model$x" ;;
    irn | irn-recam | irn-lpcam)
      x=${s#irn}
      # shellcheck disable=SC2086
      per_image "$EXP/$s" wsss-refine irn -j "$J" $(resume_or_replace "$out") $IRN_OPTS \
        --model "$EXP/irn-model$x/model.safetensors" "$EXP/ir$x/manifest.jsonl" "$EXP/$s" ;;
    irn-threshold | irn-recam-threshold | irn-lpcam-threshold)
      row=${s%-threshold}
      threshold_stage "$row" "$EXP/$row/manifest.jsonl" refined "$IRN_BG" "$IRN_SWEEP" ;;
    pseudo-irn | pseudo-recam-irn | pseudo-lpcam-irn)
      case $s in pseudo-irn) row=irn ;; *) row=irn-${s#pseudo-} row=${row%-irn} ;; esac   # pseudo-recam-irn: irn-recam
      per_image "$EXP/$s" wsss-pseudo -q -j "$J" $(resume_or_replace "$out") --field refined \
        --bg-threshold "$(value_of "$EXP/eval/$row-threshold.txt")" "$EXP/$row/manifest.jsonl" "$EXP/$s" ;;
    recam-train)
      # shellcheck disable=SC2086
      trainer wsss-classify recam -j "$J" --seed "$SEED" $(train_resume_or_replace "$EXP/recam-model") \
        --init "$EXP/cls/model.safetensors" $RECAM_OPTS --epochs "$RECAM_EPOCHS" "$TRAIN_M" "$EXP/recam-model" ;;
    recam)
      # shellcheck disable=SC2086
      per_image "$EXP/recam" wsss-cam -j "$J" $(resume_or_replace "$out") $CAM_OPTS --recam \
        --model "$EXP/recam-model/model.safetensors" "$TRAIN_M" "$EXP/recam" ;;
    lpcam-cluster)
      # shellcheck disable=SC2086
      # one output file, no journal: a rerun replaces it
      trainer wsss-lpcam cluster -j "$J" --seed "$SEED" $(replace_if_done "$out") $LPCAM_CLUSTER_OPTS \
        --model "$EXP/cls/model.safetensors" "$EXP/cam/manifest.jsonl" "$EXP/lpcam-proto" ;;
    lpcam)
      # shellcheck disable=SC2086
      per_image "$EXP/lpcam" wsss-cam -j "$J" $(resume_or_replace "$out") $CAM_OPTS \
        --lpcam "$EXP/lpcam-proto/prototypes.safetensors" --model "$EXP/cls/model.safetensors" "$TRAIN_M" "$EXP/lpcam" ;;
    recam-threshold | lpcam-threshold)
      row=${s%-threshold}
      threshold_stage "$row" "$EXP/$row/manifest.jsonl" cam "$CAM_BG" "$CAM_SWEEP" ;;
    pseudo-recam | pseudo-lpcam)
      row=${s#pseudo-}
      per_image "$EXP/$s" wsss-pseudo -q -j "$J" $(resume_or_replace "$out") \
        --bg-threshold "$(value_of "$EXP/eval/$row-threshold.txt")" "$EXP/$row/manifest.jsonl" "$EXP/$s" ;;
    amn-train)
      # shellcheck disable=SC2086
      trainer wsss-amn train -j "$J" --seed "$SEED" $(train_resume_or_replace "$EXP/amn-model") \
        --init "${IRN_INIT:-$EXP/cls/model.safetensors}" $AMN_TRAIN_OPTS --epochs "$AMN_EPOCHS" \
        "$EXP/ir/manifest.jsonl" "$EXP/amn-model" ;;
    amn)
      # shellcheck disable=SC2086
      per_image "$EXP/amn" wsss-amn cam -j "$J" $(resume_or_replace "$out") $AMN_OPTS \
        --model "$EXP/amn-model/model.safetensors" "$EXP/ir/manifest.jsonl" "$EXP/amn" ;;
    amn-ir)
      # shellcheck disable=SC2086
      per_image "$EXP/amn-ir" wsss-pseudo -q -j "$J" $(resume_or_replace "$out") --drop-bg-channel \
        --ignore "irn:$AMN_IR_FG:$AMN_IR_BG" $AMN_IR_OPTS --out-field ir_label "$EXP/amn/manifest.jsonl" "$EXP/amn-ir" ;;
    amn-irn-train)
      # shellcheck disable=SC2086
      trainer wsss-refine irn-train -j "$J" --seed "$SEED" $(train_resume_or_replace "$EXP/amn-irn-model") \
        --init "${IRN_INIT:-$EXP/cls/model.safetensors}" $IRN_TRAIN_OPTS --epochs "$IRN_EPOCHS" \
        "$EXP/amn-ir/manifest.jsonl" "$EXP/amn-irn-model" ;;
    amn-irn)
      # shellcheck disable=SC2086
      per_image "$EXP/amn-irn" wsss-refine irn -j "$J" $(resume_or_replace "$out") $IRN_OPTS $AMN_IRN_OPTS \
        --model "$EXP/amn-irn-model/model.safetensors" "$EXP/amn-ir/manifest.jsonl" "$EXP/amn-irn" ;;
    amn-threshold) threshold_stage amn "$EXP/amn-irn/manifest.jsonl" refined "$AMN_BG" "$AMN_SWEEP" ;;
    pseudo-amn)
      per_image "$EXP/pseudo-amn" wsss-pseudo -q -j "$J" $(resume_or_replace "$out") --field refined \
        --bg-threshold "$(value_of "$EXP/eval/amn-threshold.txt")" "$EXP/amn-irn/manifest.jsonl" "$EXP/pseudo-amn" ;;
    saliency)
      local folder=$SALIENCY
      if [ -z "$folder" ]; then  # the synthetic stand-in for a saliency model, for the training images
        folder=$EXP/saliency/synth/saliency
        # shellcheck disable=SC2086
        run wsss-data synth -q $(resume_or_replace "$EXP/saliency/synth/manifest.jsonl") --masks-only --saliency \
          --count "$TRAIN_COUNT" --seed 1 --prefix train -j "$J" $SYNTH_OPTS "$EXP/saliency/synth"
      fi
      run wsss-data join -q --overwrite "$EXP/cam/manifest.jsonl" --folder "$folder" --take saliency \
        -o "$out" ;;
    pseudo-cam-sal)
      # shellcheck disable=SC2086
      per_image "$EXP/pseudo-cam-sal" wsss-pseudo -q -j "$J" $(resume_or_replace "$out") --saliency saliency \
        $SAL_OPTS "$EXP/saliency/manifest.jsonl" "$EXP/pseudo-cam-sal" ;;
    clip-es)
      # shellcheck disable=SC2086
      per_image "$EXP/clip-es" wsss-clip-es -j "$J" $(resume_or_replace "$out") --model "$CLIP_MODEL" \
        ${CLIP_BPE:+--bpe "$CLIP_BPE"} $CLIP_ES_OPTS "$TRAIN_M" "$EXP/clip-es" ;;
    clip-es-crf)
      # shellcheck disable=SC2086
      per_image "$EXP/clip-es-crf" wsss-refine crf -j "$J" $(resume_or_replace "$out") $CLIP_CRF_OPTS \
        "$EXP/clip-es/manifest.jsonl" "$EXP/clip-es-crf" ;;
    pseudo-clip-es)
      # shellcheck disable=SC2086
      per_image "$EXP/pseudo-clip-es" wsss-pseudo -q -j "$J" $(resume_or_replace "$out") --field refined \
        $CLIP_PSEUDO_OPTS "$EXP/clip-es-crf/manifest.jsonl" "$EXP/pseudo-clip-es" ;;
    captions)  # what the detector is run on (docs/prompts.md)
      mkdir -p "$EXP/captions"
      run wsss-tags prompts -q --overwrite -o "$EXP/captions/detector_prompts.jsonl" "$TRAIN_M" ;;
    pseudo-sam-text)
      local dets
      dets=$(detections_for "$DETECTIONS" "$EXP/captions/oracle_boxes.json") || return 1
      # shellcheck disable=SC2086
      per_image "$EXP/pseudo-sam-text" wsss-sam -j "$J" $(resume_or_replace "$out") $(sam_segmenter) \
        --detections "$dets" $SAM_OPTS "$TRAIN_M" "$EXP/pseudo-sam-text" ;;
    tags)
      # shellcheck disable=SC2086
      run wsss-tags labels -q --overwrite $TAGS_OPTS "$TAGS" "$TRAIN_M" "$EXP/tags" ;;
    pseudo-sam-zeroshot)
      local dets
      dets=$(detections_for "$ZEROSHOT_DETECTIONS" "$EXP/tags/oracle_boxes.json") || return 1
      # shellcheck disable=SC2086
      per_image "$EXP/pseudo-sam-zeroshot" wsss-sam -j "$J" $(resume_or_replace "$out") $(sam_segmenter) \
        --detections "$dets" $SAM_OPTS "$EXP/tags/manifest.jsonl" "$EXP/pseudo-sam-zeroshot" ;;
    pseudo-sam-cam)
      # shellcheck disable=SC2086
      per_image "$EXP/pseudo-sam-cam" wsss-sam -j "$J" $(resume_or_replace "$out") $(sam_segmenter) \
        $SAM_CAM_OPTS $SAM_OPTS "$EXP/cam/manifest.jsonl" "$EXP/pseudo-sam-cam" ;;
    clip-tags)
      # shellcheck disable=SC2086
      per_image "$EXP/clip-tags" wsss-clip-es -j "$J" $(resume_or_replace "$out") --mode tags --model "$CLIP_MODEL" \
        ${CLIP_BPE:+--bpe "$CLIP_BPE"} $CLIP_TAGS_OPTS "$TRAIN_M" "$EXP/clip-tags" ;;
    clip-tags-cam)
      # shellcheck disable=SC2086
      per_image "$EXP/clip-tags-cam" wsss-clip-es -j "$J" $(resume_or_replace "$out") --model "$CLIP_MODEL" \
        ${CLIP_BPE:+--bpe "$CLIP_BPE"} $CLIP_ES_OPTS "$EXP/clip-tags/manifest.jsonl" "$EXP/clip-tags-cam" ;;
    pseudo-clip-sam)
      # shellcheck disable=SC2086
      per_image "$EXP/pseudo-clip-sam" wsss-sam -j "$J" $(resume_or_replace "$out") $(sam_segmenter) \
        $SAM_CAM_OPTS $SAM_OPTS "$EXP/clip-tags-cam/manifest.jsonl" "$EXP/pseudo-clip-sam" ;;
    seg-*)
      row=${s#seg-} field=pseudo manifest=$EXP/pseudo-$row/manifest.jsonl
      [ "$row" = gt ] && { manifest=$TRAIN_M; field=mask; }
      # shellcheck disable=SC2086
      trainer wsss-train-seg train -j "$J" --seed "$SEED" $(train_resume_or_replace "$EXP/$s") --field "$field" \
        --init "${SEG_INIT:-$EXP/cls/model.safetensors}" $SEG_OPTS --iters "$SEG_ITERS" --lr "$SEG_LR" \
        "$manifest" "$EXP/$s" ;;
    pred-*)
      # shellcheck disable=SC2086
      per_image "$EXP/$s" wsss-train-seg predict -j "$J" $(resume_or_replace "$out") $PRED_OPTS \
        --model "$EXP/seg-${s#pred-}/model.safetensors" "$VAL_M" "$EXP/$s" ;;
    table) write_table ;;
    report)  # everything the table was made from, as one page (docs/viz.md)
      run wsss-report -q --overwrite -j "$J" "$EXP" ;;
    *) echo "pipeline.sh: unknown stage '$s' (try: scripts/pipeline.sh EXP list)" >&2; return 2 ;;
  esac
}

data_import() {  # train|val|eval DONE_FILE
  local which=$1 out=$2 dir
  dir=$(dirname "$out")
  case $DATA in
    synth)
      # shellcheck disable=SC2086
      if [ "$which" = train ]; then
        run wsss-data synth -q $(resume_or_replace "$out") --count "$TRAIN_COUNT" --seed 1 --prefix train -j "$J" $SYNTH_OPTS "$dir"
      else
        run wsss-data synth -q $(resume_or_replace "$out") --count "$VAL_COUNT" --seed 2 --prefix val -j "$J" $SYNTH_OPTS "$dir"
      fi ;;
    voc)
      require_setting VOC_ROOT "DATA=voc"
      local split=$TRAIN_SPLIT
      [ "$which" = val ] && split=$VAL_SPLIT
      [ "$which" = eval ] && split=$EVAL_SPLIT
      run wsss-data voc -q $(resume_or_replace "$out") -j "$J" --split "$split" ${VOC_CLASSES:+--classes "$VOC_CLASSES"} \
        "$VOC_ROOT" "$dir" ;;
    coco)
      require_setting COCO_ROOT "DATA=coco"
      local json=$COCO_TRAIN_JSON images=$COCO_TRAIN_IMAGES
      [ "$which" = val ] && { json=$COCO_VAL_JSON; images=$COCO_VAL_IMAGES; }
      run wsss-data coco -q $(resume_or_replace "$out") -j "$J" "$COCO_ROOT/$json" "$COCO_ROOT/$images" "$dir" ;;
  esac
}
