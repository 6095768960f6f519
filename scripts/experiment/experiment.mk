# The Table-1 experiment as make rules over scripts/pipeline.sh: the rules are
# generated from the experiment's resolved configuration (EXP/rules.mk), each
# naming the files a stage reads and its commands (EXP/cmd/STAGE.sh), so
# `make -j2 experiment` reruns only stale stages (an input or a setting changed)
# and runs independent ones side by side (CRF beside IRN, the segmentation
# models two at a time). An interrupted run continues: the rerun stage resumes
# from its journal or checkpoint. Included by ./Makefile.
#
#   make experiment [EXP=DIR] [CONFIG=recipes/....conf] [TRAIN=M VAL=M] [KEY=VALUE ...]
#   make stage-NAME EXP=DIR     one stage and what it needs (scripts/pipeline.sh DIR list)
#
# EXP picks the experiment directory, CONFIG its configuration (remembered in
# EXP/config.sh), STAGE_JOBS the threads of each stage; any setting of
# scripts/experiment/defaults.conf can be given as KEY=VALUE.
EXP ?= exp/demo
STAGE_JOBS ?= $(shell nproc)
PIPELINE = WSSS_BIN=$(BIN) J=$(STAGE_JOBS) scripts/pipeline.sh $(X)
X := $(EXP)

.PHONY: experiment experiment-configure
experiment: $(X)/report.html
	@cat $(X)/results.md
	@echo "report: $(X)/report.html"

# Resolved on every call (the configuration file or a KEY=VALUE may have
# changed); the files are rewritten only when they change, so make reruns a
# stage only when its commands did.
$(X)/config.sh: experiment-configure
	@$(PIPELINE) configure
$(X)/rules.mk: $(X)/config.sh scripts/experiment/stages.sh
	@$(PIPELINE) rules > $@.tmp && mv $@.tmp $@

# Only for the experiment's goals: `make test` or `make build` configure nothing.
ifneq ($(filter experiment demo clip-zeroshot stage-% $(X)/%,$(MAKECMDGOALS)),)
include $(X)/rules.mk
endif
