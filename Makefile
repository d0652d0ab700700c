# ByteLatent — the two commands a fresh machine needs are `make demo` and `make test`;
# each installs the Debian packages it needs first (as root).
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev liblapacke-dev
# The tests also render an SVG with rsvg-convert.
TEST_APT_PACKAGES := $(APT_PACKAGES) librsvg2-bin
BLT := .build/release/blt

.PHONY: all build test test-matrix demo bench clean deps test-deps

all: build

# Installs the Debian packages in $(1) that are missing (as root), or says how.
define install_missing
	@if ! dpkg -s $(1) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(1)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1); \
	  else \
	    echo "missing Debian packages: run 'sudo apt-get install -y $(1)' (or make as root)"; exit 1; \
	  fi; \
	fi
endef

deps:
	$(call install_missing,$(APT_PACKAGES))

test-deps:
	$(call install_missing,$(TEST_APT_PACKAGES))

build: deps
	$(SWIFT) build -c release

# The XCTest suite (a skipped test fails the run, named), then README's library snippet built as a
# versioned dependency (no unsafe flags).
test: test-deps
	@mkdir -p .build
	set -o pipefail; $(SWIFT) test --disable-swift-testing 2>&1 | tee .build/test.log
	bash Tests/Scripts/no-skipped-tests.sh .build/test.log
	bash Tests/Packaging/versioned-dependency.sh

# The forced-configuration matrix (CI runs it after `make test`): the kernel-, evaluation-, packing-,
# generation-, serve- and conversion-sensitive test classes again under BLT_CPU=generic, avx2 with
# OpenBLAS and with the blocked GEMM, OPENBLAS_CORETYPE=Prescott and a Zen 3 stand-in. MATRIX=NAME…
# runs some of them.
MATRIX ?=
test-matrix: test-deps
	bash Tests/Scripts/test-matrix.sh $(MATRIX)

# The main job on the bundled default: bits-per-byte of a held-out sample under the tiny trained
# model (Models/README.md), then where its entropy model cuts a sentence, and a short continuation.
demo: build
	@echo "== blt eval --model Models/blt-tiny Models/sample.txt"
	@$(BLT) eval --model Models/blt-tiny Models/sample.txt
	@echo
	@echo "== blt patch --model Models/blt-tiny --text \"Names refer to objects. Names are introduced by name binding operations.\""
	@$(BLT) patch --model Models/blt-tiny --text "Names refer to objects. Names are introduced by name binding operations."
	@echo
	@echo "== blt generate --model Models/blt-tiny --prompt \"A scope defines\" --max-bytes 120"
	@$(BLT) generate --model Models/blt-tiny --prompt "A scope defines" --max-bytes 120

clean:
	rm -rf .build

# Benchmarks (not run by CI). They need the pinned reference venv, created on first use.
VENV := .venv-ref
BENCH_MODEL ?= Models/blt-tiny
$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r Converters/reference/requirements.txt

# First the machine's limits (read bandwidth, sgemm rate), then the runs' achieved GB/s of weights
# and GFLOP/s beside them (Docs/benchmarks.md, "Reading the throughput lines").
bench: build $(VENV)/bin/python
	$(BLT) bench-kernels --machine
	$(VENV)/bin/python Converters/reference/bench.py --model $(BENCH_MODEL) --blt $(BLT)

# Converter targets:
#   make convert-fixtures   regenerate Tests/Fixtures/hub-tiny{,-expected} with the pinned Python reference
#   make test-convert       swift test --filter ConvertTests
#   make check-convert-python  Python (safetensors, transformers) reads what `blt convert` wrote: f32/bf16/f16/sharded
#                           outputs bit for bit against the reference conversion and torch's .to(dtype)
#   make bench-convert      synthetic facebook/blt-1b (~9.3 GB, bf16) → transformers layout:
#                           seconds and peak RSS (/usr/bin/time -v); needs ~19 GB free under BENCH_CONVERT_DIR

BENCH_CONVERT_DIR ?= bench-out/convert
BLT1B_SYNTHETIC   ?= $(BENCH_CONVERT_DIR)/blt-1b-synthetic
BLT1B_CONVERTED   ?= $(BENCH_CONVERT_DIR)/blt-1b-hf
CONVERT_FLAGS     ?=

.PHONY: convert-fixtures test-convert check-convert-python bench-convert bench-convert-clean

convert-fixtures: $(VENV)/bin/python
	$(VENV)/bin/python Converters/reference/make_hub_checkpoint.py Tests/Fixtures/hub-tiny Tests/Fixtures/hub-tiny-expected

test-convert:
	swift test --filter ConvertTests

check-convert-python: deps $(VENV)/bin/python
	$(SWIFT) build --product blt
	$(VENV)/bin/python Converters/reference/make_hub_checkpoint.py --check-swift .build/debug/blt Tests/Fixtures/hub-tiny Tests/Fixtures/hub-tiny-expected

