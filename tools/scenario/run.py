"""Run a parsed scenario through a World: `run(scenario, seed, interpreter, emit)`.

Applies each `at` command at its time, steps the world in between (finely only while
something happens), and returns the summary event (also emitted last). `run_file(path, ...)`
parses first; both raise ScenarioError for a bad file and FirmwareCrashed if the firmware dies.
"""

import os
import time

from tools.scenario.parse import parse
from tools.scenario.world import World


def apply(world, event):
    """Carry out one scenario command on the world, at the world's current time."""
    cmd, a = event.command, event.args
    if cmd == "press":
        world.press()
    elif cmd == "tap":
        world.tap()
    elif cmd == "bounce":
        world.bounce()
    elif cmd == "hold":
        world.hold(a["s"])
    elif cmd == "reboot":
        world.reboot()
    elif cmd == "link":
        world.link(a["state"], a.get("faults"))
    elif cmd == "pump":
        action = a["action"]
        if action == "refill":
            world.emit({"event": "pump", "action": "refill"})
        elif action == "clock":
            world.emit({"event": "pump", "action": "clock", "delta_s": a["delta_s"]})
        else:
            world.emit({"event": "pump", "action": action, "alarm": a.get("alarm")})
        if action == "alarm":
            world.pump_alarm(a["alarm"])
        elif action == "clear":
            world.pump_clear(a["alarm"])
        elif action == "refill":
            world.pump_refill(a["reservoir_ul"])
        elif action == "clock":
            world.pump_clock(a["delta_s"])
    else:  # the parser only lets known commands through
        raise ValueError("unknown scenario command %r" % cmd)


def run(
    scenario, seed=1, interpreter="cpython", emit=None, trace=False, heap=None, stats=None, paired=True, log_out=None,
    root=None, code=None,
):
    """Run to the scenario's end; returns the summary. `stats` (a dict) receives wall_s,
    steps, wakes (the firmware's polls), sim_days_per_wall_s, steps_per_s. `heap`, `root` and
    `code` go to the handheld (tools.scenario.driver.Handheld: -X heapsize, where the firmware
    is imported from, the entry). `paired=False` provisions the handheld with a
    plain rx.txt and no link key (the development path) instead of key.bin + signed rx.bin.
    `log_out` (a path) receives the handheld's event log as `tools.clinician pull-log` writes
    it, so `tools.clinician report` can be run on a simulated week."""
    world = World(
        scenario.rx, scenario.pump, seed=seed, interpreter=interpreter, emit=emit, trace=trace, heap=heap, paired=paired,
        root=root, code=code,
    )
    t0 = time.perf_counter()
    try:
        world.start()
        for event in scenario.events:
            world.run_until(event.t_ms)
            world.t_ms = max(world.t_ms, event.t_ms)
            apply(world, event)
            world.step_at(event.t_ms)
        world.advance_to(scenario.end_ms)
        summary = world.finish()
        if log_out is not None:
            _save_log(world.hh.folder, log_out)
    finally:
        world.close()
    wall = time.perf_counter() - t0
    if emit is not None:
        emit(summary)
    if stats is not None:
        stats["wall_s"] = wall
        stats["steps"] = world.steps
        stats["wakes"] = world.wakes
        stats["sim_s"] = scenario.end_ms / 1000.0
        stats["sim_days_per_wall_s"] = scenario.end_ms / 86400000.0 / wall if wall > 0 else 0.0
        stats["steps_per_s"] = world.steps / wall if wall > 0 else 0.0
    return summary


def _save_log(folder, path):
    from tools.clinician import logfile

    segments = []
    for name in ("events.0", "events.1"):
        try:
            with open(os.path.join(folder, name), "rb") as f:
                segments.append((name, f.read()))
        except OSError:
            segments.append((name, None))
    with open(path, "wb") as f:
        f.write(logfile.pack(segments))


def run_file(path, **kw):
    with open(path) as f:
        text = f.read()
    return run(parse(text), **kw)
