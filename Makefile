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

# Peers of bench/bench_plate_peers.py, for benchmarking only (not project dependencies):
# platedet 0.0.2 (no licence declared; a YOLOv8 export, so AGPL-3.0 at best) and rapidocr 3.10.0 (Apache-2.0,
# PP-OCRv6 ONNX models in the wheel; given by path, nothing is downloaded), without their
# pinned dependencies (onnxruntime, opencv, numpy... come from the project), plus the few
# pure-Python packages rapidocr imports that the project lacks.
.PHONY: bench-peers
bench-peers: install
	$(PIP) install -q --no-deps platedet==0.0.2 rapidocr==3.10.0 omegaconf==2.3.0 \
		antlr4-python3-runtime==4.9.3 six==1.17.0 colorlog==6.12.0
	mkdir -p var/bench
	nice -n 10 $(BIN)/python -m bench.bench_plate_peers --threads 1 --json var/bench/plate_peers.json

# Monthly partitions against the unpartitioned schema: plate search, store path, retention
# (bench/bench_partitions.py; about 10 minutes at 10^6 crossings on 2 cores).
.PHONY: bench-partitions bench-partitions-10m
bench-partitions: install
	nice -n 10 $(BIN)/python -m bench.bench_partitions --n 1000000 --json var/bench-partitions-1e6.json

# 10^7 crossings a schema: about 25 GB under var/ and an hour or more on 2 cores
bench-partitions-10m: install
	nice -n 10 $(BIN)/python -m bench.bench_partitions --n 10000000 --json var/bench-partitions-1e7.json

# Long fuzz run (>= 10^4 cases: schemathesis over the OpenAPI schema as every role, hypothesis
# on configs, CSV and uploads); the default run keeps a few hundred of them.
.PHONY: fuzz
fuzz: install
	nice -n 10 $(BIN)/pytest -m fuzz tests/fuzz

# Soak: 6 lanes x 5 fps for 1 hour with storage faults every 3 minutes (bench/soak.py --help).
.PHONY: soak
soak: install
	nice -n 10 $(BIN)/python -m bench.soak --lanes 6 --fps 5 --minutes 60 --json var/soak-report/soak.json
