"""The simulator app, headless (textual's run_test pilot): a held press on the handheld delivers
a dose that shows on both panels; the keys drive the faults; the layout fits 80x24 and 120x40."""

import asyncio
import os
import subprocess
import sys

import pytest

from tests.mp import MICROPYTHON
from tools.scenario.world import World
from tools.simulator import keys, text
from tools.simulator.app import DEFAULT_PUMP, DEFAULT_RX, KeysScreen, SimulatorApp

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


def _run(body, interpreter="cpython", speed=60, size=(80, 24)):
    """Run the app headless at `size`, wait until the handheld synced, then `await body(app, pilot)`."""

    async def scenario():
        app = SimulatorApp(interpreter=interpreter, speed=speed)
        async with app.run_test(size=size) as pilot:
            await _synced(app, pilot)
            await body(app, pilot)
        return app

    return asyncio.run(scenario())


async def _synced(app, pilot):
    assert await _until(pilot, lambda: app.world._synced), "the handheld never synced"
    await pilot.pause(0.2)  # let the layout settle on a loaded machine


def test_mouse_hold_delivers_a_dose_on_both_panels():
    interpreter = "micropython" if MICROPYTHON else "cpython"

    async def body(app, pilot):
        assert "Dose available" in _text(app, "#lcd")
        await pilot.mouse_down("#bolus")
        assert await _until(pilot, lambda: "Keep holding" in _text(app, "#lcd"))
        assert app.world.level and app.effective_speed() == 1  # a hold is felt in real time
        await pilot.pause(1.5)
        await pilot.mouse_up("#bolus")
        assert await _until(pilot, lambda: app.world.counts["delivered"] == 1)
        assert not app.world.level
        # the handheld's log: the pump accepted it (its DELIVERED record) and is delivering it
        assert await _until(pilot, lambda: any("log DELIVERED #1 100 µg: accepted, delivering until" in x for x in app.lines))
        assert app.world.counts["granted"] == 1
        # the pump: the bolus is on its panel, and in the log
        pump = _text(app, "#pump")
        assert "#1" in pump
        assert any("PUMP starts bolus #1: 100 µg, until" in x for x in app.lines)
        await pilot.press("q")

    app = _run(body, interpreter=interpreter, size=(120, 40))
    assert app.world.closed


def test_space_is_a_complete_press_and_the_dose_completes():
    async def body(app, pilot):
        await pilot.press("space")
        assert await _until(pilot, lambda: any("PUMP bolus #1 delivered: 100 µg" in x for x in app.lines))
        await pilot.press("1")  # real time: the rest of the 10 min lockout outlasts the checks
        assert await _until(pilot, lambda: "complete" in _text(app, "#pump"))
        assert "doses 1  refused 0" in _text(app, "#status")
        assert await _until(pilot, lambda: "Next dose in" in _text(app, "#lcd"))
        # a second press inside the lockout is refused, and the handheld says why
        await pilot.press("space")
        assert await _until(pilot, lambda: app.world.counts["denied"] == 1)
        assert any("log DENIED lockout" in x for x in app.lines)

    _run(body)  # x60: the bolus takes a second, the lockout ten


def test_fault_keys():
    async def body(app, pilot):
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

    _run(body)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_layout_fits(size):
    async def body(app, pilot):
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
        # the pump panel shows every line at 80x24 (nothing cut off), also with two boluses listed
        await pilot.press("3", "space")
        assert await _until(pilot, lambda: app.world.counts["delivered"] == 1)
        assert await _until(pilot, lambda: "Dose available" in _text(app, "#lcd"))  # the lockout, at x600
        await pilot.press("space")
        assert await _until(pilot, lambda: app.world.counts["delivered"] == 2)
        await pilot.pause(0.3)
        panel = _text(app, "#pump").rstrip("\n").splitlines()
        assert panel[-1].startswith("Rx ") and len(panel) <= app.query_one("#pump").region.height - 2, panel

    _run(body, size=size)


