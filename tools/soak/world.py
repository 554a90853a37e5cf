"""The soak's world: the in-process system (tools/soak/system.py) driven with cheap virtual time,
fault knobs and observers that feed `tools.soak.invariants.Checker`.

`w = World(seed, rx_fields)`; actions: `press` (fails unless judged as one), `push` (the same
hold, unchecked: the soak's random presses), `tap`, `bounce`, `hold`, `wait`, `jump`,
`reboot`, `power_cut`, `link_down`, `link_faults`, `link_clean`, `pump_restart`, `pump_alarm`,
`pump_clear`, `refill`; `checkpoint()` (clean link, settle, check). Time advances in fine steps
only while something happens (button, bytes in flight), otherwise in idle steps of up to 1 s
(10 s during `jump`), which is what makes a million steps affordable.
"""

import os
import tempfile

from firmware import eventlog as ev
from firmware import gesture as g
from firmware import prescription
from hal import fakes
from hal import ticks
from tools.security import pump_auth
from tools.soak.system import RX as SYSTEM_RX
from tools.soak.system import System
from tools.soak.invariants import V_CRASH, Checker

KEY = bytes(range(0x40, 0x60))  # the pairing key of the soak's handheld and pump

# Prescriptions the soak rotates through: the harness default, a tight one that hits the
# 24 h maximum and the lockout often, and one with an amount cap enforced by the pump.
PRESETS = {
    "default": dict(SYSTEM_RX),
    "tight": dict(version=1, dose_ug=50, duration_s=5, lockout_s=30, max_per_24h=48, cap_ug=0, cap_window_s=0),
    "capped": dict(version=1, dose_ug=200, duration_s=120, lockout_s=900, max_per_24h=6, cap_ug=800, cap_window_s=14400),
}

FINE_MS = 10  # the firmware's own poll period
BUTTON_SETTLE_MS = 60  # fine steps after a button change (debounce is 30 ms)
HOLD_STEP_MS = 50  # while a hold is on its way to completion
BUSY_MS = 50  # a request is waiting for its reply (timeout 250 ms)
IDLE_MS = 1000
JUMP_STEP_MS = 10000  # a reply read at every poll: under the link's 12 s freshness
HOLD_MS = 1000  # the App's default hold time
ALARMS = ("motor_stall", "battery_eri", "empty_reservoir", "low_reservoir")  # latched by hand


