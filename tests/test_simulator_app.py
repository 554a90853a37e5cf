"""The simulator app, headless (textual's run_test pilot): a held press on the handheld delivers
a dose that shows on both panels; the keys drive the faults; the layout fits 80x24 and 120x40."""

import asyncio
import os
import subprocess
import sys

import pytest

from tests.mp import MICROPYTHON
from tools.simulator.app import SimulatorApp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def _until(pilot, cond, timeout=20.0):
    waited = 0.0
    while not cond():
        if waited > timeout:
            return False
        await pilot.pause(0.1)
        waited += 0.1
    return True


def _text(app, selector):
    return str(app.query_one(selector).render())


async def _synced(app, pilot):
    assert await _until(pilot, lambda: app.world._synced), "the handheld never synced"
    await pilot.pause(0.2)  # let the layout settle on a loaded machine


def test_mouse_hold_delivers_a_dose_on_both_panels():
    interpreter = "micropython" if MICROPYTHON else "cpython"

    async def scenario():
        app = SimulatorApp(interpreter=interpreter, speed=60)
        async with app.run_test(size=(120, 40)) as pilot:
            await _synced(app, pilot)
            assert "Dose available" in _text(app, "#lcd")
            await pilot.mouse_down("#bolus")
            await pilot.pause(0.3)
            assert app.world.level and app.effective_speed() == 1  # a hold is felt in real time
            assert "Keep holding" in _text(app, "#lcd") or app.world.counts["granted"]
            await pilot.pause(1.5)
            await pilot.mouse_up("#bolus")
            assert await _until(pilot, lambda: app.world.counts["delivered"] == 1)
            assert not app.world.level
            # the handheld: its own log says delivered, its screen says so
            assert await _until(pilot, lambda: any("log DELIVERED #1" in x for x in app.lines))
            assert app.world.counts["granted"] == 1
            # the pump: the bolus is on its panel, and in the log
            pump = _text(app, "#pump")
            assert "#1" in pump
            assert any("PUMP starts bolus #1: 100 µg" in x for x in app.lines)
            await pilot.press("q")
        assert app.world.closed

    asyncio.run(scenario())


def test_space_is_a_complete_press_and_the_dose_completes():
    async def scenario():
        app = SimulatorApp(interpreter="cpython", speed=600)
        async with app.run_test(size=(80, 24)) as pilot:
            await _synced(app, pilot)
            await pilot.press("space")
            assert await _until(pilot, lambda: any("PUMP bolus #1 complete" in x for x in app.lines))
            assert "complete" in _text(app, "#pump")
            assert "doses 1" in _text(app, "#status")
            lcd = _text(app, "#lcd")
            assert "Next dose in" in lcd or "Dose given" in lcd
            # a second press inside the lockout is refused, and the handheld says why
            await pilot.press("1", "space")
            assert await _until(pilot, lambda: app.world.counts["denied"] == 1)
            assert any("log DENIED lockout" in x for x in app.lines)

    asyncio.run(scenario())


def test_fault_keys():
    async def scenario():
        app = SimulatorApp(interpreter="cpython", speed=60)
        async with app.run_test(size=(80, 24)) as pilot:
            await _synced(app, pilot)
            w = app.world
            await pilot.press("l")
            assert w.link_down and "CUT" in _text(app, "#pump")
            await pilot.press("l", "n")
            assert not w.link_down and w.loss > 0 and "noisy" in _text(app, "#pump")
            await pilot.press("n")
            assert w.loss == 0
            await pilot.press("a")
            assert await _until(pilot, lambda: "ALARM: MOTOR" in _text(app, "#lcd"))
            assert "motor_stall" in _text(app, "#pump")
            await pilot.press("a")
            assert "empty_reservoir" in _text(app, "#pump") and "motor_stall" not in _text(app, "#pump")
            await pilot.press("c")
            assert await _until(pilot, lambda: "Dose available" in _text(app, "#lcd"))
            await pilot.press("r")
            assert w.boots == 2
            assert await _until(pilot, lambda: "Dose available" in _text(app, "#lcd"))
            await pilot.press("t")
            assert w.level
            await pilot.press("t")
            assert not w.level
            await pilot.press("3")
            assert app.speed == 600
            await pilot.press("f")
            assert any("PUMP refilled" in x for x in app.lines)
            before = w.pump.pump_time
            await pilot.press("k")
            assert w.pump.pump_time - before >= 3600
            assert any("PUMP clock set +60 min" in x for x in app.lines)

    asyncio.run(scenario())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_layout_fits(size):
    async def scenario():
        app = SimulatorApp(interpreter="cpython", speed=60)
        async with app.run_test(size=size) as pilot:
            await _synced(app, pilot)
            width, height = size
            for sel in ("#handheld", "#lcd", "#light", "#buzzer", "#bolus", "#pump", "#log", "#status"):
                r = app.query_one(sel).region
                assert r.width > 0 and r.height > 0, sel
                assert r.x >= 0 and r.y >= 0 and r.right <= width and r.bottom <= height, (sel, r)
            assert app.query_one("#lcd").region.width == 20 and app.query_one("#lcd").region.height == 6
            assert app.query_one("#log").region.height >= 6
            # the whole patient screen is visible: 4 lines of 16 characters
            lines = _text(app, "#lcd").splitlines()
            assert len(lines) == 4 and all(len(x) == 16 for x in lines)
            # the pump panel shows every line at 80x24 (nothing cut off)
            assert "Rx" in _text(app, "#pump")

    asyncio.run(scenario())


def test_cli_help_and_no_terminal():
    r = subprocess.run([sys.executable, "-m", "tools.simulator", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--speed" in r.stdout
    r = subprocess.run([sys.executable, "-m", "tools.simulator"], cwd=REPO, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "needs a terminal" in r.stderr and "Traceback" not in r.stderr


def test_every_key_is_in_the_help_and_the_readme():
    # issue 14: `k` was missing from --help and `v` from the README's key table
    import re

    from tests.mp import REPO

    keys = [b.key for b in SimulatorApp.BINDINGS]
    assert "k" in keys and "v" in keys
    help_text = subprocess.run([sys.executable, "-m", "tools.simulator", "--help"], capture_output=True, text=True,
                               cwd=REPO, timeout=60).stdout  # fmt: skip
    epilog = " ".join(help_text.split()).split("Keys:")[1]
    with open(os.path.join(REPO, "README.md")) as f:
        table = [line for line in f.read().split("`make sim` opens")[1].split("`make test` runs")[0].splitlines() if line.startswith("|")]
    for key in keys:
        assert key in re.split(r"[\s/();,]+", epilog), key
        assert any("`%s`" % key in row.split("|")[1] for row in table), key
