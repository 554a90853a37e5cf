"""Apply one mutant to a fresh copy of the sources and run the tests of its row there.

`copy_sources(repo, dest)` copies what the tests need; `check(repo)` lists what is wrong with
the catalogue against docs/safety.md and the sources (nothing runs); `run(mutant, tests, ...)`
returns a Result: killed (a named test failed), survived (they all passed) or error.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from tools.safety_mutants import catalogue, doc

SOURCES = ("firmware", "hal", "boards", "tools", "tests", "docs", "pyproject.toml", "conftest.py")
HYPOTHESIS_SEED = "0"  # the property tests draw the same examples on every run: reproducible
KILLED = "killed"
SURVIVED = "survived"
ERROR = "error"
_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)
# Compiled files are copied with their sources (mtimes kept): an unchanged module imports
# without compiling, and the mutated file's own .pyc no longer matches it, so it is compiled.
_IGNORE = shutil.ignore_patterns(".hypothesis", ".pytest_cache")


def repo_root():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.dirname(os.path.dirname(here))


def read_doc(repo):
    with open(os.path.join(repo, "docs", "safety.md")) as f:
        return doc.rows(f.read())


def copy_sources(repo, dest):
    for name in SOURCES:
        src = os.path.join(repo, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(dest, name), ignore=_IGNORE)
        elif os.path.exists(src):
            shutil.copy2(src, os.path.join(dest, name))


def occurrences(repo, mutant):
    """How many times the mutant's old string is in its file (-1: no such file)."""
    path = os.path.join(repo, mutant.path)
    if not os.path.exists(path):
        return -1
    with open(path) as f:
        return f.read().count(mutant.old)


def apply_problem(repo, mutant):
    """None when the mutant applies exactly once to the sources in `repo`, else a sentence."""
    n = occurrences(repo, mutant)
    if n == -1:
        return "%s: no file %s" % (mutant.name, mutant.path)
    if n != 1:
        return "%s: its old string is in %s %d times, not exactly once" % (mutant.name, mutant.path, n)
    return None


def apply(repo, mutant):
    path = os.path.join(repo, mutant.path)
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace(mutant.old, mutant.new, 1))


def test_exists(repo, node):
    """Does the test a node id names exist (`def name` in its file)?"""
    path, _, name = node.partition("::")
    full = os.path.join(repo, path)
    if not os.path.exists(full):
        return False
    with open(full) as f:
        return re.search(r"^\s*def %s\b" % re.escape(name), f.read(), re.M) is not None


def check(repo, rows=None):
    """Everything that keeps the catalogue and docs/safety.md from being one safety case: rows
    with tests but no key or no mutant, keys the document no longer has, tests the document
    names that do not exist, mutants that do not apply exactly once. A list of sentences."""
    if rows is None:
        rows = read_doc(repo)
    problems = []
    keys = {}
    for row in rows:
        if row.key in keys:
            problems.append("docs/safety.md line %d: key %r is used twice" % (row.line, row.key))
        keys[row.key] = row
        if row.residual:
            if row.key not in catalogue.SKIPPED:
                problems.append("docs/safety.md row %s names no test; catalogue.SKIPPED must say why" % row.key)
            continue
        if not row.key:
            problems.append("docs/safety.md line %d names tests but has no key (#)" % row.line)
            continue
        if not catalogue.for_row(row.key):
            problems.append("row %s (%s) has no mutant in the catalogue" % (row.key, row.hazard[:60]))
        for node in row.tests:
            if not test_exists(repo, node):
                problems.append("row %s names %s, which does not exist" % (row.key, node))
    for m in catalogue.MUTANTS:
        if m.row not in keys:
            problems.append("mutant %s is for row %s, which docs/safety.md does not have" % (m.name, m.row))
        p = apply_problem(repo, m)
        if p:
            problems.append(p)
    names = [m.name for m in catalogue.MUTANTS]
    for name in set(names):
        if names.count(name) > 1:
            problems.append("mutant name %s is used twice" % name)
    return problems


class Result:
    """What one run gave: `status` (KILLED, SURVIVED, ERROR), `by` (the first failing test),
    `seconds`, `detail` (a sentence for errors)."""

    def __init__(self, mutant, status, seconds, by=None, detail=None, output=""):
        self.mutant = mutant
        self.status = status
        self.seconds = seconds
        self.by = by
        self.detail = detail
        self.output = output


def pytest_command(tests):
    return [
        sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
        "--hypothesis-seed=" + HYPOTHESIS_SEED,
    ] + list(tests)  # fmt: skip


def run(repo, mutant, tests, timeout_s=900):
    """Copy the sources, apply `mutant` (None: the sources as they are), run `tests`."""
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="safety-mutant-")
    try:
        copy_sources(repo, tmp)
        if mutant is not None:
            problem = apply_problem(tmp, mutant)
            if problem:
                return Result(mutant, ERROR, time.monotonic() - started, detail=problem)
            apply(tmp, mutant)
        env = dict(os.environ)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTEST_ADDOPTS", None)
        try:
            proc = subprocess.run(
                pytest_command(tests), cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            return Result(mutant, KILLED, time.monotonic() - started, by="(timeout after %d s)" % timeout_s)
        out = proc.stdout + proc.stderr
        seconds = time.monotonic() - started
        if proc.returncode == 0:
            return Result(mutant, SURVIVED, seconds, output=out)
        failed = _FAILED.findall(out)
        if proc.returncode == 1 and failed:
            return Result(mutant, KILLED, seconds, by=failed[0], output=out)
        tail = [ln for ln in out.strip().split("\n") if ln.strip()][-3:]
        return Result(
            mutant,
            ERROR,
            seconds,
            detail="pytest exited %d (not a test failure): %s" % (proc.returncode, " | ".join(tail)),
            output=out,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
