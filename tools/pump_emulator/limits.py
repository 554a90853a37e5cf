"""The emulated pump's own limits (defence in depth, whatever the handheld decided): the
prescription's dose, stale requests, alarms, one bolus at a time, the reservoir, the lockout,
the 24 h maximum and the amount cap, all counted on the monotonic clock.

A part of `tools.pump_emulator.pump.Pump`: it extends Delivery, Record extends it.
"""

from typing import Any

from firmware import messages as m
from tools.pump_emulator.delivery import STARTED, Delivery

DAY_S = 86400
STALE_S = 30  # a request captured more than this before (or after) pump time is stale


class Limits(Delivery):
    # Set up by Pump.__init__ (declared here for the type checker).
    rx: Any
    boluses: dict
    stale_s: int

    def _started(self):
        return [e for e in self.boluses.values() if e["status"] in STARTED]

    def started_within(self, window_s):
        """The entries of boluses that started in the last `window_s` seconds (monotonic)."""
        mono = self.mono_s
        return [e for e in self._started() if e["start_mono_s"] > mono - window_s]

    def starts(self):
        """Start times (pump s, as recorded at the start) of every bolus that started
        (delivering, complete, stopped)."""
        return sorted(e["start_s"] for e in self._started())

    def check_bolus(self, fields, now_s=None):
        """The pump's own limits, in order; returns a pump reason code (0 = deliver). The
        authentication hook runs before this, in bolus_request. Lockout, the 24 h maximum and
        the amount cap count on the monotonic clock: setting the pump's clock opens none."""
        if now_s is None:
            now_s = self.pump_time
        rx = self.rx
        if rx is None:
            return m.R_NO_PRESCRIPTION
        if fields["dose_ug"] != rx.dose_ug or fields["duration_s"] != rx.duration_s:
            return m.R_DOSE_MISMATCH
        started = self._started()
        last = max(started, key=lambda e: e["start_mono_s"]) if started else None
        captured = fields["captured_s"]
        if captured + self.stale_s < now_s or captured > now_s + self.stale_s:
            return m.R_STALE
        if last is not None and captured < self.start_now_s(last):
            return m.R_STALE
        if self.alarms & m.HIGH_PRIORITY_MASK:
            return m.R_ALARM
        if self._active is not None:
            return m.R_BUSY
        if self._reservoir_ng < rx.dose_ug * 1000:
            return m.R_RESERVOIR
        if last is not None and self.mono_s < last["start_mono_s"] + rx.lockout_s:
            return m.R_LOCKOUT
        if len(self.started_within(DAY_S)) >= rx.max_per_24h:
            return m.R_MAX_24H
        if rx.cap_ug and rx.cap_window_s:
            if self.window_amount_ug(rx.cap_window_s) + rx.dose_ug > rx.cap_ug:
                return m.R_AMOUNT_CAP
        return m.R_OK

    def window_amount_ug(self, window_s):
        """What counts against the amount cap over the last `window_s` seconds (monotonic):
        the full dose of every bolus whose delivery overlaps the window (stopped ones too,
        fail safe), plus the basal rate over the whole window, rounded up."""
        mono = self.mono_s
        total = -(-self.basal_ug_per_h * window_s // 3600)
        for e in self._started():
            if e["start_mono_s"] + e["duration_s"] > mono - window_s:
                total += e["dose_ug"]
        return total
