"""Simulation speed: simulated days per wall-clock second of the scenario runner
(`python -m tools.scenario FILE --stats`, the real firmware in a lockstep subprocess) on a day
of use, on CPython and on MicroPython, and of the soak harness (in-process, on fakes)."""

import os
import re
import subprocess
import sys
import tempfile

from tools.micropython_unix import REPO
from tools.bench import heap
from tools.soak import soak

_STATS = re.compile(r"([\d.]+) h simulated in ([\d.]+) s on (\w+): ([\d.]+) sim-days per wall second, (\d+) steps \((\d+) steps/s\)")


def scenario(interpreter="cpython", days=1):
    """dict(sim_days_per_s, wall_s, steps, steps_per_s) or raises RuntimeError."""
    fd, path = tempfile.mkstemp(prefix="bench-day-", suffix=".scn")
    with os.fdopen(fd, "w") as f:
        f.write(heap.day_text(days))
    try:
        out = subprocess.run(
            [sys.executable, "-m", "tools.scenario", path, "--stats", "--interpreter", interpreter, "--out", os.devnull],
            cwd=REPO, capture_output=True, text=True, timeout=600,
        )
    finally:
        os.remove(path)
    m = _STATS.search(out.stderr)
    if out.returncode != 0 or not m:
        raise RuntimeError("tools.scenario failed: %s" % (out.stderr.strip().splitlines() or ["?"])[-1])
    hours, wall, _interp, per_s, steps, steps_s = m.groups()
    return {"sim_days_per_s": float(per_s), "wall_s": float(wall), "steps": int(steps), "steps_per_s": int(steps_s),
            "sim_h": float(hours)}


def soak_speed(steps=20000, seed=1):
    t = soak.run_soak(steps, seed=seed, episode_steps=steps)
    return {"sim_days_per_s": t.sim_ms / 86400000.0 / t.wall_s, "steps_per_s": t.steps / t.wall_s,
            "wall_s": t.wall_s, "steps": t.steps, "violations": t.violation_count, "polls_per_s": t.polls / t.wall_s}
