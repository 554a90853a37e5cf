"""MicroPython bench script: the real firmware (firmware.main.Superloop with the host board's
clock, pty serial, file storage, console outputs and wait; a button this script presses) timed
press by press, watched through a seam and HAL objects it builds (Gesture.on_sample for the
hold, a serial wrapper for the BOLUS_REQ's write, a FileStorage subclass for the DELIVERED
record): nothing in the firmware is patched.

Run by tools/bench/latency.py: `micropython mp_press.py UART PRESSES` in a folder holding
data/key.bin and data/rx.bin. Its main loop is firmware.main.run's: `Superloop.step()` (a poll,
then the sleep until the app's next deadline) and `Superloop.wait` (the host board's wait,
which a byte from the pump ends at once: the reply is handled when it arrives). For
each press it prints `bench press <rid> <hold_us> <write_us> <accepted_us> <bytes> <queued_us>`
(time.ticks_us, CLOCK_MONOTONIC on the unix port: hold complete, BOLUS_REQ written, accept
handled, frame size, end of the poll that logged and sent it), at the end
`bench poll <median_us> <p99_us> <n>` for the cost of one step (app.poll() and next_deadline)
while idle.
"""

import sys

from time import ticks_add, ticks_diff, ticks_ms, ticks_us  # type: ignore  # MicroPython only

from firmware import eventlog as ev
from firmware import frame
from firmware import gesture as g
from firmware import main as fw
from firmware import messages as m
from firmware.prescription import Prescription
from hal.storage import FileStorage

BENCH_RX = (1, 50, 1, 1, 1000000, 0, 0)  # tools/bench/pumpserver.py: same prescription


class Board:
    NAME = "bench"
    HOLD_MS = 200  # the latency is timed from HOLD_COMPLETE: the hold length does not matter
    ALLOW_UNSIGNED_RX = False
    BUTTON_WAKES = True  # this script sets the button itself, just before a step
    HAL = {
        "clock": ("hal.host_clock", "HostClock", {}),
        "button": ("hal.fakes", "ScriptedButton", {}),
        "indicator": ("hal.host_console", "ConsoleIndicator", {}),
        "buzzer": ("hal.host_console", "ConsoleBuzzer", {}),
        "display": ("hal.host_console", "ConsoleDisplay", {}),
        "serial": None,
        "storage": ("hal.storage", "FileStorage", {"root": "data"}),
        "wait": ("hal.host_wait", "HostWait", {}),
    }


class Probe:
    def __init__(self):
        self.reset()

    def reset(self):
        self.hold_us = None
        self.write_us = None
        self.acc_us = None
        self.rid = None
        self.nbytes = 0
        self.failed = None
        self.queued_us = None


class TimedSerial:
    """The host serial port, timing the first write of each BOLUS_REQ (`probe.write_us`)."""

    def __init__(self, inner, probe):
        self.inner = inner
        self.probe = probe
        self.deframer = frame.Deframer()

    def fileno(self):
        return self.inner.fileno()

    def read(self, n):
        return self.inner.read(n)

    def write(self, buf):
        n = self.inner.write(buf)
        probe = self.probe
        if probe.write_us is None and probe.hold_us is not None:
            t = ticks_us()
            for fr in self.deframer.feed(bytes(buf)):
                if fr.error is None and fr.msg_type == m.BOLUS_REQ:
                    probe.write_us = t
                    probe.rid = m.decode(m.BOLUS_REQ, fr.payload)["request_id"]
                    probe.nbytes = len(buf)
        return n


class TimedStorage(FileStorage):
    """File storage timing the record of the pump's answer (`probe.acc_us`): DELIVERED when it
    accepted, PUMP_REFUSED or UNCERTAIN when it did not."""

    def __init__(self, root, probe):
        FileStorage.__init__(self, root)
        self.probe = probe

    def append(self, name, data):
        FileStorage.append(self, name, data)
        probe = self.probe
        if probe.rid is None or not name.startswith("events"):
            return
        for r in ev.decode_all(bytes(data))[0]:
            if r.a != probe.rid:
                continue
            if r.kind == ev.DELIVERED and probe.acc_us is None:
                probe.acc_us = ticks_us()
            elif r.kind in (ev.PUMP_REFUSED, ev.UNCERTAIN):
                probe.failed = (ev.KIND_NAMES.get(r.kind, r.kind), r.a, r.b)


def _pct(values, p):
    if not values:
        return 0
    v = sorted(values)
    i = int(p * (len(v) - 1) + 0.5)
    return v[i]


def main():
    uart = sys.argv[1]
    presses = int(sys.argv[2])
    Board.HAL["serial"] = ("hal.host_serial", "HostSerial", {"path": uart, "baud": 115200})
    probe = Probe()
    hal = fw.make_hal(Board)
    # The probe watches the firmware through the HAL objects it is given (composition, no
    # patching): the serial port sees the BOLUS_REQ go out, the storage sees the outcome logged.
    hal["serial"] = TimedSerial(hal["serial"], probe)
    hal["storage"] = TimedStorage("data", probe)
    loop = fw.Superloop(Board, hal)
    app = loop.app
    app.rx = Prescription(*BENCH_RX)
    clock = hal["clock"]
    button = hal["button"]
    link = app.link

    def on_sample(now, raw, event):
        if event == g.HOLD_COMPLETE:
            probe.hold_us = ticks_us()

    app.gesture.on_sample = on_sample

    polls = [0] * 1000  # a ring of the latest idle poll costs, allocated once
    npolls = 0
    done = 0
    state = "wait"  # wait -> down -> up -> (next)
    since = clock.ticks_ms()
    deadline = ticks_add(ticks_ms(), 30000 + presses * 3000)
    while done < presses:
        now = clock.ticks_ms()
        if ticks_diff(now, deadline) > 0:
            print("bench timeout after %d presses (state %s)" % (done, state))
            break
        if state == "wait":
            if link.synced and app.decide(now).granted and clock.ticks_diff(now, since) >= 50:
                probe.reset()
                button.set(True)
                state = "down"
        elif state == "down":
            if probe.hold_us is not None:
                button.set(False)
                state = "up"
                since = now
        elif state == "up":
            if probe.acc_us is not None or probe.failed is not None:
                if probe.acc_us is not None:
                    print("bench press %d %d %d %d %d %d" % (probe.rid, probe.hold_us, probe.write_us, probe.acc_us, probe.nbytes, probe.queued_us))
                else:
                    print("bench failed %r" % (probe.failed,))
                done += 1
                state = "wait"
                since = now
        t0 = ticks_us()
        sleep = loop.step()
        t1 = ticks_us()
        dt = ticks_diff(t1, t0)
        if probe.hold_us is not None and probe.queued_us is None:
            probe.queued_us = t1  # the poll that saw the hold complete has logged and sent it
        if state == "wait" and link.synced:
            polls[npolls % len(polls)] = dt
            npolls += 1
        if state == "wait" and clock.ticks_diff(clock.ticks_ms(), since) < 50:
            sleep = min(sleep, 50)  # the next press 50 ms after the last answer
        loop.wait(sleep)
    polls = polls[: min(npolls, len(polls))]
    print("bench poll %d %d %d" % (_pct(polls, 0.5), _pct(polls, 0.99), len(polls)))
    print("bench done %d" % done)


main()