$(BLT1B_SYNTHETIC)/config.json: | $(VENV)/bin/python
	mkdir -p $(BENCH_CONVERT_DIR)
	$(VENV)/bin/python Converters/reference/make_blt1b_synthetic.py $(BLT1B_SYNTHETIC)

bench-convert: $(BLT1B_SYNTHETIC)/config.json
	swift build -c release --product blt
	rm -rf $(BLT1B_CONVERTED)
	/usr/bin/time -v .build/release/blt convert $(BLT1B_SYNTHETIC) $(BLT1B_CONVERTED) $(CONVERT_FLAGS) 2> $(BENCH_CONVERT_DIR)/time.txt
	@grep -E "Elapsed|Maximum resident|User time|System time" $(BENCH_CONVERT_DIR)/time.txt
	.build/release/blt inspect $(BLT1B_CONVERTED)

bench-convert-clean:
	rm -rf $(BLT1B_SYNTHETIC) $(BLT1B_CONVERTED)

# Packed evaluation (Docs/benchmarks.md, "Packed evaluation"): 60 GPL-3 paragraphs as JSONL, packed
# (default --batch-bytes) against one forward pass per document, same binary, back to back; then
# the linear-layer GFLOP/s each reached. BENCH_MODEL=/path/to/blt-1b for the real shapes (~8 GB RSS).
PACKING_DIR ?= bench-out/packing
.PHONY: bench-packing
bench-packing: build
	mkdir -p $(PACKING_DIR)
	python3 Converters/bench/gpl3_paragraphs.py jsonl $(PACKING_DIR)/gpl3.jsonl
	python3 Converters/bench/gpl3_paragraphs.py long $(PACKING_DIR)/gpl3-2k.txt
	/usr/bin/time -v $(BLT) eval --model $(BENCH_MODEL) --json $(PACKING_DIR)/gpl3.jsonl > $(PACKING_DIR)/packed.json 2> $(PACKING_DIR)/packed.time
	/usr/bin/time -v $(BLT) eval --model $(BENCH_MODEL) --json --batch-bytes 0 $(PACKING_DIR)/gpl3.jsonl > $(PACKING_DIR)/single.json 2> $(PACKING_DIR)/single.time
	python3 Converters/bench/eval_flops.py $(BENCH_MODEL)/config.json $(PACKING_DIR)/packed.json $(PACKING_DIR)/single.json
	@grep -H "Maximum resident" $(PACKING_DIR)/packed.time $(PACKING_DIR)/single.time

# Fuzzing (Docs/reliability.md): libFuzzer + AddressSanitizer harnesses for every parser, in the
# separate package Fuzz/ so the library's Package.swift stays free of sanitizer flags. Each harness
# runs FUZZ_SECONDS, one at a time, one worker, under nice -n 19; crashes land in Fuzz/.work/<harness>/.
FUZZ_SECONDS ?= 600
FUZZ_HARNESSES ?=
.PHONY: fuzz fuzz-build
fuzz-build:
	cd Fuzz && $(SWIFT) build --disable-build-manifest-caching -Xswiftc -sanitize=fuzzer,address
fuzz: fuzz-build
	Fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_HARNESSES)

# lm-evaluation-harness backend (Integrations/lm-eval, Docs/lm-eval.md): the adapter end to end against
# transformers-made fixtures, through lm-eval 0.4.13's own CLI, in one process and as two ranks under accelerate
# launch. Creates its own venv on first use (and updates it when requirements.txt changes).
LM_EVAL_VENV := .venv-lm-eval
.PHONY: test-lm-eval
$(LM_EVAL_VENV)/bin/lm-eval: Integrations/lm-eval/requirements.txt
	python3 -m venv $(LM_EVAL_VENV)
	$(LM_EVAL_VENV)/bin/pip install -q -r Integrations/lm-eval/requirements.txt
	touch $@

test-lm-eval: deps $(LM_EVAL_VENV)/bin/lm-eval
	$(SWIFT) build -c release --product blt
	BLT_BINARY=$(BLT) $(LM_EVAL_VENV)/bin/python Integrations/lm-eval/tests/test_blt_lm_eval.py

# Docs/eval.md's Slurm recipe, extracted from the doc, on a single-node Slurm started for the test from
# Debian's slurm-wlm and munge (in a network namespace with only the loopback, state in a temporary directory,
# stopped on exit): 4 shards
# merged equal the unsharded run bit for bit; a task failed on purpose holds the merge and is rerun.
SLURM_APT_PACKAGES := slurm-wlm munge iproute2
.PHONY: test-slurm
test-slurm: deps
	$(call install_missing,$(SLURM_APT_PACKAGES))
	$(SWIFT) build -c release --product blt
	timeout 1200 bash Tests/Scripts/test-slurm.sh $(BLT)
