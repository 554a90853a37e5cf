"""The emulated implanted pump: reservoir, basal rate, boluses, alarms and its own limits.

`Pump(rx=..., record_path=...)` lives in injected virtual time: call `advance_to(ms)` /
`advance(ms)`, then `handle(msg_type, fields) -> (reply_type, reply_fields)` for each request.
No I/O other than its record file (JSON, atomic replace); `tools.pump_emulator.port` adds bytes.
"""

import json
import os

from firmware import messages as m

DAY_S = 86400
STALE_S = 30  # a request captured more than this before (or after) pump time is stale
PROGRESS_STEP_PCT = 10  # a 'progress' delivery event every this many percent
RECORD_FORMAT = 1
DEFAULT_PUMP_ID = 0x50554D50  # "PUMP" in ASCII, big-endian
DEFAULT_START_S = 1000000
# Written into every record, so that whoever reads one knows what its clocks are.
CLOCKS_NOTE = (
    "mono_ms: the pump's monotonic clock, never set, on which lockout, 24 h maximum and amount cap "
    "count; pump_ms: the clock the pump reports, mono_ms plus how far it was set (clock_set_ms "
    "in all); source_ms: the clock the emulator runs on (the host's) when this was written. A "
    "restart resumes mono_ms plus max(0, source clock now - source_ms) and keeps the offset."
)

_STARTED = (m.BOLUS_DELIVERING, m.BOLUS_COMPLETE, m.BOLUS_STOPPED)
ALARM_BITS = {name: bit for bit, name in m.ALARM_NAMES.items()}  # 'motor_stall' -> 0x04


