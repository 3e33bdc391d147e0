# dlzoo on CPU: the Makefile's install recipe ($(STAMP)) in an image; `make demo` is the default command.
#   docker build -t dlzoo:cpu .          (or: make docker)
#   docker run --rm -v "$PWD/runs:/opt/dlzoo/runs" dlzoo:cpu                 # make demo
#   docker run --rm dlzoo:cpu make test | dlzoo models | dlzoo train configs/mlp_digits.yaml
# tests/test_docker.py checks that the install steps below are the Makefile's, in the same order.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 dlzoo \
    && mkdir -p /opt/dlzoo \
    && chown dlzoo:dlzoo /opt/dlzoo

USER 1000:1000
WORKDIR /opt/dlzoo

# the files the install reads first, so the dependency layer survives code edits to tests and configs
COPY --chown=1000:1000 pyproject.toml constraints.txt README.md Makefile ./
COPY --chown=1000:1000 src ./src

# = the Makefile's $(STAMP) recipe; torch comes from PyTorch's CPU index (PyPI's Linux wheel is the CUDA one)
RUN python3 -m venv .venv \
    && .venv/bin/python -m pip install -q --upgrade pip \
    && .venv/bin/python -m pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]' \
    && touch .venv/.installed

COPY --chown=1000:1000 . .
# the stamp stays newer than pyproject.toml/constraints.txt, so `make demo` never reinstalls
RUN touch .venv/.installed

ENV PATH=/opt/dlzoo/.venv/bin:$PATH
CMD ["make", "demo"]
