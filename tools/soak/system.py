"""An in-process handheld + pump, for the tests and the soak: the real App, LinkClient,
gesture, policy and event log on fakes, wired through a FakeSerialPair to the real pump
emulator (PumpPort).

`System(rx_fields, seed)` then `press()`, `tap()`, `run(ms)`, `reboot()`; `app`, `pump`,
`log_records()` and `delivered()` let a test check what happened. `pump_end` is the Serial end
the pump emulator reads and writes (`pair.b`); a test may put a filter of its own there.
"""

from firmware import eventlog as ev
from firmware import messages as m
from firmware import prescription
from firmware.app import App
from firmware.link import LinkClient
from firmware.main import open_log
from hal import fakes
from tools.pump_emulator.port import PumpPort
from tools.pump_emulator.pump import Pump

STEP_MS = 10
RX = dict(version=1, dose_ug=100, duration_s=60, lockout_s=600, max_per_24h=4, cap_ug=0, cap_window_s=0)


class System:
    def __init__(self, rx_fields=None, seed=1, clock_start=(1 << 30) - 30000, pump_kwargs=None, key=None, storage=None):
        fields = dict(RX)
        fields.update(rx_fields or {})
        self.rx = prescription.from_fields(fields)
        self.clock = fakes.FakeClock(clock_start)
        self.pair = fakes.FakeSerialPair(self.clock, seed)
        self.storage = storage if storage is not None else fakes.MemStorage()
        self.key = key
        kwargs = dict(pump_kwargs or {})
        pump_rx = kwargs.pop("rx", self.rx)  # the pump's own prescription: the handheld's unless named
        self.pump = Pump(rx=pump_rx, **kwargs)
        self.port = PumpPort(self.pump, seed=seed)
        self.pump_end = self.pair.b  # the pump's end of the line (a test may interpose a filter)
        self.button = fakes.ScriptedButton()
        self.boots = 0
        self._boot()

    def _boot(self):
        self.boots += 1
        self.display = fakes.FakeDisplay()
        self.indicator = fakes.FakeIndicator()
        self.buzzer = fakes.FakeBuzzer()
        self.log = open_log(self.storage)  # as the firmware boots: torn tail logged as a FAULT
        self.link = LinkClient(self.clock, self.pair.a, key=self.key)
        self.app = App(
            self.clock, self.button, self.indicator, self.buzzer, self.display, self.log, self.link, self.rx
        )
        self._polled = False  # the gesture has not sampled the button since this boot

    def reboot(self, clock_jump_ms=0):
        """The handheld loses power (ticks restart elsewhere) and boots from its storage."""
        self.button.set(False)
        self.clock.now = (self.clock.now + 12345 + clock_jump_ms) & ((1 << 30) - 1)
        self.pair.a.read(4096)  # whatever was in the UART buffer is lost
        self._boot()

    def step(self):
        self.clock.advance(STEP_MS)
        self.port.service(self.pump_end, self.clock.elapsed_ms)
        self.app.poll()
        self._polled = True

    def run(self, ms):
        for _ in range(ms // STEP_MS):
            self.step()

    def idle(self, ms, step_ms=5000):
        """Let time pass in coarse steps while nothing happens (a status exchange per step)."""
        for _ in range(ms // step_ms):
            self.clock.advance(step_ms - 2 * STEP_MS)
            self.run(2 * STEP_MS)

    def hold(self, ms):
        self.button.set(True)
        self.run(ms)
        self.button.set(False)
        self.run(200)

    def press(self):
        """A real press, which the handheld must judge: the button is up when the gesture first
        looks (one already down at boot is a stuck button, never a request), then held 1.3 s
        unbroken. Fails unless the hold was taken as a request (a PRESS record), so that a test
        cannot pass because its press was read as a tap, a bounce or a stuck button."""
        if self.button.level:
            raise AssertionError("press() with the button already down")
        if not self._polled:
            self.step()  # the first sample after boot sees the button up
        top = self._top_seq()
        self.hold(1300)
        presses = [r for r in self.log.records() if r.kind == ev.PRESS and r.seq > top]
        if len(presses) != 1:
            raise AssertionError("the press was not judged (no PRESS record): a tap, a bounce or a stuck button?")

    def tap(self):
        self.hold(200)

    def _top_seq(self):
        top = 0
        for r in self.log.records():
            if r.seq > top:
                top = r.seq
        return top

    def sync(self, ms=3000):
        self.run(ms)

    def log_records(self, kind=None):
        return [r for r in self.log.records() if kind is None or r.kind == kind]

    def delivered(self):
        """The pump's own record of boluses that started (request_id -> entry)."""
        return {rid: e for rid, e in self.pump.boluses.items() if e.get("status") != m.BOLUS_REFUSED}
