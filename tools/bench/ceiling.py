"""The floor under every simulation of a day: the firmware's own CPU time for the benchmark day,
with no transport and no pump to pay for, on CPython and in the MicroPython unix port.

`tools.bench.duty.measure(record=True)` runs the day in process (the real `Superloop` on fakes
against the pump emulator, as a board with an edge-interrupt button runs it) and records what
the firmware was given at each step; `tools/bench/mp_replay.py` gives exactly that to the
firmware again on each interpreter and times `Superloop.step` alone. The replay must write the
same bytes to the link as the recorded run did (CRC-32 and count), or it was not the same work
and the figure is refused.
"""

import os
import re
import subprocess
import sys
import tempfile

from tools.bench import duty
from tools.micropython_unix import REPO, run_mp

DAY_MS = 86400 * 1000
_LINE = re.compile(r"^replay (\d+) ([\d.]+) (\d+) (\d+)$", re.M)


def replay(path, interpreter):
    """dict(steps, seconds, tx_bytes, tx_crc) of the recording at `path` replayed on `interpreter`."""
    script = os.path.join(REPO, "tools", "bench", "mp_replay.py")
    if interpreter == "micropython":
        done = run_mp(script, heap="8M", timeout=600, args=[path])
    else:
        done = subprocess.run([sys.executable, script, path], cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO),
                              capture_output=True, text=True, timeout=600)
    found = _LINE.search(done.stdout)
    if done.returncode != 0 or not found:
        last = ((done.stderr + done.stdout).strip().splitlines() or ["no output"])[-1]
        raise RuntimeError("the replay failed on %s: %s" % (interpreter, last))
    steps, seconds, nbytes, crc = found.groups()
    return {"steps": int(steps), "seconds": float(seconds), "tx_bytes": int(nbytes), "tx_crc": int(crc)}


def measure(interpreters=("cpython", "micropython"), days=1):
    """{"day": the recorded day's figures, interpreter: dict(sim_days_per_s, seconds,
    us_per_step)}. Raises RuntimeError if a replay wrote other bytes than the recorded run."""
    day = duty.measure(days, record=True)
    recording = day.pop("recording")
    fd, path = tempfile.mkstemp(prefix="bench-replay-", suffix=".bin")
    with os.fdopen(fd, "wb") as f:
        f.write(recording)
    result = {"day": day}
    try:
        for interp in interpreters:
            r = replay(path, interp)
            if (r["steps"], r["tx_bytes"], r["tx_crc"]) != (day["wakes"], day["tx_bytes"], day["tx_crc"]):
                raise RuntimeError("the replay on %s wrote other bytes than the recorded day: not the same work" % interp)
            secs = r["seconds"]
            result[interp] = {"sim_days_per_s": day["sim_ms"] / float(DAY_MS) / secs, "seconds": secs,
                              "us_per_step": secs * 1e6 / r["steps"]}
    finally:
        os.remove(path)
    return result
