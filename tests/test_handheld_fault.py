"""A handheld fault (issue 11, defect 3): an exception nobody expected, in a poll or at boot,
must not stop the handheld silently nor leave it able to send anything. `firmware.main.Superloop`
logs FAULT_HANDHELD, shows "Handheld fault", lights red (blinking), beeps, drops the app (no
byte more to the pump), does not feed the watchdog while the fault is retried, and without a
watchdog boots again in-process after 10 s, denying until resynced; a fault at every boot ends
in a fault state that stays (kept), and whose loop feeds the watchdog. Exceptions are injected
with `hal.fakes.Faulty` on the real firmware."""

import pytest

from firmware import eventlog as ev
from firmware import frame, main, messages, policy, prescription
from hal import fakes
from hal.contract import RED
from hal.storage import FileStorage
from tests.mp import MICROPYTHON, run_mp
from tools.pump_emulator.port import PumpPort
from tools.pump_emulator.pump import Pump

RX_TEXT = b"version=1 dose_ug=100 duration_s=60 lockout_s=600 max_per_24h=4 cap_ug=0 cap_window_s=0\n"
REBOOT_MS = 10000  # firmware.main._FAULT_REBOOT_MS
WATCHDOG_MS = 5000  # the shipped boards' watchdog timeout (hal/machine_watchdog.py)


class Board:
    NAME = "test"
    HOLD_MS = 1000
    ALLOW_UNSIGNED_RX = True  # rx.txt, no key: the pump emulator runs unpaired


class Wire:
    """The pump's end of the serial line, keeping every byte the handheld wrote."""

    def __init__(self, end):
        self.end = end
        self.sent = bytearray()

    def read(self, n):
        data = self.end.read(n)
        if data:
            self.sent.extend(data)
        return data

    def write(self, buf):
        return self.end.write(buf)


class Handheld:
    """The real firmware (Superloop, App, LinkClient, log) on fakes, every HAL object wrapped
    in Faulty, talking to the pump emulator."""

    def __init__(self, watchdog=True, storage=None):
        self.clock = fakes.FakeClock((1 << 30) - 20000)  # the ticks wrap during the test
        self.pair = fakes.FakeSerialPair(self.clock)
        self.store = storage if storage is not None else fakes.MemStorage()
        self.store.replace("rx.txt", RX_TEXT)
        self.storage = fakes.Faulty(self.store)
        self.button = fakes.Faulty(fakes.ScriptedButton())
        self.display = fakes.Faulty(fakes.FakeDisplay())
        self.indicator = fakes.FakeIndicator()
        self.buzzer = fakes.FakeBuzzer()
        self.watchdog = fakes.FakeWatchdog() if watchdog else None
        self.hal = {
            "clock": self.clock,
            "button": self.button,
            "indicator": self.indicator,
            "buzzer": self.buzzer,
            "display": self.display,
            "serial": self.pair.a,
            "storage": self.storage,
        }
        if watchdog:
            self.hal["watchdog"] = self.watchdog
        self.pump = Pump(rx=prescription.parse_text(RX_TEXT.decode()))
        self.port = PumpPort(self.pump)
        self.wire = Wire(self.pair.b)
        self.loop = main.Superloop(Board, self.hal)
        self.resets = []  # run_watched: when the watchdog reset the board

    def run(self, ms):
        end = self.clock.elapsed_ms + ms
        while self.clock.elapsed_ms < end:
            self.clock.sleep_ms(self.loop.step())
            self.port.service(self.wire, self.clock.elapsed_ms)

    def reset_by_watchdog(self):
        """The watchdog resets the board: RAM is lost, a new loop starts on the same flash."""
        self.watchdog = fakes.FakeWatchdog(reset=True)
        self.hal["watchdog"] = self.watchdog
        self.loop = main.Superloop(Board, self.hal)

    def run_watched(self, ms):
        """Run `ms` on a board whose watchdog resets it when nobody fed it for WATCHDOG_MS;
        each reset's time (`clock.elapsed_ms`) is added to `resets`."""
        end = self.clock.elapsed_ms + ms
        fed_at, feeds = self.clock.elapsed_ms, self.watchdog.feeds
        while self.clock.elapsed_ms < end:
            sleep = self.loop.step()
            if self.watchdog.feeds != feeds:
                fed_at, feeds = self.clock.elapsed_ms, self.watchdog.feeds
            self.clock.sleep_ms(sleep)
            self.port.service(self.wire, self.clock.elapsed_ms)
            if self.clock.elapsed_ms - fed_at >= WATCHDOG_MS:
                self.resets.append(self.clock.elapsed_ms)
                self.reset_by_watchdog()
                fed_at, feeds = self.clock.elapsed_ms, self.watchdog.feeds

    def press(self, ms=1300):
        self.button.inner.set(True)
        self.run(ms)
        self.button.inner.set(False)
        self.run(300)

    def records(self, kind=None):
        log = ev.EventLog(self.store)
        return [r for r in log.records() if kind is None or r.kind == kind]

    def faults(self):
        return [(r.b, r.c) for r in self.records(ev.FAULT) if r.a == ev.FAULT_HANDHELD]

    def bolus_requests(self, since=0):
        frames = frame.Deframer().feed(bytes(self.wire.sent[since:]))
        return [f for f in frames if f.error is None and f.msg_type == messages.BOLUS_REQ]


