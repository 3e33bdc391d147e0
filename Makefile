# Two commands on a fresh machine: `make demo` (main job) and `make test` (full suite).
# Both create .venv when it is missing: torch==2.13.0 (CPU build) first, then the package
# with its extras under constraints.txt so nothing can pull a CUDA build of torch.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dlzoo experiment run norm-comparison

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/dlzoo bench norms

clean:
	rm -rf $(VENV) runs .pytest_cache
