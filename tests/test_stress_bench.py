"""The benchmark command runs (quick mode) and prints its table; its pieces hold together
(the day scenario parses, the latency figures are ordered as they must be)."""

import subprocess
import sys

import pytest

from tests.mp import REPO
from tools.bench import heap, latency
from tools.scenario.parse import parse


@pytest.mark.micropython
def test_bench_quick_prints_the_table():
    out = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--quick", "--only", "latency,size", "--presses", "3"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert text.splitlines()[0].split()[:3] == ["benchmark", "figure", "notes"]
    for row in ("press-to-wire", "round trip", "wire time of the", "rpi_pico:", "a step while idle: app.poll() + next_deadline"):
        assert row in text, row
    assert "n/a" not in text


@pytest.mark.micropython
def test_latency_figures_are_ordered():
    r = latency.measure(4)
    assert r["presses"] == 4 and r["failed"] == 0
    for q, w, wire, rtt in zip(r["queued"], r["write"], r["wire"], r["rtt"]):
        # the frame is written inside the poll that saw the hold complete, before it ends
        # (and the pump may read it before the firmware's write call has returned)
        assert 0 < w <= q <= rtt < 2000000 and wire <= rtt
    assert latency.wire_floor_us(r["bytes"]) == pytest.approx(r["bytes"] * 10 / 115200 * 1e6)


def test_the_day_of_use_is_a_valid_scenario():
    sc = parse(heap.day_text(2))
    assert sc.end_ms == 2 * 86400000
    assert sum(1 for e in sc.events if e.command == "press") >= 20
    assert [e.t_ms for e in sc.events] == sorted(e.t_ms for e in sc.events)


def test_bench_refuses_an_unknown_section():
    out = subprocess.run([sys.executable, "-m", "tools.bench", "--only", "nope"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.startswith("bench: ") and "Traceback" not in out.stderr
