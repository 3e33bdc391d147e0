"""Every shell command in the ```bash / ```sh blocks of README.md and docs/**/*.md works as written.

Commands are split as bash would (``shlex``: quotes, ``#`` comments, ``;`` / ``&&`` separators, ``\\``
continuations). Each block must also be copy-paste safe: no unquoted glob characters (``seeds=[0,1]`` would be
expanded by zsh or a matching file), no pipes or ``a|b`` alternatives, no redirections.

How each command is checked (one rule per program; a command no rule knows fails the test, so a new kind of
command needs a rule here):

* ``dlzoo ...`` runs for real, except the ones that train or time for minutes (``dlzoo train``,
  ``dlzoo experiment run``, ``dlzoo bench SUITE``), which run with ``--dry-run`` appended (config, data and
  model checked, plan printed, nothing written). A run directory that a command reads (``--resume DIR``,
  ``dlzoo analyze DIR``) is first made by a real one-epoch ``configs/mlp_digits.yaml`` run. Commands run in a
  fresh temporary directory per document (``configs/`` linked into it), in document order, all of them in
  one interpreter started for the purpose (one ``import dlzoo``, and no trainer state left in pytest's).
* ``make TARGET`` must be a target (``make -n``); the long ``dlzoo`` commands its recipe would run are run
  with ``--dry-run`` (``make demo`` -> ``dlzoo experiment run norm-comparison --dry-run``); its other lines
  (``dlzoo catalog``, ``mkdocs build``, ``pytest``) are not run here (tests/test_docs.py builds the docs).
* ``pip install -e .`` / ``pip install -e '.[EXTRA]'``: pyproject.toml exists and declares the extra.
* ``python examples/NAME.py``: the script exists and tests/test_examples.py runs it.
* ``dlzoo catalog --check`` is run by tests/test_catalog.py (a fresh interpreter, ~7 s): checked to be there.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LONG = {("train",), ("experiment", "run"), ("bench",)}  # dlzoo subcommands run with --dry-run
ELSEWHERE = {("dlzoo", "catalog", "--check"): ("tests/test_catalog.py", '"catalog", "--check"')}
FENCE = re.compile(r"^```(?:bash|sh|shell|console)\s*$")


@dataclass
class Command:
    doc: str  # path relative to the repository
    line: int  # 1-based line of the command in the document
    text: str  # the source line(s), continuation joined
    argv: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {' '.join(self.argv)}"


def shell_lines(markdown: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of each command line in the bash/sh fences of ``markdown`` (continuations
    joined, blank lines dropped)."""
    out: list[tuple[int, str]] = []
    inside, pending, start = False, "", 0
    for number, line in enumerate(markdown.splitlines(), 1):
        stripped = line.strip()
        if not inside:
            inside = bool(FENCE.match(stripped))
            continue
        if stripped.startswith("```"):
            inside = False
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        text, pending = pending + stripped, ""
        if text and not text.startswith("#"):
            out.append((start, text))
    return out


def unsafe(text: str) -> list[str]:
    """Characters of a command line that bash/zsh would treat specially outside quotes (glob, pipe,
    redirection, background), each as ``'c' at column n``; comments are ignored."""
    problems, quote = [], None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] == " "):
            break
        elif ch in "[]*?{}|<>" or (ch == "&" and text[i : i + 2] != "&&" and text[i - 1 : i + 1] != "&&"):
            problems.append(f"{ch!r} at column {i + 1}")
    return problems


