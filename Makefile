# ByteLatent — the two commands a fresh machine needs are `make demo` and `make test`;
# each installs the Debian packages it needs first (as root).
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev liblapacke-dev
BLT := .build/release/blt

.PHONY: all build test demo bench clean deps

all: build

deps:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(APT_PACKAGES)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	  else \
	    echo "missing Debian packages: run 'sudo apt-get install -y $(APT_PACKAGES)' (or make as root)"; exit 1; \
	  fi; \
	fi

build: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) test

clean:
	rm -rf .build

# Benchmarks (not run by CI). They need the pinned reference venv, created on first use.
VENV := .venv-ref
BENCH_MODEL ?= Models/blt-tiny
$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r Converters/reference/requirements.txt

bench: build $(VENV)/bin/python
	$(VENV)/bin/python Converters/reference/bench.py --model $(BENCH_MODEL) --blt $(BLT)
