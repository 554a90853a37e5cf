"""The scenario files in tests/scenarios/ run through the real firmware (lockstep board) and the
pump emulator, and come out as their NAME.expect.json says (tools/scenario/expect.py), on CPython
and, where the expected outcome asks for it, on the MicroPython unix port."""

import glob
import json
import os
import subprocess
import sys

import pytest

from tests.mp import MICROPYTHON
from tools.scenario import expect
from tools.scenario.parse import ScenarioError, parse
from tools.scenario.run import run

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SCENARIOS = os.path.join(HERE, "scenarios")


def _cases():
    cases = []
    for path in sorted(glob.glob(os.path.join(SCENARIOS, "*.scn"))):
        name = os.path.basename(path)[:-4]
        exp = expect.load(os.path.join(SCENARIOS, name + ".expect.json"))
        if exp.get("error"):
            continue
        for interp in exp.get("interpreters", ["cpython"]):
            for seed in exp.get("seeds", [1]):
                marks = [pytest.mark.micropython] if interp == "micropython" else []
                cases.append(pytest.param(name, interp, seed, marks=marks, id="%s-%s-seed%d" % (name, interp, seed)))
    return cases


def _errors():
    out = []
    for path in sorted(glob.glob(os.path.join(SCENARIOS, "*.scn"))):
        name = os.path.basename(path)[:-4]
        if expect.load(os.path.join(SCENARIOS, name + ".expect.json")).get("error"):
            out.append(name)
    return out


def _run(name, interpreter="cpython", seed=1):
    with open(os.path.join(SCENARIOS, name + ".scn")) as f:
        scenario = parse(f.read())
    events = []
    run(scenario, seed=seed, interpreter=interpreter, emit=events.append)
    return scenario, events


def test_every_scenario_has_an_expected_outcome():
    for path in glob.glob(os.path.join(SCENARIOS, "*.scn")):
        assert os.path.exists(path[:-4] + ".expect.json"), path


@pytest.mark.parametrize("name,interpreter,seed", _cases())
def test_scenario_outcome(name, interpreter, seed):
    if interpreter == "micropython" and MICROPYTHON is None:
        pytest.skip("the MicroPython unix port is not installed")
    exp = expect.load(os.path.join(SCENARIOS, name + ".expect.json"))
    scenario, events = _run(name, interpreter, seed)
    problems = expect.check(exp, events, scenario.rx)
    assert not problems, "\n".join(problems)
    assert events[-1]["event"] == "summary"
    # every event carries its time, in order
    times = [e["t"] for e in events]
    assert times == sorted(times)


@pytest.mark.parametrize("name", _errors())
def test_refused_scenario_names_its_line(name):
    exp = expect.load(os.path.join(SCENARIOS, name + ".expect.json"))
    with open(os.path.join(SCENARIOS, name + ".scn")) as f:
        text = f.read()
    with pytest.raises(ScenarioError) as info:
        parse(text)
    assert not expect.check_error(exp, info.value)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tools.scenario"] + list(args), cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_cli_refuses_a_bad_scenario_in_one_sentence():
    path = os.path.join(SCENARIOS, "error_unknown_rx_key.scn")
    r = _cli(path)
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1
    assert "error_unknown_rx_key.scn:2: unknown prescription key lockout" in r.stderr


def test_cli_writes_json_lines_and_checks(tmp_path):
    out = tmp_path / "out.jsonl"
    scn = os.path.join(SCENARIOS, "basic_lockout.scn")
    r = _cli(scn, "--out", str(out), "--seed", "3", "--check", scn[:-4] + ".expect.json", "--stats")
    assert r.returncode == 0, r.stderr
    assert "sim-days per wall second" in r.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert events[-1]["event"] == "summary" and events[-1]["granted"] == 3
    assert all("event" in e for e in events)
    assert [e["result"] for e in events if e["event"] == "request"] == ["granted", "denied", "denied", "granted", "granted"]


def test_cli_check_reports_a_mismatch(tmp_path):
    bad = tmp_path / "bad.expect.json"
    bad.write_text(json.dumps({"summary": {"granted": 99}}))
    r = _cli(os.path.join(SCENARIOS, "alarm.scn"), "--check", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 1
    assert "not as expected: summary" in r.stderr


def test_cli_missing_file():
    r = _cli("/nonexistent/x.scn")
    assert r.returncode == 2 and "cannot read" in r.stderr and "Traceback" not in r.stderr


def test_same_seed_same_events():
    _, a = _run("link_down")
    _, b = _run("link_down")
    assert a == b


@pytest.mark.micropython
def test_micropython_and_cpython_agree():
    """The same firmware on both interpreters, given the same inputs, does the same things."""
    if MICROPYTHON is None:
        pytest.skip("the MicroPython unix port is not installed")
    _, a = _run("reboot_lockout", "cpython")
    _, b = _run("reboot_lockout", "micropython")
    assert a == b


def test_log_out_feeds_the_clinic_report(tmp_path):
    """A simulated day's handheld log, saved by the runner, is what the clinician tool reads."""
    from tools.clinician import logfile

    log = tmp_path / "day.log"
    scenario = parse(open(os.path.join(HERE, "scenarios", "basic_lockout.scn")).read())
    summary = run(scenario, seed=1, log_out=str(log))
    r = subprocess.run(
        [sys.executable, "-m", "tools.clinician", "report", str(log), "--out", str(tmp_path / "report")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "given %d" % summary["granted"] in r.stdout
    assert (tmp_path / "report" / "index.html").exists()
    assert logfile.read(str(log))


def test_a_handheld_fault_fails_a_check_that_did_not_ask_for_it():
    """The superloop survives a firmware exception (logged, shown, booted again), so a
    scenario run goes on: its check must still fail."""
    events = [{"event": "fault", "fault": "handheld_fault", "detail": 3}, {"event": "summary"}]
    problems = expect.check({"summary": {}}, events)
    assert problems and "handheld_fault" in problems[0]
    assert expect.check({"events": [{"event": "fault", "fault": "handheld_fault"}]}, events) == []
