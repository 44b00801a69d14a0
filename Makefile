# One entry point for people and CI. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PIP    := $(VENV)/bin/pip
BIN    := $(VENV)/bin

.PHONY: install demo test lint unit bench train-detector train-reader clean

install: $(VENV)/.installed

# torch first (the pinned build), then the project, then face-recognition without
# its dependencies so dlib is not compiled (dlib-bin provides it).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -e ".[dev]"
	$(PIP) install -q --no-deps face-recognition==1.3.0
	@# Debian's chromium for the browser tests (they skip with a reason without it).
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium not installed: browser tests will skip"
	touch $@

demo: install
	$(BIN)/lanecap demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint unit

bench: install
	$(BIN)/python -m bench.bench_detector
	$(BIN)/python -m bench.bench_reader --threads 1 --frames 10
	$(BIN)/python -m bench.bench_face_search --n 100000
	$(BIN)/python -m bench.bench_search --n 1000000

train-detector: install
	nice -n 10 $(BIN)/lanecap train detector

train-reader: install
	nice -n 10 $(BIN)/lanecap train reader --threads 1 --install

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

# The one-machine cluster (SeaweedFS master, 3 volume servers, filer, S3 gateway; PostgreSQL
# primary and streaming replica) and the faults on it; also part of `make unit`.
.PHONY: cluster-test
cluster-test: install
	$(BIN)/pytest -m cluster tests/cluster