def test_cli_help_and_no_terminal():
    r = subprocess.run([sys.executable, "-m", "tools.simulator", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--speed" in r.stdout
    r = subprocess.run([sys.executable, "-m", "tools.simulator"], cwd=REPO, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "needs a terminal" in r.stderr and "Traceback" not in r.stderr


def test_every_key_is_in_the_help_the_key_list_and_the_readme():
    # issue 14: `k` was missing from --help and `v` from the README; now one table (keys.KEYS)
    # makes the bindings, the key bar, the `?` list and --help, and the README holds its table
    bound = sorted(b.key for b in SimulatorApp.BINDINGS)
    assert bound == sorted(key for k in keys.KEYS for key, _ in k.binds)
    assert {"k", "v", "question_mark", "q", "space", "b"} <= set(bound)
    help_text = subprocess.run([sys.executable, "-m", "tools.simulator", "--help"], capture_output=True, text=True,
                               cwd=REPO, timeout=60).stdout  # fmt: skip
    assert keys.help_epilog() in help_text
    assert "\n  k        set the pump's clock" in help_text
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    assert keys.readme_table() in readme
    assert "| `v` | verbose log" in readme


def test_key_bar_keeps_the_essential_keys_at_80_columns():
    # issue 14: at 80x24 textual's footer cut off "q Quit"
    for width in (80, 60, 40):
        bar = dict(keys.key_bar(width))
        assert {"spc", "1-3", "?", "q"} <= set(bar), width
        assert sum(len(k) + len(v) + 2 for k, v in bar.items()) <= max(width, 40)
    assert len(keys.key_bar(120)) == len([k for k in keys.KEYS if k.binds])  # all of them when wide

    async def body(app, pilot):
        bar = _text(app, "#keybar")
        assert "q Quit" in bar and "spc Dose" in bar and "1-3 Speed" in bar and "? Keys" in bar
        assert app.query_one("#keybar").region.bottom == 24
        await pilot.press("question_mark")
        assert await _until(pilot, lambda: isinstance(app.screen, KeysScreen))
        listed = str(app.screen.query_one("#keys").render())
        assert len(keys.help_lines()) == len(keys.KEYS)  # one line each: it fits at 80x24
        assert app.screen.query_one("#keys").region.bottom <= 24
        for k in keys.KEYS:
            assert k.does.split()[0] in listed
        await pilot.press("x")
        assert await _until(pilot, lambda: not isinstance(app.screen, KeysScreen))
        assert not app.world.closed

    _run(body)


def test_the_speed_is_on_screen_from_the_start():
    # issue 14: it started at x60 without saying so
    async def body(app, pilot):
        assert "speed x60 (keys 1 2 3)" in _text(app, "#status")
        assert "time runs x60 (a minute a second): keys 1 2 3 set x1 x60 x600" in app.lines[0]
        await pilot.press("3")
        assert "speed x600 (keys 1 2 3)" in _text(app, "#status")
        await pilot.press("t")  # held: real time, and the line says so
        status = _text(app, "#status")
        assert "speed x1 held (x600 after)" in status and status.rstrip().endswith("refused 0")
        assert len(status.rstrip()) <= 78  # it fits at 80 columns
        assert "Handheld (CPython)" in str(app.query_one("#handheld").border_title)

    _run(body)


def _world():
    w = World(dict(DEFAULT_RX), dict(DEFAULT_PUMP), interpreter="cpython", trace=True, quiet_ms=1000, watch=True)
    w.start()
    return w


def test_pump_panel_shows_the_basal_rate_and_when_an_alarm_stops_it():
    # issue 14: the basal rate that drains the reservoir was never shown
    w = _world()
    try:
        w.run_until(5000)
        panel = str(text.pump_text(w, False, {}))
        assert "Basal      10 µg/h (0.02 ml/h)" in panel
        w.pump_alarm("motor_stall")
        assert "Basal      10 µg/h, stopped by the alarm" in str(text.pump_text(w, False, {}))
    finally:
        w.close()


def test_a_bolus_reads_accepted_until_its_end_then_delivered():
    # issue 14: DELIVERED was shown at the ack while the pump still delivered for a minute
    lines = []
    ends = {}

    def emit(e):
        if e["event"] == "delivered":
            text.note_start(e, w.pump, ends)
        line = text.describe(e, w, False, ends)
        if line:
            lines.append((e["t"], line[0]))

    w = World(dict(DEFAULT_RX), dict(DEFAULT_PUMP), interpreter="cpython", emit=emit, trace=True, quiet_ms=1000, watch=True)
    try:
        w.start()
        w.run_until(7400)
        w.press()
        w.run_until(40000)  # half way through the 60 s bolus
        record = [x for t, x in lines if x.startswith("log DELIVERED #1")]
        assert len(record) == 1
        until = record[0].split("accepted, delivering until ")[1]
        assert until == text.clock(ends[1])
        assert "PUMP starts bolus #1: 100 µg, until %s" % until in [x for t, x in lines]
        panel = str(text.pump_text(w, False, ends))
        assert "to %s" % until in panel and "delivering" in panel
        assert not any("delivered:" in x for t, x in lines)
        assert "doses 0, 1 running  refused 0" in text.status_text(40.0, 60, 60, False, w, False)
        w.run_until(80000)
        done = [(t, x) for t, x in lines if x.startswith("PUMP bolus #1 delivered: 100 µg")]
        assert len(done) == 1 and text.clock(done[0][0]) == until  # it ends when it said it would
        assert "complete" in str(text.pump_text(w, False, ends))
    finally:
        w.close()


def _reservoir_agrees(app):
    """The pump panel's reservoir line and its alarms line say the same thing."""
    panel = _text(app, "#pump")
    ug = int(panel.split("Reservoir  ")[1].split(" µg")[0])
    alarms = panel.split("Alarms     ")[1].splitlines()[0]
    p = app.world.pump
    assert ug == p.reservoir_ug
    assert ("empty_reservoir" in alarms) == (ug == 0), panel
    assert ("low_reservoir" in alarms) == (ug * 1000 < p.low_reservoir_ul * p.concentration), panel
    return ug, alarms


def test_reservoir_alarms_agree_with_the_reservoir_shown():
    # issue 14: `a` latched empty_reservoir while the panel showed 19.5 ml; now it takes the
    # drug out (and c puts it back), so the panel and the alarm always agree
    async def body(app, pilot):
        before, _ = _reservoir_agrees(app)
        seen = []
        for _ in range(4):  # motor stall, empty reservoir, low reservoir, battery
            await pilot.press("a")
            await pilot.pause(0.1)
            seen.append(_reservoir_agrees(app))
        assert seen[0][1] == "motor_stall" and seen[0][0] >= before - 1
        assert seen[1][0] == 0 and "empty_reservoir" in seen[1][1] and "motor_stall" not in seen[1][1]
        assert 0 < seen[2][0] and "low_reservoir" in seen[2][1] and "empty" not in seen[2][1]
        assert seen[3][1] == "battery_eri" and seen[3][0] >= before - 2  # put back (to the whole µg, less basal)
        await pilot.press("a", "a")  # motor stall, then empty again
        assert _reservoir_agrees(app)[0] == 0
        await pilot.press("c")
        ug, alarms = _reservoir_agrees(app)
        assert ug >= before - 3 and alarms == "none"  # each of the two takes kept whole µg only
        assert any("PUMP reservoir set by hand to 0 µg (0.0 ml)" in x for x in app.lines)
        assert any("PUMP reservoir put back" in x for x in app.lines)

    _run(body, speed=1)


def test_simulator_modules_stay_small():
    folder = os.path.join(REPO, "tools", "simulator")
    for name in os.listdir(folder):
        if name.endswith(".py"):
            with open(os.path.join(folder, name)) as f:
                assert len(f.read().splitlines()) <= 400, name