class RecordError(Exception):
    """The record file cannot be read or is not a pump record; `.reason` is a sentence."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _alarm_bit(alarm):
    if isinstance(alarm, str):
        if alarm not in ALARM_BITS:
            raise ValueError("unknown alarm %r (known: %s)" % (alarm, ", ".join(sorted(ALARM_BITS))))
        return ALARM_BITS[alarm]
    return int(alarm)


class Pump:
    """One pump. Time is virtual: `now_ms` only moves through `advance_to`/`advance`.

    Units: reservoir in nanograms internally (volume_ul * concentration_ug_per_ml), reported in
    µg; basal in µg/h drained continuously (suspended while a high-priority alarm is active);
    a bolus of dose_ug is delivered linearly over duration_s.
    """

    def __init__(
        self,
        rx=None,
        pump_id=DEFAULT_PUMP_ID,
        start_s=DEFAULT_START_S,
        now_ms=0,
        reservoir_ul=20000,
        concentration_ug_per_ml=1000,
        basal_ug_per_h=0,
        low_reservoir_ul=2000,
        record_path=None,
        on_event=None,
        verify_bolus=None,
        stale_s=STALE_S,
        autosave=True,
    ):
        self.rx = rx
        self.pump_id = pump_id
        self.concentration = concentration_ug_per_ml
        self.basal_ug_per_h = basal_ug_per_h
        self.low_reservoir_ul = low_reservoir_ul
        self.record_path = record_path
        self.on_event = on_event
        self.verify_bolus = verify_bolus  # fields -> pump reason code (0 accepts)
        self.stale_s = stale_s
        # True: the record is written at every change, as a pump must. False: only by
        # shutdown() and restart() (a soak's speed; what a crash would lose is not checked).
        self.autosave = autosave
        self.persisted = {}  # JSON-safe values plugins keep across restarts (e.g. auth counter)
        self.now_ms = now_ms
        self._t0_ms = now_ms
        # Three clocks. The source the emulator runs on (the host's clock, or --start-s) reads
        # `start_s` at `now_ms`; only a restart compares two of its readings, to learn how long
        # the pump was off. A monotonic one that nobody can set, on which the pump's limits
        # run. And the settable clock the pump reports, kept as an offset from the monotonic one.
        self._source_ms0 = start_s * 1000
        self._source_t0_ms = now_ms
        self._mono_ms0 = 0
        self._offset_ms = start_s * 1000
        self._clock_set_ms = 0  # how far the clock has been set, in all (kept in the record)
        self._reservoir_ng = int(round(reservoir_ul * concentration_ug_per_ml))
        self._latched = 0  # alarms raised by hand (motor_stall, battery_eri, ...)
        self.boluses = {}  # request_id -> entry dict (the persistent record)
        self._order = []  # request ids in the order they were first seen
        self._active = None  # the bolus being delivered (dict), or None
        self._basal_anchor = now_ms
        self._basal_done_ng = 0
        self._alarms_seen = 0
        self._memory_record = None  # the record when there is no file (for restart())
        loaded = self._read_record()
        if loaded is not None:
            self._apply_record(loaded)
        self._alarms_seen = self.alarms
        self._rebase_basal()
        if loaded is not None:
            self.save()

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
        if entry["status"] not in _STARTED:
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

    # ---- reservoir and alarms ------------------------------------------------------------------
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

    def raise_alarm(self, alarm):
        """Latch an alarm by name ('motor_stall') or bit; a high one stops a running bolus."""
        self._latched |= _alarm_bit(alarm)
        self._check_alarms()

    def clear_alarm(self, alarm):
        """Clear a latched alarm (a reservoir alarm stays while the reservoir is low/empty)."""
        self._latched &= ~_alarm_bit(alarm)
        self._check_alarms()

    def refill(self, volume_ul, concentration_ug_per_ml=None):
        """The clinic refills the reservoir (replacing its content)."""
        if concentration_ug_per_ml is not None:
            self.concentration = concentration_ug_per_ml
        self._reservoir_ng = int(round(volume_ul * self.concentration))
        self._emit({"event": "refill", "reservoir_ug": self.reservoir_ug})
        self._check_alarms()
        self.save()

    def set_basal(self, ug_per_h):
        self._rebase_basal()
        self.basal_ug_per_h = ug_per_h

    def _check_alarms(self):
        new = self.alarms
        old = self._alarms_seen
        if new == old:
            return
        high_changed = bool(new & m.HIGH_PRIORITY_MASK) != bool(old & m.HIGH_PRIORITY_MASK)
        self._alarms_seen = new
        if high_changed:
            self._rebase_basal()  # basal runs only without a high-priority alarm
        self._emit(
            {
                "event": "alarm",
                "alarms": new,
                "raised": new & ~old,
                "names": m.alarm_names(new),
                "raised_names": m.alarm_names(new & ~old),
            }
        )
        if new & m.HIGH_PRIORITY_MASK and self._active is not None:
            self._finish_bolus(m.BOLUS_STOPPED, "alarm")
        self.save()

    # ---- boluses --------------------------------------------------------------------------------
    def _started(self):
        return [e for e in self.boluses.values() if e["status"] in _STARTED]

    def started_within(self, window_s):
        """The entries of boluses that started in the last `window_s` seconds (monotonic)."""
        mono = self.mono_s
        return [e for e in self._started() if e["start_mono_s"] > mono - window_s]

    def starts(self):
        """Start times (pump s, as recorded at the start) of every bolus that started
        (delivering, complete, stopped)."""
        return sorted(e["start_s"] for e in self._started())

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

    def bolus_request(self, fields):
        """Apply a BOLUS_REQ (decoded fields) at most once; returns the BOLUS_ACK fields. A
        request_id already in the record gets the very ack it got the first time. Order: the
        record (duplicates), then `verify_bolus` (refusals not recorded), then check_bolus."""
        rid = fields["request_id"]
        now_s = self.pump_time
        if not 1 <= rid <= m.REQUEST_ID_MAX:
            # No handheld picks such an id: answered, not recorded, so it cannot become SYNC's
            # last id and exhaust the handheld's ids.
            self._emit({"event": "refused", "request_id": rid, "reason": m.R_BAD_ID, "reason_name": "bad_id", "recorded": False})
            return {"request_id": rid, "accepted": 0, "reason": m.R_BAD_ID, "start_s": 0, "pump_time": now_s}
        old = self.boluses.get(rid)
        if old is not None:
            self._emit({"event": "duplicate", "request_id": rid, "ack": old["ack"]})
            return self._restated_ack(old)
        if self.verify_bolus is not None:
            code = self.verify_bolus(fields)
            if code:
                # Not authentic: answered but not recorded, so a forged frame cannot use up
                # (and so block) the request id of a genuine request to come.
                self._emit(
                    {
                        "event": "refused",
                        "request_id": rid,
                        "reason": code,
                        "reason_name": m.PUMP_REASONS.get(code, "?"),
                        "recorded": False,
                    }
                )
                return {"request_id": rid, "accepted": 0, "reason": code, "start_s": 0, "pump_time": now_s}
        reason = self.check_bolus(fields, now_s)
        entry = {
            "judged_mono_s": self.mono_s,
            "request_id": rid,
            "status": m.BOLUS_REFUSED,
            "start_s": 0,
            "dose_ug": fields["dose_ug"],
            "duration_s": fields["duration_s"],
            "delivered_ug": 0,
            "captured_s": fields["captured_s"],
            "reason": reason,
            "start_mono_s": 0,
        }
        if reason == m.R_OK:
            entry["status"] = m.BOLUS_DELIVERING
            entry["start_s"] = now_s
            entry["start_mono_s"] = self.mono_s
        entry["ack"] = {
            "request_id": rid,
            "accepted": 1 if reason == m.R_OK else 0,
            "reason": reason,
            "start_s": entry["start_s"],
            "pump_time": now_s,
        }
        self.boluses[rid] = entry
        self._order.append(rid)
        if reason == m.R_OK:
            self._active = {
                "entry": entry,
                "start_ms": self.now_ms,
                "dur_ms": fields["duration_s"] * 1000,
                "end_ms": self.now_ms + fields["duration_s"] * 1000,
                "dose_ng": fields["dose_ug"] * 1000,
                "done_ng": 0,
                "step": 0,
            }
        try:
            self.save()  # committed before the motor turns and before the ack leaves
        except OSError:
            del self.boluses[rid]
            self._order.pop()
            self._active = None
            raise
        if reason == m.R_OK:
            self._emit(self._delivery("start", entry))
        else:
            self._emit(
                {
                    "event": "refused",
                    "request_id": rid,
                    "reason": reason,
                    "reason_name": m.PUMP_REASONS.get(reason, "?"),
                }
            )
        return dict(entry["ack"])

    def _restated_ack(self, entry):
        """The ack an id got when it was first judged, its times restated in the clock as it
        reads now: `start_s` as `start_now_s`, `pump_time` as the time of that judgement
        (now minus its age on the monotonic clock). Byte for byte the first ack until the
        clock is set."""
        ack = dict(entry["ack"])
        judged = entry.get("judged_mono_s")
        if judged is None:  # a record from before the judgement time was kept
            judged = entry["start_mono_s"] if ack["accepted"] else None
        if judged is not None:
            restated = self.pump_time - (self.mono_s - judged)
            if restated != ack["pump_time"]:
                ack["pump_time"] = max(0, restated)
        if ack["accepted"]:
            ack["start_s"] = self.start_now_s(entry)
        return ack

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

    # ---- the record ----------------------------------------------------------------------------
    def history(self):
        """(request_id, start_s, dose_ug, status) newest first: every bolus that started in the
        last 86400 s + one lockout (monotonic), or is still running. start_s is in the clock
        as it reads now (`start_now_s`)."""
        lockout = self.rx.lockout_s if self.rx is not None else 0
        keep = self.started_within(DAY_S + lockout)
        act = self.active_bolus()
        if act is not None and act not in keep:
            keep.append(act)
        keep.sort(key=lambda e: (e["start_mono_s"], self._order.index(e["request_id"])), reverse=True)
        return [(e["request_id"], self.start_now_s(e), e["dose_ug"], e["status"]) for e in keep]

    def last_request_id(self):
        return max(self.boluses) if self.boluses else 0

    def _snapshot(self):
        return {
            "format": RECORD_FORMAT,
            "pump_id": self.pump_id,
            "pump_ms": self.pump_ms,
            "mono_ms": self.mono_ms,
            "source_ms": self.source_ms,
            "clock_set_ms": self._clock_set_ms,
            "clocks": CLOCKS_NOTE,
            "reservoir_ng": self._reservoir_ng,
            "concentration_ug_per_ml": self.concentration,
            "latched_alarms": self._latched,
            "persisted": self.persisted,
            "boluses": [self.boluses[rid] for rid in self._order],
        }

    def save(self):
        """The record changed: write it, unless `autosave` is off."""
        if self.autosave:
            self.write_record()

    def write_record(self):
        """Write the record (temp file + fsync + rename: old or new content, never a mix)."""
        snap = self._snapshot()
        if self.record_path is None:
            self._memory_record = json.loads(json.dumps(snap))
            return
        text = json.dumps(snap, separators=(",", ":"), sort_keys=True)
        tmp = self.record_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.record_path)

    def _read_record(self):
        if self.record_path is None:
            return self._memory_record
        try:
            with open(self.record_path) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise RecordError("cannot read the record file %s: %s" % (self.record_path, e.strerror))
        except UnicodeDecodeError:
            raise RecordError("the record file %s is not text (not a pump record)" % self.record_path)
        try:
            data = json.loads(text)
        except ValueError:
            raise RecordError("the record file %s is not valid JSON" % self.record_path)
        if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
            raise RecordError("the record file %s is not a pump record (format %d)" % (self.record_path, RECORD_FORMAT))
        return data

    def _apply_record(self, data):
        """Restore the persistent state; a bolus that was delivering is now stopped."""
        try:
            pump_ms = int(data["pump_ms"])
            mono_ms = int(data.get("mono_ms", pump_ms))  # a record from before the two clocks
            clock_set_ms = int(data.get("clock_set_ms", 0))
            # A record from before the source clock was kept: the pump clock without its sets.
            source_ms = int(data.get("source_ms", pump_ms - clock_set_ms))
            boluses = data["boluses"]
            entries = []
            for e in boluses:
                e = dict(e)
                e["request_id"] = int(e["request_id"])
                for key in ("status", "start_s", "dose_ug", "duration_s", "delivered_ug", "captured_s", "reason"):
                    e[key] = int(e[key])
                e["start_mono_s"] = int(e.get("start_mono_s", e["start_s"] - (pump_ms - mono_ms) // 1000))
                if "judged_mono_s" in e:
                    e["judged_mono_s"] = int(e["judged_mono_s"])
                ack = e["ack"]
                e["ack"] = {k: int(ack[k]) for k in ("request_id", "accepted", "reason", "start_s", "pump_time")}
                entries.append(e)
            reservoir_ng = int(data["reservoir_ng"])
            latched = int(data.get("latched_alarms", 0))
            persisted = data.get("persisted", {})
        except (KeyError, TypeError, ValueError):
            raise RecordError("the record file %s is damaged or incomplete" % self.record_path)
        # Across a restart the monotonic clock goes on from where it was, plus the time the
        # pump was off as the source clock measures it: its reading now minus its reading at
        # the last save (nothing, if it is behind: a real-time limit then lasts longer, never
        # shorter). The settable clock keeps its offset from the monotonic one, so a clock set
        # before the restart is neither undone nor counted as time that passed.
        passed = max(0, self.source_ms - source_ms)
        self._offset_ms = pump_ms - mono_ms
        self._mono_ms0 = mono_ms + passed
        self._clock_set_ms = clock_set_ms
        self._t0_ms = self.now_ms
        self.pump_id = int(data.get("pump_id", self.pump_id))
        self._reservoir_ng = reservoir_ng
        self.concentration = data.get("concentration_ug_per_ml", self.concentration)
        self._latched = latched
        self.persisted = persisted
        self.boluses = {}
        self._order = []
        for e in entries:
            self.boluses[e["request_id"]] = e
            self._order.append(e["request_id"])
            if e["status"] == m.BOLUS_DELIVERING:
                e["status"] = m.BOLUS_STOPPED
                e["end_s"] = self.pump_time
                self._emit(self._delivery("stopped", e, "restart"))

    def shutdown(self):
        """Stop cleanly: account delivery up to now and write the record."""
        self.write_record()

    def reopened(self, on_event=None):
        """Stop this pump and start a new one from its record file, as a new emulator process
        with the same options would, its source clock reading on from this one's (an instant
        restart; the lag under 1 s of whole seconds is fail-safe). The authentication hook is
        not carried over: the caller sets it on the new pump."""
        if self.record_path is None:
            raise ValueError("a pump without a record file can only restart() in place")
        self.shutdown()
        return Pump(
            rx=self.rx,
            pump_id=self.pump_id,
            start_s=self.source_ms // 1000,
            now_ms=self.now_ms,
            concentration_ug_per_ml=self.concentration,
            basal_ug_per_h=self.basal_ug_per_h,
            low_reservoir_ul=self.low_reservoir_ul,
            record_path=self.record_path,
            on_event=on_event,
            stale_s=self.stale_s,
            autosave=self.autosave,
        )

    def restart(self):
        """Power-cycle the pump at the current virtual time: the record is written, volatile
        state dropped and the record read back; a bolus in progress ends as stopped with what
        it had delivered."""
        self.write_record()
        data = self._read_record()
        self._active = None
        self._emit({"event": "restart"})
        self._apply_record(data)
        self._check_alarms()
        self._rebase_basal()
        self.save()

    # ---- requests -----------------------------------------------------------------------------
    def handle(self, msg_type, fields):
        """Answer one decoded request: returns (reply_type, reply_fields). Raises KeyError for a
        type the pump does not serve (the port NAKs it as unknown)."""
        now_s = self.pump_time
        if msg_type == m.SYNC_REQ:
            return m.SYNC, {
                "pump_id": self.pump_id,
                "pump_time": now_s,
                "alarms": self.alarms,
                "reservoir_ug": self.reservoir_ug,
                "last_request_id": self.last_request_id(),
                "history_count": min(len(self.history()), 255),
            }
        if msg_type == m.STATUS_REQ:
            act = self.active_bolus()
            return m.STATUS, {
                "pump_time": now_s,
                "alarms": self.alarms,
                "reservoir_ug": self.reservoir_ug,
                "bolus_id": act["request_id"] if act else 0,
                "bolus_delivered_ug": act["delivered_ug"] if act else 0,
                "bolus_dose_ug": act["dose_ug"] if act else 0,
            }
        if msg_type == m.BOLUS_REQ:
            return m.BOLUS_ACK, self.bolus_request(fields)
        if msg_type == m.RECORD_REQ:
            # Read-only, like every request but BOLUS_REQ: an unknown id is answered found=0
            # and nothing is recorded (a forged RECORD_REQ changes nothing). The handheld takes
            # found=0 as final only once the request could no longer be applied (stale).
            e = self.boluses.get(fields["request_id"])
            if e is None:
                return m.RECORD, {
                    "request_id": fields["request_id"],
                    "found": 0,
                    "status": 0,
                    "start_s": 0,
                    "dose_ug": 0,
                    "delivered_ug": 0,
                    "pump_time": now_s,
                }
            return m.RECORD, {
                "request_id": e["request_id"],
                "found": 1,
                "status": e["status"],
                "start_s": self.start_now_s(e),
                "dose_ug": e["dose_ug"],
                "delivered_ug": e["delivered_ug"],
                "pump_time": now_s,
            }
        if msg_type == m.HISTORY_REQ:
            hist = self.history()
            off = fields["offset"]
            return m.HISTORY, {
                "total": min(len(hist), 255),
                "offset": off,
                "boluses": hist[off : off + m.HISTORY_MAX],
            }
        raise KeyError(msg_type)

    def _emit(self, event):
        if self.on_event is not None:
            event["t_ms"] = self.now_ms
            event["pump_time"] = self.pump_time
            self.on_event(event)
