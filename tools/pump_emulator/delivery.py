"""The emulated pump's clocks and the motor: the source clock the emulator runs on, the
monotonic clock its limits count on and the settable clock it reports; virtual time moving
the basal and a bolus out of the reservoir, and a bolus's progress, end and events.

The first part of `tools.pump_emulator.pump.Pump`, which Limits, Record and Pump extend in
turn (the state is set up by `Pump.__init__`).
"""

from typing import Any, Callable

from firmware import messages as m

PROGRESS_STEP_PCT = 10  # a 'progress' delivery event every this many percent
STARTED = (m.BOLUS_DELIVERING, m.BOLUS_COMPLETE, m.BOLUS_STOPPED)  # a bolus that started


class Delivery:
    # Set up by Pump.__init__ (declared here for the type checker).
    now_ms: int
    _t0_ms: int
    _source_ms0: int
    _source_t0_ms: int
    _mono_ms0: int
    _offset_ms: int
    _clock_set_ms: int
    _reservoir_ng: int
    concentration: Any
    low_reservoir_ul: Any
    _latched: int
    _alarms_seen: int
    _basal_anchor: int
    _basal_done_ng: int
    _active: Any
    basal_ug_per_h: Any
    _emit: Callable[[dict], None]
    _check_alarms: Callable[[], None]
    save: Callable[[], None]

    # ---- time ---------------------------------------------------------------------------------
    @property
    def source_ms(self):
        """The reading of the clock the emulator runs on (ms): the host's clock, or --start-s
        plus virtual time. Never set by the pump's operator; a restart measures the time the
        pump was off on it."""
        return self._source_ms0 + self.now_ms - self._source_t0_ms

    @property
    def mono_ms(self):
        """The pump's monotonic clock (ms): counts real running time, never set, never back."""
        return self._mono_ms0 + self.now_ms - self._t0_ms

    @property
    def mono_s(self):
        return self.mono_ms // 1000

    @property
    def pump_ms(self):
        """The pump's settable clock (ms), the time it reports."""
        return self._offset_ms + self.mono_ms

    @property
    def pump_time(self):
        """Pump time in whole seconds (u32 on the wire). It neither wraps nor reaches
        0xFFFFFFFF: from 0 to PUMP_TIME_MAX, where it stays (the year 2106 in Unix time)."""
        return min(max(0, self.pump_ms // 1000), m.PUMP_TIME_MAX)

    def clock_set_s(self):
        """How far the clock has been set (s), forward minus back, since the record began."""
        return self._clock_set_ms // 1000

    def set_clock(self, delta_s):
        """Someone sets the pump's clock `delta_s` seconds forward (or back): daylight saving, a
        clinic visit. Only the reported time moves; the limits keep counting real time, and
        every start the pump reports from now on is expressed in the new clock. A set that
        would take the clock below 0 or past PUMP_TIME_MAX is refused (ValueError)."""
        after = self.pump_ms // 1000 + delta_s
        if not 0 <= after <= m.PUMP_TIME_MAX:
            raise ValueError("the pump's clock cannot be set outside 0..%d s (it would read %d)" % (m.PUMP_TIME_MAX, after))
        self._offset_ms += delta_s * 1000
        self._clock_set_ms += delta_s * 1000
        self._emit({"event": "clock_set", "delta_s": delta_s})
        self.save()

    def start_now_s(self, entry):
        """When `entry` started, in the pump's clock as it reads now: now minus the bolus's age
        on the monotonic clock. A clock set after the start moves this with it, so a handheld
        that learns the start after the clock was set still counts the real time since it."""
        if entry["status"] not in STARTED:
            return 0
        return max(0, self.pump_time - (self.mono_s - entry["start_mono_s"]))

    def advance(self, ms):
        self.advance_to(self.now_ms + ms)

    def advance_to(self, ms):
        """Run the pump up to virtual time `ms` (never backwards): basal, bolus, alarms."""
        stalled = 0
        while self.now_ms < ms:
            before = self.now_ms
            target = ms
            act = self._active
            if act is not None and act["end_ms"] < target:
                target = act["end_ms"]
            self._account(target)
            act = self._active
            if act is not None and self.now_ms >= act["end_ms"]:
                self._finish_bolus(m.BOLUS_COMPLETE, "complete")
            self._check_alarms()
            stalled = stalled + 1 if self.now_ms == before else 0
            if stalled > 2:  # cannot happen (running dry raises a high alarm); never spin
                self.now_ms = ms

    def _basal_ng(self, t):
        if self._alarms_seen & m.HIGH_PRIORITY_MASK:
            return 0
        return int(self.basal_ug_per_h * (t - self._basal_anchor) // 3600)  # µg/h * ms / 3600 = ng

    def _bolus_ng(self, t):
        act = self._active
        if act is None:
            return 0
        elapsed = t - act["start_ms"]
        if elapsed >= act["dur_ms"]:
            return act["dose_ng"]
        return act["dose_ng"] * max(elapsed, 0) // act["dur_ms"]

    def _demand(self, t):
        """Nanograms the motor wants to move between the last accounting point and t."""
        d = self._basal_ng(t) - self._basal_done_ng
        act = self._active
        if act is not None:
            d += self._bolus_ng(t) - act["done_ng"]
        return d

    def _account(self, t):
        """Move drug from the reservoir up to time t; stops at the instant it runs dry."""
        left = self._reservoir_ng
        if self._demand(t) > left:
            lo, hi = self.now_ms, t  # first ms at which demand reaches what is left
            while lo < hi:
                mid = (lo + hi) // 2
                if self._demand(mid) >= left:
                    hi = mid
                else:
                    lo = mid + 1
            t = lo
        basal = self._basal_ng(t) - self._basal_done_ng
        bolus = 0
        act = self._active
        if act is not None:
            bolus = self._bolus_ng(t) - act["done_ng"]
        if basal + bolus > left:  # the last millisecond: the bolus gets what remains after basal
            basal = min(basal, left)
            bolus = left - basal
        self._basal_done_ng += basal
        self._reservoir_ng = left - basal - bolus
        self.now_ms = t
        if act is not None:
            act["done_ng"] += bolus
            self._set_delivered(act)

    def _rebase_basal(self):
        self._basal_anchor = self.now_ms
        self._basal_done_ng = 0

    # ---- the reservoir and the alarms it raises ---------------------------------------------
    @property
    def reservoir_ug(self):
        return self._reservoir_ng // 1000

    @property
    def alarms(self):
        mask = self._latched
        if self._reservoir_ng <= 0:
            mask |= m.ALARM_EMPTY_RESERVOIR
        if self._reservoir_ng < self.low_reservoir_ul * self.concentration:
            mask |= m.ALARM_LOW_RESERVOIR
        return mask

    # ---- a bolus on its way ---------------------------------------------------------------------
    def _set_delivered(self, act):
        entry = act["entry"]
        entry["delivered_ug"] = act["done_ng"] // 1000
        if act["dose_ng"]:
            step = act["done_ng"] * 100 // act["dose_ng"] // PROGRESS_STEP_PCT
            if step > act["step"] and act["done_ng"] < act["dose_ng"]:
                act["step"] = step
                self._emit(self._delivery("progress", entry))
                self.save()

    def _delivery(self, phase, entry, why=None):
        ev = {
            "event": "delivery",
            "phase": phase,
            "request_id": entry["request_id"],
            "dose_ug": entry["dose_ug"],
            "delivered_ug": entry["delivered_ug"],
            "start_s": entry["start_s"],
            "start_mono_s": entry["start_mono_s"],
        }
        if why:
            ev["why"] = why
        return ev

    def _finish_bolus(self, status, why):
        act = self._active
        if act is None:
            return
        self._active = None
        entry = act["entry"]
        if status == m.BOLUS_COMPLETE:
            entry["delivered_ug"] = entry["dose_ug"]
        entry["status"] = status
        entry["end_s"] = self.pump_time
        if status == m.BOLUS_COMPLETE:
            self._emit(self._delivery("complete", entry))
        else:
            self._emit(self._delivery("stopped", entry, why))
        self.save()

    def active_bolus(self):
        """The entry of the bolus being delivered, or None."""
        return None if self._active is None else self._active["entry"]
