"""The simulated world: the real firmware (lockstep subprocess), the pump emulator and the
link between them, in virtual time, with the patient's button and injected faults.

`World(rx_fields, pump_cfg, seed, interpreter, emit=callback)` (`heap`, `root` and `code`
go to the handheld's `tools.scenario.driver.Handheld`); `start()`; then drive it with
`run_until(t_ms)`, `step_at(t_ms)` and the actions (`press`, `tap`, `bounce`, `hold`,
`set_button`, `reboot`, `link`, `pump_alarm`, `pump_clear`, `pump_refill`); `summary()`;
`close()`. Every outcome is reported through `emit(dict)` as a JSON-ready event with `t`
(seconds since the start). The scenario runner and the simulator both use it.

This module sets the world up and moves its time; the link's faults are in
`linkfaults_world.py`, the translation of what happened into events in `translate.py`.
"""

import hashlib
import os
import shutil
import tempfile
import time

from firmware import messages as m
from firmware import prescription
from firmware import rxstore
from hal import ticks
from hal.fakes import Rng
from tools.pump_emulator.port import PumpPort
from tools.pump_emulator.pump import ALARM_BITS, Pump
from tools.security import pump_auth, rx_sign
from tools.scenario.common import BASE_S, t_s
from tools.scenario.driver import Handheld
from tools.scenario.linkfaults_world import LinkFaults
from tools.scenario.translate import Translate

__all__ = ["BASE_S", "World"]
FIRST_TICKS = ticks.PERIOD - 60000  # the handheld's ticks wrap one minute into the first boot

# Step sizes (virtual ms): fine while something is happening, large otherwise.
FINE_MS = 10  # button activity, bytes in flight (the firmware's own poll period)
BOUNCE_MS = 2  # while a noisy press flaps
WAIT_MS = 50  # a request went unanswered: the firmware times out and resends
WAIT_DOWN_MS = 250  # the same while the link is cut (nothing can arrive)
WAIT_WINDOW_MS = 1300  # how long after an unanswered request to keep stepping at WAIT_MS
BUTTON_SETTLE_MS = 300  # fine steps after the button's last change (debounce, tap)
IDLE_MS = 1000  # nothing happening but something unresolved: a poll a second
QUIET_MS = 5000  # synced, link fine, nothing uncertain: a poll every 5 s (the status period)
RECENT_FAIL_MS = 15000  # an exchange failed this recently: the link is not "fine"
MAX_BATCH_MS = 10000  # the longest the firmware polls on its own without a step report

PRESS_HOLD_MS = 1500  # `press`: held 1.5 s (the gesture needs 1 s)
TAP_MS = 200

