# Thin wrapper over CMake, plus the demo. `make demo` and `make test` do all the
# set-up on a fresh Debian 12 machine (installing packages as root or via sudo).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release
BIN := $(BUILD)/bin
# Demo/experiment directory (generated data and results; gitignored).
EXP ?= exp/demo

.PHONY: all deps build test test-unit test-cli demo bench clean help sam-text sam-zeroshot clip-zeroshot cli-docs install fuzz test-sanitize

all: build

help:
	@echo "make demo   - install what is missing, build, run the Table-1 experiment on synthetic data ($(EXP))"
	@echo "make experiment EXP=DIR [CONFIG=recipes/....conf] [TRAIN=M VAL=M] [KEY=VALUE...]"
	@echo "            - the experiment of a configuration, without the build step (docs/recipes.md)"
	@echo "make test   - install what is missing, build, run the whole test suite (with the Slurm tests,"
	@echo "              which start a local Slurm cluster as root; NO_SLURM=1 installs no Slurm packages)"
	@echo "make build  - configure and build into $(BUILD)/"
	@echo "make fuzz [FUZZ_SECONDS=600] - every libFuzzer target that long, one at a time (docs/robustness.md)"
	@echo "make test-sanitize - the unit tests and the bad-input corpus without LibTorch under ASan+UBSan (clang tree in $(BUILD)/sanitize)"
	@echo "make bench  - run the benchmarks in bench/"
	@echo "make cli-docs - regenerate docs/cli.md from the binaries' --help-all"
	@echo "make install [PREFIX=/usr/local] - binaries, headers, data_manifests and the CMake package wsss::wsss"
	@echo "make sam-text MANIFEST=M SAM_MODEL=S.pt [DETECTIONS=D.json] [EXP=DIR]"
	@echo "            - SAM pseudo masks, text input (labels known): captions, then (once the user has run"
	@echo "              Grounding DINO on them) wsss-sam and wsss-miou into EXP/text (scripts/sam_text.sh, docs/sam.md)"
	@echo "make clip-zeroshot MANIFEST=M CLIP_MODEL=ViT-B-16.pt SAM_MODEL=S.pt|grabcut [EXP=DIR]"
	@echo "            - zero-shot pseudo masks: CLIP's labels, CLIP-ES maps, CAM-prompted SAM (docs/clip-es.md)"
	@echo "make sam-zeroshot TAGS=RAM_TAGS MANIFEST=M SAM_MODEL=S.pt [DETECTIONS=D.json] [EXP=DIR]"
	@echo "            - the same from a tagger's tags (no labels), into EXP/zeroshot (scripts/sam_zeroshot.sh)"

# NO_SLURM=1: no slurm-wlm/munge (the Slurm tests install them when they run).
deps:
	@scripts/install-deps.sh $(if $(filter 1,$(NO_SLURM)),--no-slurm)

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE 'gpu|slow'

# Robustness (docs/robustness.md): a second tree, clang with ASan+UBSan and
# libFuzzer, without LibTorch. The short fuzz runs (ctest label fuzz) are also
# labelled slow, outside `make test` (docs/robustness.md): `ctest -L fuzz`.
SANITIZE_BUILD ?= $(BUILD)/sanitize
FUZZ_SECONDS ?= 600
# Targets fuzzed at once (each one process on one core).
FUZZ_JOBS ?= 1
FUZZ_TARGETS := manifest png npy safetensors coco voc classes detections
fuzz: deps
	tests/fuzz/build.sh . $(SANITIZE_BUILD) fuzz_targets
	@printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(FUZZ_JOBS) -I{} sh -c \
	  'nice -n 19 tests/fuzz/run.sh $(SANITIZE_BUILD)/fuzz/fuzz_{} $(FUZZ_SECONDS) $(BUILD)/fuzz-work/{} || { echo "fuzz: crash in {} (inputs in $(BUILD)/fuzz-work/{})"; exit 1; }' \
	  || { echo "fuzz: crashes found (above)"; exit 1; }

# The unit tests without LibTorch, then the bad-input corpus against the
# binaries without LibTorch (its cases for the others are skipped), under
# ASan+UBSan: any sanitizer report fails.
SANITIZE_BINARIES := wsss-data wsss-miou wsss-pseudo wsss-report wsss-tags wsss-viz
test-sanitize: deps
	tests/fuzz/build.sh . $(SANITIZE_BUILD) wsss_unit_tests $(SANITIZE_BINARIES)
	cd $(SANITIZE_BUILD) && ctest --output-on-failure -j $(JOBS) -L unit
	python3 tests/badinput/run.py --bin $(SANITIZE_BUILD)/bin -j $(JOBS)

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

test-cli: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L cli

# The demo is the Table-1 experiment (scripts/experiment/experiment.mk) on synthetic data:
# `make -j2 demo` runs independent stages side by side; rerunning reuses every
# stage whose inputs did not change.
demo: build
	@$(MAKE) --no-print-directory experiment CONFIG=recipes/demo.conf

include scripts/experiment/experiment.mk

# The SAM recipes (docs/sam.md, "Recipes"). The user supplies MANIFEST, SAM_MODEL
# (scripts/export_sam.py), DETECTIONS (Grounding DINO run on the captions the first
# call writes; default EXP/text/detections.json or EXP/zeroshot/detections.json) and,
# zero-shot, TAGS (RAM). SAM_OPTS, SEG=1, SEG_OPTS, VAL pass through (scripts/sam_common.sh).
SAM_RECIPE = WSSS_BIN=$(BIN) J=$(JOBS) scripts
# The recipes build first, unless BIN names binaries built elsewhere (the
# tests pass theirs: a build from inside the suite would relink the binaries
# that other tests are running).
RECIPE_DEPS = $(if $(filter $(BUILD)/bin,$(BIN)),build)

sam-text: $(RECIPE_DEPS)
	$(SAM_RECIPE)/sam_text.sh "$(EXP)" "$(MANIFEST)" "$(SAM_MODEL)" $(DETECTIONS)
sam-zeroshot: $(RECIPE_DEPS)
	$(SAM_RECIPE)/sam_zeroshot.sh "$(EXP)" "$(TAGS)" "$(MANIFEST)" "$(SAM_MODEL)" $(DETECTIONS)
# Zero-shot with no tagger and no detector (docs/clip-es.md, "Zero-shot"): CLIP's
# labels, CLIP-ES maps of them, SAM prompted by the maps; scored when MANIFEST has masks.
clip-zeroshot: $(RECIPE_DEPS)
	@$(MAKE) --no-print-directory experiment EXP="$(EXP)" DATA=manifests TRAIN="$(MANIFEST)" VAL="$(MANIFEST)" \
	  ROWS=clip-sam SEG_ROWS=none CLIP_MODEL="$(CLIP_MODEL)" SAM_MODEL="$(SAM_MODEL)"

# docs/cli.md from every binary's --help-all (a test fails when it is stale).
cli-docs: build
	scripts/gen_cli_docs.sh $(BIN) docs/cli.md

# Binaries, headers, data_manifests/ and the CMake package (find_package(wsss)).
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

bench: build
	WSSS_BIN=$(BIN) bench/run_all.sh

clean:
	rm -rf $(BUILD)
