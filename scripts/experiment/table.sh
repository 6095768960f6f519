# shellcheck shell=bash
# The Table-1-style summary of an experiment: EXP/results.md and EXP/results.json.
# Sourced by scripts/pipeline.sh (the "table" stage).

row_label() {  # ROW
  case $1 in
    cam) echo "CAM (bg threshold $(cat "$EXP/eval/cam-threshold.txt"))" ;;
    crf) echo "CAM + dense CRF ($(preset_of "$CRF_OPTS") preset)" ;;
    irn) echo "CAM + IRN random walk (bg threshold $(cat "$EXP/eval/irn-threshold.txt"))" ;;
    recam) echo "ReCAM (bg threshold $(cat "$EXP/eval/recam-threshold.txt"))" ;;
    recam-irn) echo "ReCAM + IRN random walk (bg threshold $(cat "$EXP/eval/irn-recam-threshold.txt"))" ;;
    lpcam-irn) echo "LPCAM + IRN random walk (bg threshold $(cat "$EXP/eval/irn-lpcam-threshold.txt"))" ;;
    lpcam) echo "LPCAM (bg threshold $(cat "$EXP/eval/lpcam-threshold.txt"))" ;;
    amn) echo "AMN + IRN random walk (IR labels $AMN_IR_FG / $AMN_IR_BG, bg threshold $(cat "$EXP/eval/amn-threshold.txt"))" ;;
    cam-sal) echo "CAM + saliency ($([ -n "$SALIENCY" ] && echo "saliency maps" || echo "synthetic stand-in"), OAA's rule)" ;;
    clip-es) echo "CLIP-ES + dense CRF (training-free)" ;;
    sam-text) echo "SAM, text input (detector boxes$([ "$DETECTIONS" = oracle ] && echo ': ground truth, an upper bound'))" ;;
    sam-zeroshot) echo "SAM zero-shot (tagger's tags$([ "$ZEROSHOT_DETECTIONS" = oracle ] && echo ', ground-truth boxes'))" ;;
    sam-cam) echo "SAM prompted by CAMs" ;;
    clip-sam) echo "CLIP tags + CLIP-ES + SAM (zero-shot, no labels)" ;;
    gt) echo "ground truth (fully supervised bound)" ;;
  esac
}
preset_of() { local p; p=$(grep -oE -- '--preset [a-z]+' <<<"$1" | cut -d' ' -f2); echo "${p:-deeplab}"; }

# The stages whose times make a row's pseudo masks.
row_stages() {  # ROW
  local s out=() want
  for s in "${STAGES[@]}"; do
    case $s in data-* | seg-* | pred-* | table) continue ;; esac
    for want in $(upstream "pseudo-$1"); do [ "$want" = "$s" ] && { out+=("$s"); break; }; done  # once, however many paths lead to it
  done
  echo "${out[*]}"
}
upstream() {  # STAGE: it and every stage it needs, transitively
  local s=$1 n
  [ -n "${DONE[$s]+x}" ] || return 0
  echo "$s"
  for n in ${NEEDS[$s]}; do upstream "$n"; done
}

stage_time() {  # STAGE...: the stages' recorded wall seconds, summed
  local total=0 s
  for s in "$@"; do
    [ -f "$EXP/times/$s" ] && total=$(awk -v a="$total" -v b="$(cat "$EXP/times/$s")" 'BEGIN { print a + b }')
  done
  awk -v t="$total" 'BEGIN { printf "%.0f", t }'
}

