# Two commands on a fresh machine: `make run` (install, index content/, serve) and `make test`.
# Both are idempotent: the virtual environment is only rebuilt when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev index lint check bench clean

# pip says what it is doing (a first install downloads hundreds of MB: minutes, not a hang), with
# its progress bars on a terminal; where CI is set (GitHub Actions and GitLab set it) the bars,
# which a log file turns into pages of redraws, are off and the one-line steps remain.
PIP := $(BIN)/python -m pip install --disable-pip-version-check $(if $(CI),--progress-bar off,)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --quiet --upgrade pip

# CPU torch first: installed after sentence-transformers, pip would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "== installing PyTorch (CPU build), then Fieldguide and its dependencies into $(VENV)"
	$(PIP) torch==2.13.0
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	@echo "== installing the development tools (pytest, ruff, mypy...) into $(VENV)"
	$(PIP) -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

index: install
	$(BIN)/fieldguide index

run: index
	$(BIN)/fieldguide serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/fieldguide lint

check: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

test: check
	$(BIN)/python -m pytest

bench: install-dev
	$(PIP) -e '.[bench]'
	$(BIN)/python bench/quality.py

clean:
	rm -rf $(VENV) var .bench