class World:
    def __init__(self, seed=1, rx_fields=None, paired=True, clock_start=None, reservoir_ul=20000, basal_ug_per_h=0):
        fields = dict(PRESETS["default"])
        fields.update(rx_fields or {})
        self.seed = seed
        self.preset = ""  # the PRESETS name, when the soak chose one
        self.rng = fakes.Rng(seed * 2654435761 + 12345)
        start = (ticks.PERIOD - 30000) if clock_start is None else clock_start
        # The pump's record lives in a file, as the emulator's does, so that a pump restart
        # is a new Pump read from it (a new process). It is written only at shutdown: JSON
        # of the whole history at every change would cost the soak most of its time.
        self._record_dir = tempfile.TemporaryDirectory(prefix="soak-pump-")
        pump_kwargs = dict(
            reservoir_ul=reservoir_ul,
            basal_ug_per_h=basal_ug_per_h,
            record_path=os.path.join(self._record_dir.name, "pump.json"),
            autosave=False,
        )
        # What the firmware commits is seen through the storage's observer seam, the gesture
        # through its on_sample seam: nothing of the firmware's is patched.
        self.checker = None  # made below: the first boot's records are handed to it then
        self.presses = 0  # PRESS records committed (presses the handheld judged)
        storage = fakes.MemStorage(on_append=self._on_append)
        self.sys = System(
            rx_fields=fields, seed=seed, clock_start=start, pump_kwargs=pump_kwargs, key=KEY if paired else None, storage=storage
        )
        s = self.sys
        self.rx = s.rx
        self.clock = s.clock
        self.pair = s.pair
        self.pump = s.pump
        self.port = s.port
        self.storage = s.storage
        self.paired = paired
        if paired:
            self.pump.verify_bolus = pump_auth.make_pump_verifier(KEY, store=self.pump)
        self.pump.on_event = self._on_pump_event
        self.checker = Checker(self.rx, ev.EventLog(fakes.MemStorage()).capacity)
        self.faults = {}
        self.actions = {}
        self.polls = 0
        self.refills = 0
        self._level = False
        self._changed_at = 0  # elapsed ms of the last sampled change of the raw level
        self._sampled = False
        self._completions = 0  # HOLD_COMPLETEs since the last debounced press
        self._gesture_fired = False
        self._last_ticks = self.clock.now
        self._hook()
        for rec in self._records():  # the first boot's records, written before we watched
            self.checker.on_commit(rec)

    # ---- observers ------------------------------------------------------------------------
    def _on_append(self, name, data):
        """A completed append (a torn one raised PowerLoss and is never seen here)."""
        if len(data) == ev.RECORD_SIZE:
            recs, _bad = ev.decode_all(bytes(data))
            for r in recs:
                if r.kind == ev.PRESS:
                    self.presses += 1
                if self.checker is not None:
                    self.checker.on_commit(r.tuple())

    def _on_pump_event(self, e):
        self.checker.on_pump_event(e, self.pump)

    def _on_sample(self, now, raw, event):
        """Every button sample the gesture recogniser judged, and its outcome."""
        if raw != self._sampled:
            self._sampled = raw
            self._changed_at = self.clock.elapsed_ms
        if event == g.PRESSED:
            self._completions = 0
        elif event == g.HOLD_COMPLETE:
            self._completions += 1
            self._gesture_fired = True
            held = self.clock.elapsed_ms - self._changed_at if raw else -1
            self.checker.on_hold_complete(held, HOLD_MS, self._completions)

    def _hook(self):
        """Watch the gesture recogniser of the App just booted (its on_sample seam)."""
        self.sys.app.gesture.on_sample = self._on_sample
        self._sampled = False  # a new gesture recogniser starts from its first sample
        self._changed_at = self.clock.elapsed_ms

    def _records(self):
        return [r.tuple() for r in self.sys.log.records()]

    def count(self, kind, n=1):
        self.faults[kind] = self.faults.get(kind, 0) + n

    # ---- time -------------------------------------------------------------------------------
    @property
    def elapsed_ms(self):
        return self.clock.elapsed_ms

    def step(self, dt):
        clock = self.clock
        clock.advance(dt)
        if clock.now < self._last_ticks:
            self.count("ticks_wrap")
        self._last_ticks = clock.now
        self.port.service(self.pair.b, clock.elapsed_ms)
        self.polls += 1
        try:
            self.sys.app.poll()
        except fakes.PowerLoss:
            self._gesture_fired = False
            self.checker.gesture_done()
            self._power_lost()
            return
        except Exception as e:  # a crash: the watchdog would reset the board
            self.checker.violation(V_CRASH, repr(e))
            self._reboot_from_storage(self._level)
            return
        if self._gesture_fired:
            self._gesture_fired = False
            self.checker.gesture_done()

    def _next_dt(self, idle_ms, coarse):
        now = self.clock.elapsed_ms
        if now - self._changed_at < BUTTON_SETTLE_MS or self._level != self._sampled:
            return FINE_MS
        if self._level:
            if self.sys.app.gesture.holding:
                return HOLD_STEP_MS
            return min(idle_ms, IDLE_MS)
        link = self.sys.link
        if self.pair.held or link.busy_with_bolus():
            return BUSY_MS  # delayed bytes are read when due; a bolus exchange runs in real time
        if coarse:
            # Polls 5 s apart (the status period): the pump answers each request before the
            # next poll, which reads the reply first thing; the link stays fresh (12 s).
            return idle_ms
        if link._pending is not None:
            return BUSY_MS
        return idle_ms

    def run(self, ms, idle_ms=IDLE_MS, coarse=False, max_dt=None):
        end = self.clock.elapsed_ms + ms
        while True:
            left = end - self.clock.elapsed_ms
            if left <= 0:
                return
            dt = self._next_dt(idle_ms, coarse)
            if max_dt is not None and dt > max_dt:
                dt = max_dt
            self.step(min(dt, left))

    def set_button(self, level):
        level = bool(level)
        self._level = level
        self.sys.button.set(level)

    # ---- the patient --------------------------------------------------------------------------
    def push(self, hold_ms=1300):
        """The patient holds the button `hold_ms` and lets go, whatever the handheld makes of it
        (the soak's random presses: a scheduled power cut or a stuck button may intervene)."""
        self.set_button(True)
        self.run(hold_ms)
        self.set_button(False)
        self.run(300)

    def press(self, hold_ms=1300):
        """A press the handheld must judge as one (as `System.press`): fails unless it committed
        exactly one PRESS record, so that a check cannot pass because its press was read as a
        tap, a bounce or a stuck button, or was lost to a reboot."""
        before = self.presses
        self.push(hold_ms)
        if self.presses != before + 1:
            raise AssertionError(
                "the press was not judged (%d PRESS records): a tap, a bounce, a stuck button or a reboot?"
                % (self.presses - before)
            )

    def tap(self, hold_ms=200):
        self.set_button(True)
        self.run(hold_ms)
        self.set_button(False)
        self.run(300)

    def bounce(self, segments):
        """A flapping contact: levels alternate down/up for the given durations (ms), sampled
        every min(segment, 10) ms; ends released."""
        self.count("bounce")
        level = True
        for seg in segments:
            self.set_button(level)
            self.run(seg, max_dt=max(1, min(seg, FINE_MS)))
            level = not level
        self.set_button(False)
        self.run(300)

    def hold(self, ms):
        """A long hold (past 60 s the gesture calls the button stuck)."""
        self.count("long_hold")
        self.set_button(True)
        self.run(ms)
        self.set_button(False)
        self.run(300)

    def wait(self, ms):
        self.run(ms)

    def jump(self, ms):
        """Minutes or hours pass with the patient idle: the handheld is polled every 10 s (each
        poll reads the pump's answer to the last one and asks for its status again, so the link
        stays fresh; a bolus exchange still runs in real time), the pump runs in full. Frame
        noise pauses meanwhile (a cut link stays cut): with 10 s between polls a lost frame
        would silence the link past its 12 s freshness, which 10 ms polls never see."""
        self.count("time_jump")
        p = self.pair
        noise = (p.loss, p.corrupt, p.duplicate, p.delay_ms)
        p.loss = p.corrupt = p.duplicate = 0.0
        p.delay_ms = 0
        try:
            self.run(ms, idle_ms=JUMP_STEP_MS, coarse=True)
        finally:
            p.loss, p.corrupt, p.duplicate, p.delay_ms = noise

    # ---- the device -----------------------------------------------------------------------------
    def _reboot_from_storage(self, held=False, clock_jump_ms=0):
        """Boot again from storage (a reboot itself may lose power: boot again)."""
        while True:
            try:
                self.sys.reboot(clock_jump_ms)
                break
            except fakes.PowerLoss:
                self.count("power_cut_at_boot")
                clock_jump_ms = 0
        log = self.sys.log
        torn = log.torn_bytes
        self._hook()
        self.checker.after_boot(self._records(), torn)
        self._last_ticks = self.clock.now
        self._level = False
        if held:
            self.set_button(True)

    def _power_lost(self):
        self.count("power_cut")
        self._reboot_from_storage(held=self._level)

    def reboot(self, held=False, near_wrap=False):
        self.count("reboot")
        jump = 0
        if near_wrap:  # ticks restart a few seconds below the 2**30 wrap
            target = ticks.PERIOD - 1 - self.rng.below(8000)
            jump = (target - self.clock.now - 12345) % ticks.PERIOD
        self._reboot_from_storage(held=held, clock_jump_ms=jump)
        self.run(300 if not held else 2000)
        if held:
            self.set_button(False)
            self.run(300)

    def power_cut(self, after_bytes):
        """Power fails `after_bytes` into the storage writes to come (mid-record, usually)."""
        self.count("power_cut_scheduled")
        self.storage.cut_after(after_bytes)

    def link_down(self, down):
        if down and not self.pair.down:
            self.count("link_cut")
        self.pair.down = bool(down)

    def link_faults(self, loss=0.0, corrupt=0.0, duplicate=0.0, delay_ms=0):
        self.count("link_noise")
        p = self.pair
        p.loss, p.corrupt, p.duplicate, p.delay_ms = loss, corrupt, duplicate, delay_ms

    def link_clean(self):
        self.pair.clean()
        self.pair.down = False

    def pump_restart(self):
        """The pump emulator's process stops and a new one starts from the same record file,
        its source clock reading the true time, as `python -m tools.pump_emulator` restarted
        on the host's clock: a bolus in progress ends stopped, the clocks resume from the
        record (`Pump`), the pump's clock keeps any set."""
        self.count("pump_restart")
        new = self.pump.reopened(on_event=self._on_pump_event)
        if self.paired:
            new.verify_bolus = pump_auth.make_pump_verifier(KEY, store=new)
        self.port.restart(new)
        self.pump = self.sys.pump = new
        self.checker.check_pump_record(self.pump)

    def pump_alarm(self, name):
        self.count("alarm_" + name)
        self.pump.raise_alarm(name)

    def pump_clear(self, name):
        self.pump.clear_alarm(name)

    def pump_clock(self, delta_s):
        """The pump's clock is set `delta_s` seconds forward (or back) (`Pump.set_clock`)."""
        self.count("pump_clock_set")
        self.checker.on_pump_clock(delta_s)
        self.pump.set_clock(delta_s)

    def refill(self, volume_ul=20000):
        self.refills += 1
        self.pump.refill(volume_ul)

    # ---- checks -----------------------------------------------------------------------------------
    def checkpoint(self, settle_ms=60000):
        """Clean link, no alarms kept from blocking settlement, run, then every request must be
        closed from the pump's record and the pump must still hold every started bolus."""
        self.storage.cut_after(-1)
        self.set_button(False)
        self.link_clean()
        self.run(settle_ms, idle_ms=IDLE_MS)
        self.checker.checkpoint(self.sys.app, self.sys.link)
        self.checker.check_pump_record(self.pump)

    def final_log_check(self):
        self.checker.after_boot(self._records(), 0)

    @property
    def violations(self):
        return self.checker.violation_count


def rx_of(name_or_fields):
    fields = PRESETS[name_or_fields] if isinstance(name_or_fields, str) else name_or_fields
    return prescription.from_fields(dict(fields))