write_table() {
  [ "$PRINT_ONLY" = 1 ] && { echo "# the table (results.md, results.json) from EXP/eval"; return 0; }
  local base row pm sm label stages json_rows="" seg scored t_pseudo t_seg pseudo_m pred_m pseudo_eval seg_eval
  # Images without ground truth (zero-shot on unlabelled data): masks made, not scored.
  local has_gt=1
  grep -q '"mask"' "${EVAL_M:-$TRAIN_M}" || has_gt=0
  base=null
  if [ $has_gt = 1 ]; then
    # All background on the scored images: their own masks, nothing to join.
    evaluate baseline "${EVAL_M:-$TRAIN_M}" --pred pred --missing empty
    base=$(miou_of "$EXP/eval/baseline.txt")
    [ -n "$base" ] || { echo "pipeline.sh: table: no mIoU in $EXP/eval/baseline.txt" >&2; return 1; }
  fi
  local md="$EXP/results.md.tmp" json="$EXP/results.json.tmp"
  {
    echo "| pseudo masks | pseudo-mask mIoU (train) | segmentation mIoU (val) | time: pseudo masks | time: segmentation |"
    echo "|---|---|---|---|---|"
    printf "| all background (baseline) | %s | - | - | - |\n" "${base/null/- (no ground truth)}"
  } > "$md"
  for row in $ROWS; do
    label=$(row_label "$row")
    seg=0
    case " $(seg_rows | tr '\n' ' ') " in *" $row "*) seg=1 ;; esac
    pseudo_m=null pseudo_eval=null pred_m=null seg_eval=null stages=""
    if [ "$row" = gt ]; then
      pm=100
    else
      pseudo_m=$EXP/pseudo-$row/manifest.jsonl
      pm=null
      if [ $has_gt = 1 ]; then
        scored=$(scored_manifest "pseudo-$row" "$pseudo_m" pseudo)
        evaluate "pseudo-$row" "$scored" --pred pseudo
        pm=$(miou_of "$EXP/eval/pseudo-$row.txt")
        pseudo_eval=$EXP/eval/pseudo-$row.json
      fi
      stages=$(row_stages "$row")
    fi
    sm=null t_seg=null
    if [ $seg = 1 ]; then
      pred_m=$EXP/pred-$row/manifest.jsonl
      evaluate "seg-$row" "$pred_m" --pred pred
      sm=$(miou_of "$EXP/eval/seg-$row.txt")
      seg_eval=$EXP/eval/seg-$row.json
      t_seg=$(stage_time "seg-$row" "pred-$row")
    fi
    t_pseudo=null
    [ -n "$stages" ] && t_pseudo=$(stage_time $stages)
    printf "| %s | %s | %s | %s | %s |\n" "$label" "${pm/null/-}" "${sm/null/-}" "${t_pseudo/null/-}${stages:+s}" \
      "$([ "$t_seg" = null ] && echo - || echo "${t_seg}s")" >> "$md"
    json_rows+=$(printf '%s{"row": "%s", "label": "%s", "pseudo_miou_train": %s, "seg_miou_val": %s, "seconds_pseudo": %s, "seconds_seg": %s, "stages": "%s", "pseudo_manifest": %s, "pseudo_eval": %s, "pred_manifest": %s, "seg_eval": %s}' \
      "${json_rows:+, }" "$row" "$(json_escape "$label")" "$pm" "$sm" "$t_pseudo" "$t_seg" "$stages" \
      "$(json_path "$pseudo_m")" "$(json_path "$pseudo_eval")" "$(json_path "$pred_m")" "$(json_path "$seg_eval")")
  done
  {
    echo
    echo "Times are wall seconds of each stage's last run (stages shared by rows, such as"
    echo "classify and cam, count in each); segmentation = wsss-train-seg train ($SEG_ITERS iterations) + predict on val."
  } >> "$md"
  # The manifests the rows were made from (wsss-report reads them: docs/viz.md).
  local sources="" key m
  for key in train val; do
    [ "$key" = train ] && m=$TRAIN_M || m=$VAL_M
    [ -n "$m" ] && sources+=$(printf '"%s_manifest": "%s", ' "$key" "$(json_escape "$(realpath -m -- "$m")")")
  done
  printf '{"format": "wsss-table1", "version": 2, "experiment": "%s", "config": "config.json", %s"baseline_miou_train": %s, "rows": [%s]}\n' \
    "$(json_escape "$EXP")" "$sources" "$base" "$json_rows" > "$json"
  mv "$md" "$EXP/results.md"
  mv "$json" "$EXP/results.json"
  cat "$EXP/results.md"
}
# A path relative to EXP, as a JSON string; null stays null.
json_path() { if [ "$1" = null ]; then echo null; else echo "\"$(json_escape "${1#"$EXP"/}")\""; fi; }
