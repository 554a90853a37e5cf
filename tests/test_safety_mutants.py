"""The safety case proves itself (tools/safety_mutants): every row of docs/safety.md that names
tests has mutants in the catalogue, every mutant still applies to the sources exactly once,
every test a row names exists, and the quick mutants are all killed by their row's tests."""

import subprocess
import sys

import pytest

from tests.mp import REPO
from tools.safety_mutants import catalogue, doc, runner


def rows():
    return runner.read_doc(REPO)


def test_a_row_names_its_tests_with_bare_names_meaning_the_same_file():
    cell = "`a.py::t1`, `::t2`, `b_c.py::t3`, the hypothesis machine in `b_c.py`, `::t1`, `a.py::t1`"
    assert doc.node_ids(cell) == ["tests/a.py::t1", "tests/a.py::t2", "tests/b_c.py::t3", "tests/b_c.py::t1"]
    text = "## S\n\n| # | hazard | mitigation | tests |\n|---|---|---|---|\n| K1 | h | m | `a.py::t` |\n| K2 | h2 | m2 | (none: residual) |\n"
    (k1, k2) = doc.rows(text)
    assert (k1.key, k1.section, k1.hazard, k1.tests, k1.line, k1.residual) == ("K1", "S", "h", ["tests/a.py::t"], 5, False)
    assert (k2.key, k2.tests, k2.residual) == ("K2", [], True)


def test_every_row_with_tests_has_a_key_and_mutants_and_the_residual_ones_are_skipped_by_name():
    keys = set()
    for row in rows():
        if row.residual:
            assert row.key in catalogue.SKIPPED, row.hazard
            continue
        assert row.key, "docs/safety.md line %d names tests but has no key" % row.line
        assert row.tests, row.key
        assert catalogue.for_row(row.key), "row %s has no mutant in tools/safety_mutants/catalogue.py" % row.key
        keys.add(row.key)
    assert len(keys) >= 33
    assert {m.row for m in catalogue.MUTANTS} <= keys  # no mutant for a row that has gone


def test_every_mutant_applies_exactly_once_to_the_current_sources():
    problems = [runner.apply_problem(REPO, m) for m in catalogue.MUTANTS]
    assert [p for p in problems if p] == []
    assert all(m.old != m.new for m in catalogue.MUTANTS)
    names = [m.name for m in catalogue.MUTANTS]
    assert len(set(names)) == len(names)


def test_every_test_the_safety_case_names_exists():
    missing = [node for row in rows() for node in row.tests if not runner.test_exists(REPO, node)]
    assert missing == []


def test_the_whole_check_finds_nothing_wrong():
    assert runner.check(REPO) == []


def test_a_mutant_that_no_longer_applies_is_an_error(tmp_path):
    gone = catalogue.Mutant("gone", "1", "firmware/policy.py", "no such code", "x", "a test of the check")
    assert "0 times" in runner.apply_problem(REPO, gone)
    twice = catalogue.Mutant("twice", "1", "firmware/policy.py", "return", "x", "a test of the check")
    assert "not exactly once" in runner.apply_problem(REPO, twice)


@pytest.mark.slow
def test_the_quick_mutants_are_all_killed():
    quick = [m for m in catalogue.MUTANTS if m.quick]
    assert 5 <= len(quick) <= 12
    out = subprocess.run(
        [sys.executable, "-m", "tools.safety_mutants", "--quick", "--jobs", "2", "--no-baseline"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "%d of %d killed (0 survived, 0 errors)" % (len(quick), len(quick)) in out.stdout
