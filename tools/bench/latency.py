"""Press-to-wire latency and round trip: the firmware in the MicroPython unix port on a real pty,
the pump emulator (CPython, tools/bench/pumpserver.py) on the other end.

`measure(presses)` returns a dict of sample lists (microseconds) and the frame size:
  queued  HOLD_COMPLETE -> the end of that poll: PRESS and GRANTED logged (file appends), the
          policy decided, the request tagged and sent (the firmware's CPU work);
  write   HOLD_COMPLETE -> the BOLUS_REQ frame handed to the serial port (write returned), in
          the same poll when no other exchange is under way (LinkClient.send_queued);
  wire    HOLD_COMPLETE -> the frame's last byte read by the pump process (both timestamps on
          CLOCK_MONOTONIC, which MicroPython's unix port uses for ticks_us);
  rtt     HOLD_COMPLETE -> the firmware processed the pump's BOLUS_ACK (accepted);
  pump    last byte in -> ack written, inside the pump process;
  poll    cost of one loop step (app.poll() and App.next_deadline) while idle.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

from firmware import prescription
from tools.security import rx_sign
from tools.micropython_unix import MICROPYTHON, REPO, mp_env

KEY = bytes(range(0xA0, 0xC0))
RX = dict(version=1, dose_ug=50, duration_s=1, lockout_s=1, max_per_24h=48, cap_ug=0, cap_window_s=0)
BAUD = 115200


class BenchError(Exception):
    pass


def _json_lines(text):
    import json

    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def measure(presses=120, heap="1024K", timeout=None):
    if MICROPYTHON is None:
        raise BenchError("the MicroPython unix port is not installed")
    folder = tempfile.mkdtemp(prefix="bench-latency-")
    pump = None
    fw = None
    try:
        data = os.path.join(folder, "data")
        os.makedirs(data)
        with open(os.path.join(data, "key.bin"), "wb") as f:
            f.write(KEY)
        with open(os.path.join(data, "rx.bin"), "wb") as f:  # a valid signed rx to boot with
            f.write(rx_sign.sign(prescription.from_fields(RX), KEY))
        pump = subprocess.Popen(
            [sys.executable, "-m", "tools.bench.pumpserver", "--key", KEY.hex()],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        first = pump.stdout.readline()
        if not first.startswith("pty "):
            raise BenchError("the bench pump did not start: %r %s" % (first, pump.stderr.read()))
        dev = first.split()[1]
        script = os.path.join(REPO, "tools", "bench", "mp_press.py")
        fw = subprocess.run(
            [MICROPYTHON, "-X", "heapsize=" + heap, script, dev, str(presses)],
            cwd=folder, env=mp_env(), capture_output=True, text=True,
            timeout=timeout or (60 + presses * 5),
        )
        pump_out, pump_err = pump.communicate(timeout=30)
        pump = None
        if fw.returncode != 0:
            said = " | ".join((fw.stderr.strip() or fw.stdout.strip() or "exit status %d" % fw.returncode).splitlines()[-4:])
            raise BenchError("the firmware bench script failed: %s" % said)
    finally:
        if pump is not None:
            pump.kill()
            pump.wait()
        shutil.rmtree(folder, ignore_errors=True)
    arrivals = {r["rid"]: r for r in _json_lines(pump_out)}
    res = {"write": [], "wire": [], "rtt": [], "pump": [], "queued": [], "poll": None, "bytes": 0, "presses": 0, "failed": 0}
    for line in fw.stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["bench", "press"]:
            rid, hold, write, acc, nbytes, queued = (int(x) for x in parts[2:8])
            res["queued"].append(queued - hold)
            res["presses"] += 1
            res["bytes"] = nbytes
            res["write"].append(write - hold)
            res["rtt"].append(acc - hold)
            a = arrivals.get(rid)
            if a is not None:
                res["wire"].append(a["arrive_us"] - hold)
                if "ack_us" in a:
                    res["pump"].append(a["ack_us"] - a["arrive_us"])
        elif parts[:2] == ["bench", "failed"] or parts[:2] == ["bench", "timeout"]:
            res["failed"] += 1
        elif parts[:2] == ["bench", "poll"]:
            res["poll"] = (int(parts[2]), int(parts[3]), int(parts[4]))
    if not res["presses"]:
        raise BenchError("no press was timed (firmware said: %s)" % " | ".join(fw.stdout.splitlines()[-5:]))
    return res


def wire_floor_us(nbytes, baud=BAUD):
    """The time the frame takes on a real UART: 10 bits per byte (8N1)."""
    return nbytes * 10 * 1000000.0 / baud


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    i = min(len(v) - 1, int(p * (len(v) - 1) + 0.5))
    return v[i]


def median(values):
    return pct(values, 0.5)