def code(name):
    return ev.HANDHELD_EXCEPTIONS.index(name)


def test_an_exception_in_a_poll_is_a_logged_fault_shown_red_silent_on_the_link_and_unfed():
    h = Handheld()
    h.run(3000)
    assert h.display.lines[:2] == ["Dose available", "Hold button 1 s"]
    h.button.fail("pressed", ValueError("injected"))
    h.run(10)
    assert h.loop.in_fault
    assert h.faults() == [(code("ValueError"), 1)]
    assert h.display.lines == main.FAULT_SCREEN
    assert (h.indicator.colour, h.indicator.blink) == (RED, True)
    sent, feeds, tones = len(h.wire.sent), h.watchdog.feeds, h.buzzer.tones
    # The patient holds the button for 2 s during the fault, and waits.
    h.press(2000)
    h.run(REBOOT_MS - 2500)
    assert h.loop.in_fault and h.loop.boots == 1
    assert len(h.wire.sent) == sent  # not a byte: no BOLUS_REQ, no status request
    assert h.bolus_requests() == [] and h.pump.boluses == {}
    assert h.watchdog.feeds == feeds  # a board with a watchdog is reset by it
    assert h.buzzer.tones >= tones + 3  # a beep every 2 s
    assert h.display.lines == main.FAULT_SCREEN and h.indicator.colour == RED
    assert h.records(ev.PRESS) == []


def test_without_a_watchdog_it_boots_again_and_denies_until_resynced():
    h = Handheld(watchdog=False)
    h.run(3000)
    h.press()
    assert len(h.bolus_requests()) == 1 and len(h.pump.boluses) == 1
    h.button.fail("pressed", KeyError(3))
    h.run(10)
    assert h.loop.in_fault and h.faults() == [(code("KeyError"), 1)]
    h.pair.down = True  # the pump cannot be reached after the reboot
    h.run(REBOOT_MS)
    assert not h.loop.in_fault and h.loop.boots == 2
    assert len(h.records(ev.BOOT)) == 2
    sent = len(h.wire.sent)
    h.press()
    assert [policy.REASON_NAMES[r.a] for r in h.records(ev.DENIED)] == [policy.NOT_SYNCED]
    h.pair.down = False
    h.run(3000)
    h.clock.advance(600 * 1000)  # the lockout of the first bolus ends
    h.run(6000)
    h.press()
    assert len(h.bolus_requests(sent)) == 1 and len(h.pump.boluses) == 2
    assert h.display.lines[0] == "Dose given"


def test_a_fault_at_every_boot_stays_in_the_fault_state_after_three():
    h = Handheld(watchdog=False)
    h.run(1000)
    h.storage.fail("read", OSError(5), times=-1)  # the flash fails: every boot fails, and logging too
    h.button.fail("pressed", RuntimeError("injected"))
    h.run(10 * 60 * 1000)
    assert h.loop.in_fault
    assert h.loop.boots == 3 and h.loop.faults == 3
    assert h.display.lines == main.FAULT_SCREEN and h.indicator.colour == RED
    assert h.bolus_requests() == []
    h.storage.plan.clear()
    assert h.faults() == [(code("RuntimeError"), 1)]  # the two faults at boot could not be logged