class World(LinkFaults, Translate):
    def __init__(
        self,
        rx_fields,
        pump_cfg=None,
        seed=1,
        interpreter="cpython",
        emit=None,
        folder=None,
        trace=False,
        heap=None,
        paired=True,
        quiet_ms=None,
        watch=False,
        root=None,
        code=None,
    ):
        self.emit_cb = emit
        self.trace = trace
        self.quiet_ms = QUIET_MS if quiet_ms is None else quiet_ms  # the simulator wants 1 s
        self.watch = watch  # report every change of screen, light and sound (the simulator)
        self.seed = seed
        self.fault_rng = Rng(seed)
        self.misc_rng = Rng((seed * 2654435761 + 12345) & 0xFFFFFFFF)
        self.rx_fields = rx_fields
        self.rx = None if rx_fields is None else prescription.from_fields(dict(rx_fields))
        cfg = dict(pump_cfg or {})
        # Paired: the handheld and the pump share a link key (derived from the seed), the
        # prescription is signed and every bolus request is authenticated, as in the field.
        self.key = hashlib.sha256(b"scenario link key %d" % seed).digest() if paired else None
        self._own_folder = folder is None
        self.folder = folder or tempfile.mkdtemp(prefix="scenario-")
        self._write_prescription()
        self.pump = Pump(
            rx=self.rx,
            start_s=BASE_S,
            now_ms=0,
            reservoir_ul=cfg.get("reservoir_ul", 20000),
            concentration_ug_per_ml=cfg.get("concentration_ug_per_ml", 1000),
            basal_ug_per_h=cfg.get("basal_ug_per_h", 0),
            low_reservoir_ul=cfg.get("low_reservoir_ul", 2000),
        )
        if self.key is not None:
            self.pump.verify_bolus = pump_auth.make_pump_verifier(self.key, store=self.pump)
        self.port = PumpPort(self.pump, on_event=self._pump_event)
        self.hh = Handheld(os.path.join(self.folder, "handheld"), interpreter, heap, root, code)
        self.interpreter = interpreter
        self.t_ms = 0
        self._boot_t = 0
        self.boots = 0
        # link
        self._init_link_faults()
        self._to_hh = bytearray()
        self._waiting_since = None  # an exchange went unanswered at this time
        self._polled_at = -1  # virtual time of the firmware's last poll
        self._last_fail = -(10**9)
        self._synced = False  # the handheld logged SYNCED since its last boot
        self._uncertain = set()  # request ids logged UNCERTAIN and not yet SETTLED
        # button
        self.level = False
        self._button = []  # [(t_ms, level)] sorted, future changes
        self._last_change = -(10**9)
        self._bounce_until = -1
        # what the patient sees
        self.display = []
        self.indicator = ("off", False)
        self.buzzer = 0
        self.beeps = 0  # step reports in which a tone sounded
        self.last_beep = 0  # its frequency
        # outcomes
        self.counts = {"granted": 0, "denied": 0, "uncertain": 0, "delivered": 0}
        self.reasons = {}
        self._pending = {}  # request_id -> t_ms of GRANTED, until an outcome is logged
        self.records = []  # every firmware log record seen, (t_ms, Record)
        self.deliveries = []  # (t_ms, request_id, dose_ug) from the pump's record
        self.steps = 0  # step reports (round trips)
        self.polls = 0  # poll times the step plan offered the firmware (a batch: one every idle ms)
        self.wakes = 0  # polls the firmware made (tickless: only those at or after a deadline)
        self._wakes_before = 0  # ... in the boots before this one
        self.wall_s = 0.0
        self.closed = False

    # ---- set-up --------------------------------------------------------------------------
    def _write_prescription(self):
        """Provision the handheld as the clinic would: paired (key.bin) with a signed rx.bin,
        or, unpaired, the development board's plain rx.txt."""
        hh = os.path.join(self.folder, "handheld")
        os.makedirs(hh, exist_ok=True)
        for name in ("rx.txt", rxstore.RX_FILE, rxstore.KEY_FILE):
            if os.path.exists(os.path.join(hh, name)):
                os.remove(os.path.join(hh, name))
        if self.key is not None:
            with open(os.path.join(hh, rxstore.KEY_FILE), "wb") as f:
                f.write(self.key)
        if self.rx is None:
            return
        if self.key is not None:
            with open(os.path.join(hh, rxstore.RX_FILE), "wb") as f:
                f.write(rx_sign.sign(self.rx, self.key))
            return
        text = " ".join("%s=%d" % (k, getattr(self.rx, k)) for k in prescription.FIELDS) + "\n"
        with open(os.path.join(hh, "rx.txt"), "w") as f:
            f.write(text)

    def emit(self, event, t_ms=None):
        out = {"t": t_s(self.t_ms if t_ms is None else t_ms)}
        out.update(event)
        if self.emit_cb is not None:
            self.emit_cb(out)

    def start(self):
        t0 = time.perf_counter()
        self._boot(FIRST_TICKS)
        self.wall_s += time.perf_counter() - t0

    def _boot(self, start_ticks):
        self.boots += 1
        self._wakes_before = self.wakes
        self._synced = False
        self._boot_t = self._polled_at = self.t_ms
        rep = self.hh.boot(start_ticks)
        self.polls += 1
        self._on_report(rep)
        if rep.tx:
            self._to_pump(rep.tx)

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.hh.stop()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    # ---- time ----------------------------------------------------------------------------
    def _rates(self):
        """(ms to the next step, ms between the firmware's own polls after it or 0)."""
        if self.t_ms < self._bounce_until:
            return BOUNCE_MS, 0
        if self.level or self.t_ms - self._last_change < BUTTON_SETTLE_MS:
            return FINE_MS, FINE_MS  # the gesture sees every poll (in a batch, no round trips)
        idle = self.quiet_ms
        if not self._synced or self._uncertain or self.t_ms - self._last_fail < RECENT_FAIL_MS:
            idle = IDLE_MS
        if self._waiting_since is not None:
            if self.t_ms - self._waiting_since < WAIT_WINDOW_MS:
                idle = WAIT_DOWN_MS if self.link_down else WAIT_MS
            else:
                self._waiting_since = None
        return (FINE_MS if self._to_hh else idle), idle

    def _plan(self, limit):
        """(time of the next step, idle ms, until) for the next step before `limit`. When
        the button is at rest the step is a batch: the firmware keeps polling every `idle` ms
        on its own until it writes or logs something, or `until`."""
        dt, idle = self._rates()
        nt = self.t_ms + dt
        nb = self._button[0][0] if self._button else None
        if nb is not None and nb < nt:
            nt = max(nb, self.t_ms + 1)
        nt = min(nt, limit)
        if not idle:
            return nt, 0, 0
        until = min(limit, nt + MAX_BATCH_MS)
        if nb is not None:
            until = min(until, nb)
        if idle == FINE_MS and not self.level:
            until = min(until, self._last_change + BUTTON_SETTLE_MS)
        elif idle < IDLE_MS and self._waiting_since is not None:
            until = min(until, self._waiting_since + WAIT_WINDOW_MS)
        return nt, idle, until

    def run_until(self, t_ms, max_steps=None, max_wall_s=None):
        """Step the world at every time the stepping rule picks before t_ms (not at t_ms);
        returns early after max_steps or max_wall_s (the simulator stays responsive)."""
        t0 = time.perf_counter()
        n = 0
        try:
            while True:
                nt, idle, until = self._plan(t_ms)
                if nt >= t_ms:
                    return True
                self._step(nt, idle, until)
                n += 1
                if max_steps is not None and n >= max_steps:
                    return False
                if max_wall_s is not None and (n & 7) == 0 and time.perf_counter() - t0 > max_wall_s:
                    return False
        finally:
            self.wall_s += time.perf_counter() - t0

    def step_at(self, t_ms):
        """A step at t_ms (or now, if later), unless the firmware has just polled then."""
        if t_ms <= self._polled_at:
            return
        t0 = time.perf_counter()
        self._step(max(t_ms, self.t_ms))
        self.wall_s += time.perf_counter() - t0

    def advance_to(self, t_ms):
        """Run up to t_ms and take a step there."""
        self.run_until(t_ms)
        self.step_at(t_ms)

    def _step(self, t, idle=0, until=0):
        self.t_ms = self._polled_at = t
        out = self.port.poll(t)  # advances the pump; ALARM frames come out
        if out:
            self._to_handheld(out)
        while self._button and self._button[0][0] <= t:
            self._set_level(self._button.pop(0)[1])
        rx = bytes(self._to_hh)
        self._to_hh = bytearray()
        boot = self._boot_t
        rep = self.hh.step(t - boot, self.level, rx, idle, until - boot if idle else 0, self.watch)
        self.steps += 1
        self.polls += 1
        end = boot + rep.t
        if end > t:  # the firmware polled on its own up to `end`
            self.polls += (end - t) // idle
            self.t_ms = self._polled_at = end
            out = self.port.poll(end)
            if out:
                self._to_handheld(out)
        self._on_report(rep)
        if rep.tx:
            self._to_pump(rep.tx)

    def _to_pump(self, tx):
        data, clean = self._faulty(tx, "to_pump")
        reply = self.port.feed(data) if data else b""
        if reply:
            ok = self._to_handheld(reply)
            clean = clean and ok
        else:
            clean = False
        if clean:
            self._waiting_since = None
        else:
            self._waiting_since = self._last_fail = self.t_ms

    def _to_handheld(self, data):
        data, clean = self._faulty(data, "to_handheld")
        self._to_hh.extend(data)
        return clean

    # ---- the button ----------------------------------------------------------------------
    def _set_level(self, level):
        level = bool(level)
        if level != self.level:
            self.level = level
            self._last_change = self.t_ms

    def set_button(self, level):
        """The patient's finger, now (the simulator's mouse and `t` key)."""
        self._button = []
        self._set_level(level)

    def _schedule(self, changes):
        self._button = sorted(self._button + changes, key=lambda c: c[0])

    def press(self, hold_ms=PRESS_HOLD_MS):
        t = self.t_ms
        self._schedule([(t, True), (t + int(hold_ms), False)])

    def tap(self):
        self.press(TAP_MS)

    def hold(self, seconds):
        self.press(int(seconds * 1000))

    def bounce(self):
        """A noisy press: contacts flap every 1-5 ms for 60 ms, settle down for 350 ms, flap
        again for 40 ms and let go; well under the 1 s hold."""
        rng = self.misc_rng
        t = self.t_ms
        changes = []
        level = False
        end = t + 60
        while t < end:
            level = not level
            changes.append((t, level))
            t += 1 + rng.below(5)
        changes.append((t, True))
        t += 350
        end = t + 40
        while t < end:
            level = not level
            changes.append((t, level))
            t += 1 + rng.below(5)
        changes.append((t, False))
        self._bounce_until = t + 1
        self._schedule(changes)

    # ---- the handheld --------------------------------------------------------------------
    def reboot(self):
        """The handheld loses power between two steps and starts again on the same storage."""
        self.emit({"event": "reboot"})
        self.hh.stop()
        # Requests still pending stay so: the next boot logs them as uncertain.
        self._to_hh = bytearray()
        self._waiting_since = None
        start = self.misc_rng.below(ticks.PERIOD)
        t0 = time.perf_counter()
        self._boot(start)
        self.wall_s += time.perf_counter() - t0

    def _pump_at_now(self):
        out = self.port.poll(self.t_ms)
        if out:
            self._to_handheld(out)

    def pump_alarm(self, name):
        self._pump_at_now()
        self.pump.raise_alarm(name)

    def pump_clear(self, name=None):
        self._pump_at_now()
        names = [name] if name else list(ALARM_BITS)
        for n in names:
            self.pump.clear_alarm(n)

    def pump_clock(self, delta_s):
        """Someone sets the pump's clock `delta_s` seconds forward (or back)."""
        self._pump_at_now()
        self.pump.set_clock(delta_s)

    def pump_refill(self, reservoir_ul=None):
        self._pump_at_now()
        self.pump.refill(reservoir_ul if reservoir_ul is not None else 20000)

