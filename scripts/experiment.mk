# The Table-1 experiment as make rules over scripts/pipeline.sh: each rule names
# the files a stage reads, so `make -j2 experiment` reruns only stale stages and
# runs independent ones side by side (CRF beside IRN, the four segmentation
# models two at a time). An interrupted run continues: the rerun stage resumes
# from its journal or checkpoint (scripts/pipeline.sh). Included by ./Makefile;
# EXP picks the experiment directory, STAGE_JOBS the threads of each stage.
EXP ?= exp/demo
STAGE_JOBS ?= $(shell nproc)
PIPELINE = WSSS_BIN=$(BIN) J=$(STAGE_JOBS) scripts/pipeline.sh $(EXP)
X := $(EXP)

.PHONY: experiment
experiment: $(X)/results.json
	@cat $(X)/results.md

$(X)/train/manifest.jsonl:
	$(PIPELINE) data-train
$(X)/val/manifest.jsonl:
	$(PIPELINE) data-val
$(X)/cls/model.safetensors: $(X)/train/manifest.jsonl $(X)/val/manifest.jsonl
	$(PIPELINE) classify
$(X)/cam/manifest.jsonl: $(X)/cls/model.safetensors $(X)/train/manifest.jsonl
	$(PIPELINE) cam
$(X)/eval/cam-threshold.txt: $(X)/cam/manifest.jsonl
	$(PIPELINE) cam-threshold
$(X)/pseudo-cam/manifest.jsonl: $(X)/cam/manifest.jsonl $(X)/eval/cam-threshold.txt
	$(PIPELINE) pseudo-cam
$(X)/crf/manifest.jsonl: $(X)/cam/manifest.jsonl
	$(PIPELINE) crf
$(X)/pseudo-crf/manifest.jsonl: $(X)/crf/manifest.jsonl
	$(PIPELINE) pseudo-crf
$(X)/ir/manifest.jsonl: $(X)/cam/manifest.jsonl $(X)/eval/cam-threshold.txt
	$(PIPELINE) ir
$(X)/irn-model/model.safetensors: $(X)/ir/manifest.jsonl $(X)/cls/model.safetensors
	$(PIPELINE) irn-train
$(X)/irn/manifest.jsonl: $(X)/ir/manifest.jsonl $(X)/irn-model/model.safetensors
	$(PIPELINE) irn
$(X)/eval/irn-threshold.txt: $(X)/irn/manifest.jsonl
	$(PIPELINE) irn-threshold
$(X)/pseudo-irn/manifest.jsonl: $(X)/irn/manifest.jsonl $(X)/eval/irn-threshold.txt
	$(PIPELINE) pseudo-irn

# Segmentation: one model per row, trained on that row's pseudo masks (gt: the
# ground-truth masks, the fully supervised bound), predicted on val.
$(X)/seg-gt/model.safetensors: $(X)/train/manifest.jsonl $(X)/cls/model.safetensors
	$(PIPELINE) seg-gt
$(X)/seg-%/model.safetensors: $(X)/pseudo-%/manifest.jsonl $(X)/cls/model.safetensors
	$(PIPELINE) seg-$*
$(X)/pred-%/manifest.jsonl: $(X)/seg-%/model.safetensors $(X)/val/manifest.jsonl
	$(PIPELINE) pred-$*

TABLE_ROWS := cam crf irn gt
# Every pattern-made file is named in some rule, so make treats it as a target
# in its own right: it is rebuilt when missing and never deleted as an intermediate.
SEG_MODELS := $(foreach r,$(TABLE_ROWS),$(X)/seg-$(r)/model.safetensors)
$(X)/results.json: $(foreach r,$(TABLE_ROWS),$(X)/pred-$(r)/manifest.jsonl) \
                   $(foreach r,cam crf irn,$(X)/pseudo-$(r)/manifest.jsonl) | $(SEG_MODELS)
	$(PIPELINE) table > /dev/null
