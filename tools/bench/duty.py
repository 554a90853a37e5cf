"""Duty cycle of the tickless handheld over a simulated day: how often it wakes and why.

`measure(days=1)` runs the real firmware loop (`firmware.main.Superloop`: App, LinkClient,
gesture, sounder, event log) on fakes, in-process, against the pump emulator, as a board with
an edge-interrupt button runs it: after each step it sleeps until the app's deadline, or less
when an input comes first (a scripted button change; the pump's reply, 1 ms after the request
left; a pump frame of its own). The day is the benchmark day of `tools.bench.heap.day_text`
(presses every 75 min from 7:00 to 23:00, a tap, an alarm raised and cleared, a link cut).
Returns a dict: wakes (steps of the loop), wakes by cause (deadline, button, pump), bytes
each way on the link, the time slept, the host's CPU seconds in the steps (CPython, for
reference only: a board's time awake is not measured here) and the simulated ms.

The battery arithmetic in docs/benchmarks.md takes `wakes`, `bytes_*` from here and datasheet
currents; `battery(...)` does it.
"""

import time

from firmware import main as fw
from firmware import prescription
from hal import fakes
from tools.bench import heap
from tools.bench.mp_replay import Board, Recorder
from tools.pump_emulator.port import PumpPort
from tools.pump_emulator.pump import Pump
from tools.scenario.parse import parse

_LINK_MS = 1  # a reply leaves the pump this long after the request reached it
AWAKE_MS = (2, 5)  # assumed awake time per wake-up on a board (docs/benchmarks.md: battery)
_PRESS_MS = 1500
_TAP_MS = 200


class _Wire:
    """The pump's end of the line, counting the handheld's bytes."""

    def __init__(self, end):
        self.end = end
        self.bytes_in = 0

    def read(self, n):
        data = self.end.read(n)
        if data:
            self.bytes_in += len(data)
        return data

    def write(self, buf):
        return self.end.write(buf)


def _script(days):
    sc = parse(heap.day_text(days))
    out = []  # (t_ms, action, arg)
    for e in sc.events:
        if e.command in ("press", "tap", "hold", "bounce"):
            ms = {"press": _PRESS_MS, "tap": _TAP_MS, "bounce": _TAP_MS}.get(e.command) or int(e.args["s"] * 1000)
            out += [(int(e.t_ms), "button", True), (int(e.t_ms) + ms, "button", False)]
        elif e.command == "link" and e.args["state"] in ("down", "up"):
            out.append((int(e.t_ms), "down", e.args["state"] == "down"))
        elif e.command == "pump" and e.args["action"] in ("alarm", "clear"):
            out.append((int(e.t_ms), e.args["action"], e.args.get("alarm")))
    out.sort(key=lambda x: x[0])
    return sc, out


def measure(days=1, record=False):
    """The day's figures (see the module's docstring); with `record`, also "recording": what
    the firmware was given at each step, for `tools/bench/mp_replay.py` to replay."""
    sc, script = _script(days)
    rx = prescription.from_fields(dict(sc.rx or {}))
    clock = fakes.FakeClock((1 << 30) - 60000)
    pair = fakes.FakeSerialPair(clock)
    storage = fakes.MemStorage()
    text = " ".join("%s=%d" % (k, getattr(rx, k)) for k in prescription.FIELDS) + "\n"
    storage.replace("rx.txt", text.encode())
    button = fakes.ScriptedButton()
    recorder = Recorder(pair.a, clock.now, text.encode()) if record else None
    hal = {
        "clock": clock,
        "button": button,
        "indicator": fakes.FakeIndicator(),
        "buzzer": fakes.FakeBuzzer(),
        "display": fakes.FakeDisplay(),
        "serial": recorder or pair.a,
        "storage": storage,
    }
    pump = Pump(rx=rx, reservoir_ul=sc.pump.get("reservoir_ul", 20000), basal_ug_per_h=sc.pump.get("basal_ug_per_h", 0))
    port = PumpPort(pump)
    wire = _Wire(pair.b)
    loop = fw.Superloop(Board, hal)
    end = sc.end_ms or 0
    causes = {"deadline": 0, "button": 0, "pump": 0}
    bytes_out = 0
    slept = 0
    wakes = 0
    cpu = 0.0
    cause = "deadline"
    asleep = 0  # ms slept before this step
    while clock.elapsed_ms < end:
        t0 = time.process_time()
        ms = loop.step()
        cpu += time.process_time() - t0
        if recorder is not None:
            recorder.step(asleep, button.level)
        wakes += 1
        causes[cause] += 1
        now = clock.elapsed_ms
        out = port.service(wire, now)  # the pump reads what the step wrote and answers
        bytes_out += len(out)
        nxt, cause = now + max(ms, 1), "deadline"
        if out and now + _LINK_MS < nxt:
            nxt, cause = now + _LINK_MS, "pump"
        if script and script[0][0] < nxt:
            nxt, cause = max(script[0][0], now + 1), "button"
        asleep = nxt - now
        slept += asleep
        clock.advance(asleep)
        while script and script[0][0] <= clock.elapsed_ms:
            _t, action, arg = script.pop(0)
            if action == "button":
                button.set(arg)
            elif action == "down":
                pair.down = arg
            elif action == "alarm":
                pump.raise_alarm(arg)
            else:
                pump.clear_alarm(arg)
        if pair.b.pending() == 0:  # a pump frame of its own (an alarm) wakes the handheld too
            extra = port.service(wire, clock.elapsed_ms)
            bytes_out += len(extra)
    out = {
        "sim_ms": clock.elapsed_ms,
        "wakes": wakes,
        "causes": causes,
        "bytes_to_pump": wire.bytes_in,
        "bytes_from_pump": bytes_out,
        "slept_ms": slept,
        "cpu_s": cpu,
        "granted": len(pump.boluses),
    }
    if recorder is not None:
        out.update(recording=recorder.recording(), tx_bytes=recorder.tx_bytes, tx_crc=recorder.tx_crc & 0xFFFFFFFF)
    return out


def battery(wakes_per_day, awake_ms_per_wake, bytes_per_day, active_ma, sleep_ma, uart_ma=0.0,
            baud=115200, capacity_mah=2500.0, v_load=3.3, v_battery=2.5, efficiency=0.9):
    """(average load current mA, battery current mA, days) for a day with `wakes_per_day`
    wake-ups of `awake_ms_per_wake` at `active_ma`, the rest asleep at `sleep_ma`, and the link
    busy for bytes*10/baud seconds at `uart_ma` more. The battery current goes through a
    buck-boost converter (`v_load` out, `v_battery` mean in, `efficiency`)."""
    day_s = 86400.0
    awake_s = wakes_per_day * awake_ms_per_wake / 1000.0
    line_s = bytes_per_day * 10.0 / baud
    load = (awake_s * active_ma + (day_s - awake_s) * sleep_ma + line_s * uart_ma) / day_s
    at_battery = load * v_load / (v_battery * efficiency)
    return load, at_battery, capacity_mah / at_battery / 24.0
