# Two commands on a fresh machine: `make demo` (main job) and `make test` (full suite).
# Both create .venv when it is missing: torch==2.13.0 (CPU build) first, then the package
# with its extras under constraints.txt so nothing can pull a CUDA build of torch.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean docker docs

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

# The documentation site (mkdocs.yml), offline, into site/: the generated catalog first, then a strict build
# (a broken link, a missing page or a module mkdocstrings cannot load fails it).
docs: $(STAMP)
	$(BIN)/dlzoo catalog
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# Image with the install recipe above and `make demo` as its command (no engine needed to read it):
#   make docker                                         CPU (Dockerfile, torch from PyTorch's CPU index)
#   make docker DOCKERFILE=Dockerfile.cuda TAG=dlzoo:cuda   CUDA base, same entry points
DOCKER     ?= docker
DOCKERFILE ?= Dockerfile
TAG        ?= dlzoo:cpu
docker:
	$(DOCKER) build -f $(DOCKERFILE) -t $(TAG) .

clean:
	rm -rf $(VENV) runs .pytest_cache