def test_with_a_watchdog_a_fault_at_every_boot_resets_twice_then_stays_fed_on_the_fault_screen():
    # Each boot faults at its first poll. The first two faults are retried: unfed, the watchdog
    # resets the board, RAM is lost and the count of faults in a row comes back from flash. The
    # third is kept: its loop feeds the watchdog, so the board stays on the fault screen, red and
    # beeping, instead of a reset (a restarted screen and alarm) every 5 s for ever.
    h = Handheld()
    h.run(1000)
    h.button.fail("pressed", RuntimeError("injected"), times=-1)
    h.run(10)
    assert h.loop.in_fault and h.loop.faults == 1
    fault_at, dog = h.clock.elapsed_ms, h.watchdog
    feeds = dog.feeds
    h.run_watched(WATCHDOG_MS)
    assert dog.feeds == feeds and len(h.resets) == 1 and h.resets[0] - fault_at <= WATCHDOG_MS
    h.run_watched(WATCHDOG_MS + 100)
    assert h.resets[1] - h.resets[0] == WATCHDOG_MS  # the second fault, at the first poll, unfed too
    assert h.loop.in_fault and h.loop.faults == 3 and h.loop.boots == 1
    assert h.faults() == [(code("RuntimeError"), n) for n in (1, 2, 3)]
    sent, shown, tones = len(h.wire.sent), len(h.display.inner.history), h.buzzer.tones
    h.run_watched(5 * 60 * 1000)
    assert len(h.resets) == 2  # five minutes without a reset
    assert h.watchdog.feeds >= 5 * 60 * 1000 // 100  # fed at every 100 ms turn
    assert h.loop.in_fault and h.loop.boots == 1 and h.loop.faults == 3
    assert h.display.lines == main.FAULT_SCREEN and len(h.display.inner.history) == shown
    assert (h.indicator.colour, h.indicator.blink) == (RED, True)
    assert h.buzzer.tones - tones == 5 * 60 // 2  # still a beep every 2 s
    assert len(h.wire.sent) == sent and h.bolus_requests() == []  # the kept state sends nothing
    # The kept state's own loop hangs and the watchdog resets the board: it comes back straight
    # to the kept fault state (no app, no byte to the pump), fed again.
    h.reset_by_watchdog()
    assert h.loop.in_fault and h.loop.boots == 0 and h.loop.faults == 3
    h.run_watched(60 * 1000)
    assert len(h.resets) == 2 and h.watchdog.feeds >= 600 and len(h.wire.sent) == sent
    assert h.display.lines == main.FAULT_SCREEN and (h.indicator.colour, h.indicator.blink) == (RED, True)
    assert h.faults() == [(code("RuntimeError"), n) for n in (1, 2, 3)]
    # Power cycled (not a watchdog reset), and the button mended: it boots and works.
    h.button.plan.clear()
    h.watchdog = fakes.FakeWatchdog()
    h.hal["watchdog"] = h.watchdog
    h.loop = main.Superloop(Board, h.hal)
    assert not h.loop.in_fault and h.loop.faults == 0
    h.run(3000)
    assert h.display.lines[:2] == ["Dose available", "Hold button 1 s"]


def test_a_healthy_minute_after_a_watchdog_reset_forgets_the_faults():
    h = Handheld()
    h.run(1000)
    h.button.fail("pressed", RuntimeError("injected"))
    h.run(10)
    assert h.loop.faults == 1 and h.store.read("faults.bin") == b"\x01"
    h.reset_by_watchdog()
    assert not h.loop.in_fault and h.loop.faults == 1  # counted on: a second fault would be 2
    h.run(61000)
    assert h.loop.faults == 0 and h.store.read("faults.bin") is None


def test_faults_far_apart_each_boot_again():
    h = Handheld(watchdog=False)
    for n in range(1, 5):
        h.run(65000)  # a minute of healthy polls between faults
        h.button.fail("pressed", ZeroDivisionError())
        h.run(REBOOT_MS + 100)
        assert not h.loop.in_fault and h.loop.boots == n + 1
    assert h.faults() == [(code("ZeroDivisionError"), 1)] * 4