def split_commands(text: str) -> list[list[str]]:
    """The commands of one line as argv lists, split at ``;`` and ``&&`` (bash's quoting and comments)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands, current = [], []
    for token in lexer:
        if token in (";", "&&"):
            commands.append(current)
            current = []
        else:
            current.append(token)
    commands.append(current)
    return [c for c in commands if c]


def collect() -> list[Command]:
    commands = []
    for path in DOCS:
        doc = path.relative_to(ROOT).as_posix()
        for line, text in shell_lines(path.read_text(encoding="utf-8")):
            for argv in split_commands(text):
                commands.append(Command(doc, line, text, argv))
    return commands


COMMANDS = collect()


# --- the rules -----------------------------------------------------------------------------------------


def dlzoo_argv(argv: list[str]) -> list[str]:
    """The arguments ``dlzoo.cli.main`` gets for a documented ``dlzoo`` command (long ones: ``--dry-run``)."""
    args = argv[1:]
    if any(tuple(args[: len(k)]) == k for k in LONG) and "--dry-run" not in args and "--help" not in args:
        args = [*args, "--dry-run"]
    return args


def run_dirs_read(args: list[str]) -> list[str]:
    """Run directories a command reads: ``train --resume DIR``, ``analyze DIR``, ``compare DIR...``."""
    if args[:1] == ["train"] and "--resume" in args:
        return [args[args.index("--resume") + 1]]
    if args[:1] == ["analyze"]:
        return [a for a in args[1:2] if not a.startswith("-")]
    if args[:1] == ["compare"]:
        dirs = args[1 : args.index("--out")] if "--out" in args else args[1:]
        return [a for a in dirs if not a.startswith("-")]
    return []


def make_dlzoo_lines(target: str) -> list[list[str]]:
    """``make -n TARGET`` must succeed; the long ``dlzoo`` commands its recipe would run, as argv lists."""
    run = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"make {target}: {run.stderr.strip()}"
    out = []
    for line in run.stdout.splitlines():
        for argv in split_commands(line):
            words = [w for w in argv if "=" not in w or w.startswith("-")]  # drop VAR=value prefixes
            if words and Path(words[0]).name == "dlzoo":
                args = argv[argv.index(words[0]) + 1 :]
                if any(tuple(args[: len(k)]) == k for k in LONG):  # others (dlzoo catalog) would write files
                    out.append(["dlzoo", *args])
    return out


def check_pip(argv: list[str]) -> None:
    assert argv[1:3] == ["install", "-e"], f"only `pip install -e TARGET` is documented: {argv}"
    target = argv[3]
    match = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", target)
    assert match, f"pip target {target!r} is not the repository ('.' or '.[extra]')"
    # the keys of pyproject's [project.optional-dependencies] table (tomllib is not in Python 3.10)
    table = (
        (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]", 1)[1].split("\n[")[0]
    )
    extras = set(re.findall(r"^([A-Za-z][\w-]*)\s*=", table, re.MULTILINE))
    for extra in match[1].split(",") if match[1] else []:
        assert extra in extras, f"pyproject.toml has no extra {extra!r} (it has {sorted(extras)})"


def check_example(argv: list[str]) -> None:
    script = ROOT / argv[1]
    assert script.parent == ROOT / "examples" and script.is_file(), f"{argv[1]} is not a file in examples/"
    tested = (ROOT / "tests" / "test_examples.py").read_text()
    assert f'"{script.stem}"' in tested, f"tests/test_examples.py does not run {script.name}"


def check_elsewhere(argv: list[str]) -> None:
    test_file, needle = ELSEWHERE[tuple(argv)]
    assert needle in (ROOT / test_file).read_text(), f"{test_file} no longer runs {' '.join(argv)}"


# --- running the dlzoo commands --------------------------------------------------------------------------

RUNNER = r"""
import contextlib, io, json, os, shutil, sys, time
from pathlib import Path
from dlzoo.cli import main

jobs = json.load(sys.stdin)
made = {}   # the one real mlp run, copied where a command reads a run directory
results = []
for job in jobs:
    os.chdir(job["cwd"])
    for run_dir in job["reads"]:
        if Path(run_dir).exists():
            continue
        if "mlp" not in made:
            made["mlp"] = os.path.join(job["scratch"], "mlp-run")
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main(["train", "configs/mlp_digits.yaml", "--run-dir", made["mlp"], "train.epochs=1",
                           "--quiet"])
            assert rc == 0, err.getvalue()
        shutil.copytree(made["mlp"], run_dir)
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(job["args"])
    except BaseException as exc:  # reported, so one broken command does not hide the others
        rc, err = -1, io.StringIO(f"{type(exc).__name__}: {exc}")
    results.append({"rc": rc, "stdout": out.getvalue()[-2000:], "stderr": err.getvalue()[-2000:],
                    "seconds": time.perf_counter() - start})
for job, result in sorted(zip(jobs, results), key=lambda jr: -jr[1]["seconds"])[:12]:
    print(f"{result['seconds']:6.2f} s  dlzoo {' '.join(job['args'])}", file=sys.stderr)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def dlzoo_results(tmp_path_factory) -> dict[int, list[dict]]:
    """Run every ``dlzoo`` command (direct or from a make recipe) in one interpreter; results by index in
    :data:`COMMANDS` (a make target may yield several). A command documented twice (README and a docs page)
    runs once: the only state a command sees is the run directory made the same way for every document, and
    the only commands that run for real (no ``--dry-run``) read it and write below it."""
    scratch = tmp_path_factory.mktemp("readme")
    cwds: dict[str, Path] = {}
    jobs: list[dict] = []
    owners: list[list[int]] = []  # the COMMANDS indices each job answers for
    seen: dict[str, int] = {}
    for index, cmd in enumerate(COMMANDS):
        if cmd.argv[0] == "dlzoo" and tuple(cmd.argv) not in ELSEWHERE:
            lines = [cmd.argv]
        elif cmd.argv[0] == "make":
            lines = [a for target in cmd.argv[1:] for a in make_dlzoo_lines(target)]
        else:
            continue
        if cmd.doc not in cwds:
            cwds[cmd.doc] = scratch / re.sub(r"\W", "_", cmd.doc)
            cwds[cmd.doc].mkdir()
            (cwds[cmd.doc] / "configs").symlink_to(ROOT / "configs")
        for argv in lines:
            args = dlzoo_argv(argv)
            key = json.dumps(args)
            if key in seen:
                owners[seen[key]].append(index)
                continue
            seen[key] = len(jobs)
            jobs.append(
                {
                    "cwd": str(cwds[cmd.doc]),
                    "args": args,
                    "reads": run_dirs_read(args),
                    "scratch": str(scratch),
                }
            )
            owners.append([index])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    run = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(jobs),
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-5000:]
    print(run.stderr[-3000:])
    results: dict[int, list[dict]] = {}
    for indices, job, result in zip(owners, jobs, json.loads(run.stdout.splitlines()[-1])):
        for index in indices:
            results.setdefault(index, []).append({**result, "args": job["args"]})
    return results


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=[str(c) for c in COMMANDS])
def test_documented_command_works(index, dlzoo_results):
    cmd = COMMANDS[index]
    program = cmd.argv[0]
    if tuple(cmd.argv) in ELSEWHERE:
        check_elsewhere(cmd.argv)
    elif program in ("dlzoo", "make"):
        for result in dlzoo_results.get(index, []):
            assert result["rc"] == 0, f"{cmd}: dlzoo {' '.join(result['args'])} -> exit {result['rc']}\n" + (
                result["stderr"] or result["stdout"]
            )
        if program == "make" and cmd.argv[1:] == ["demo"]:
            assert dlzoo_results.get(index), "make demo runs no dlzoo command"
    elif program == "pip":
        check_pip(cmd.argv)
    elif program == "python":
        check_example(cmd.argv)
    else:
        pytest.fail(f"{cmd}: no rule for {program!r} commands in tests/test_readme_commands.py")


def test_documented_commands_are_copy_paste_safe():
    bad = [f"{c.doc}:{c.line}: {', '.join(unsafe(c.text))}: {c.text}" for c in COMMANDS if unsafe(c.text)]
    assert not bad, "quote these for the shell:\n" + "\n".join(dict.fromkeys(bad))


def test_the_readme_and_the_docs_have_commands():
    docs = {c.doc for c in COMMANDS}
    assert {"README.md", "docs/getting-started.md"} <= docs
    # the long commands really are among them (so the dry-run rule is exercised)
    assert any(c.argv[:2] == ["dlzoo", "train"] for c in COMMANDS)
    assert any(c.argv[:3] == ["dlzoo", "experiment", "run"] for c in COMMANDS)


def test_parsing_follows_bash():
    md = "text\n```bash\ndlzoo a 'x y' # note\n\ndlzoo b \\\n  c; dlzoo d && dlzoo e\n```\n"
    md += "```python\nno\n```\n"
    lines = shell_lines(md)
    assert lines == [(3, "dlzoo a 'x y' # note"), (5, "dlzoo b c; dlzoo d && dlzoo e")]
    assert split_commands(lines[0][1]) == [["dlzoo", "a", "x y"]]
    assert split_commands(lines[1][1]) == [["dlzoo", "b", "c"], ["dlzoo", "d"], ["dlzoo", "e"]]
    assert unsafe("dlzoo run x seeds=[0] # [fine in a comment]") == ["'[' at column 19", "']' at column 21"]
    assert unsafe("dlzoo run x 'seeds=[0]' \"a|b\" && dlzoo models 'vit*'") == []
    assert unsafe("dlzoo bench norms|models") == ["'|' at column 18"]
    assert dlzoo_argv(["dlzoo", "experiment", "run", "x"]) == ["experiment", "run", "x", "--dry-run"]
    assert dlzoo_argv(["dlzoo", "experiment", "list"]) == ["experiment", "list"]
    assert run_dirs_read(["train", "--resume", "runs/a", "train.epochs=3", "--dry-run"]) == ["runs/a"]