def test_a_display_that_fails_for_good_still_ends_in_a_logged_red_fault():
    h = Handheld()
    h.run(3000)
    h.display.fail("show", OSError(19), times=-1)  # the I2C display is gone
    h.run(10000)  # the result screen of a press would be redrawn; the idle screen changes on its own
    h.press()
    assert h.loop.in_fault
    assert h.faults() == [(code("OSError"), 1)]
    assert (h.indicator.colour, h.indicator.blink) == (RED, True)
    assert h.bolus_requests() == []


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_keyboard_interrupt_and_system_exit_end_the_loop_and_are_no_fault(exc):
    h = Handheld()
    h.run(100)
    h.button.fail("pressed", exc())
    with pytest.raises(exc):
        h.run(10)
    assert h.faults() == []


def test_a_log_segment_that_cannot_be_read_is_a_fault_not_a_fresh_device(tmp_path):
    """The flash fails to read one segment of the log (here: a folder where the file was).
    Read as "empty", the handheld would boot as a fresh device, forget what that segment held
    and overwrite it; it must stop in the fault state instead, grant nothing and say so."""
    st = FileStorage(str(tmp_path))
    h = Handheld(watchdog=False, storage=st)
    h.run(3000)
    h.press()
    assert len(h.bolus_requests()) == 1 and len(h.pump.boluses) == 1
    kept = (tmp_path / "events.0").read_bytes()
    (tmp_path / "events.1").mkdir()
    again = Handheld(watchdog=False, storage=st)  # a reboot on the same flash
    again.run(3000)
    again.press()
    again.run(30000)  # boots are retried, and fail the same way
    assert again.loop.in_fault and again.loop.boots == 3
    assert again.display.lines == main.FAULT_SCREEN
    assert (again.indicator.colour, again.indicator.blink) == (RED, True)
    assert again.wire.sent == bytearray()  # not a byte to the pump: no BOLUS_REQ, no status
    assert (tmp_path / "events.0").read_bytes() == kept  # nothing written over what it could read


MP_FAULT = """
import gc
from hal import fakes
gc.collect()
from firmware import main
gc.collect()
from firmware import eventlog as ev


class Board:
    NAME = "test"
    HOLD_MS = 1000
    ALLOW_UNSIGNED_RX = True


clock = fakes.FakeClock((1 << 30) - 2000)
pair = fakes.FakeSerialPair(clock)
store = fakes.MemStorage()
store.replace("rx.txt", %r)
button = fakes.Faulty(fakes.ScriptedButton())
display = fakes.FakeDisplay()
indicator = fakes.FakeIndicator()
dog = fakes.FakeWatchdog()
hal = {"clock": clock, "button": button, "indicator": indicator, "buzzer": fakes.FakeBuzzer(), "display": display,
       "serial": pair.a, "storage": store, "watchdog": dog}
loop = main.Superloop(Board, hal)
loop.run(300)
pair.b.read(4096)
button.fail("pressed", ValueError("injected"))
loop.run(1)
feeds = dog.feeds
loop.run(98)  # the 100th fault turn (10 s) boots again
print("fault", loop.in_fault, loop.boots)
print("display", "|".join(display.lines))
print("indicator", indicator.colour, indicator.blink)
print("fed", dog.feeds - feeds, "sent", pair.b.pending())
print("faults", [(r.b, r.c) for r in ev.EventLog(store).records() if r.kind == ev.FAULT and r.a == ev.FAULT_HANDHELD])
loop.run(1)
print("rebooted", loop.in_fault, loop.boots, [r.a for r in ev.EventLog(store).records() if r.kind == ev.BOOT])
button.fail("pressed", ValueError("again"), times=-1)
loop.run(250)  # two more faults, the second at the boot 10 s after the first: it is kept
pair.b.read(4096)  # the two boots' SYNC requests
feeds = dog.feeds
loop.run(600)
print("kept", loop.in_fault, loop.faults, loop.boots, "fed", dog.feeds - feeds, "sent", pair.b.pending())
"""


@pytest.mark.micropython
@pytest.mark.skipif(MICROPYTHON is None, reason="the MicroPython unix port is not installed")
def test_the_fault_path_under_micropython():
    proc = run_mp(MP_FAULT % RX_TEXT, heap="192K")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ValueError: injected" in proc.stderr  # the traceback goes to stderr, for a developer
    assert proc.stdout.splitlines() == [
        "fault True 1",
        "display Handheld fault|No dose possible|Call clinic|",
        "indicator red True",
        "fed 0 sent 0",
        "faults [(%d, 1)]" % code("ValueError"),
        "rebooted False 2 [1, 2]",
        "kept True 3 3 fed 600 sent 0",
    ]
