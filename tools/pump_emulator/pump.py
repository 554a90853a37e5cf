"""The emulated implanted pump: reservoir, basal rate, boluses, alarms and its own limits.

`Pump(rx=..., record_path=...)` lives in injected virtual time: call `advance_to(ms)` /
`advance(ms)`, then `handle(msg_type, fields) -> (reply_type, reply_fields)` for each request.
No I/O other than its record file (JSON, atomic replace); `tools.pump_emulator.port` adds bytes.
Its parts: delivery.py (clocks and the motor), limits.py (its own limits), record.py (the
record file and history); here the state, the reservoir and alarms, and the requests.
"""

from firmware import messages as m
from tools.pump_emulator.delivery import PROGRESS_STEP_PCT, STARTED  # noqa: F401  (re-exported)
from tools.pump_emulator.limits import DAY_S, STALE_S  # noqa: F401
from tools.pump_emulator.record import CLOCKS_NOTE, RECORD_FORMAT, Record, RecordError  # noqa: F401

DEFAULT_PUMP_ID = 0x50554D50  # "PUMP" in ASCII, big-endian
DEFAULT_START_S = 1000000
ALARM_BITS = {name: bit for bit, name in m.ALARM_NAMES.items()}  # 'motor_stall' -> 0x04


def _alarm_bit(alarm):
    if isinstance(alarm, str):
        if alarm not in ALARM_BITS:
            raise ValueError("unknown alarm %r (known: %s)" % (alarm, ", ".join(sorted(ALARM_BITS))))
        return ALARM_BITS[alarm]
    return int(alarm)


class Pump(Record):
    """One pump. Time is virtual: `now_ms` only moves through `advance_to`/`advance`.

    Units: reservoir in nanograms internally (volume_ul * concentration_ug_per_ml), reported in
    µg; basal in µg/h drained continuously (suspended while a high-priority alarm is active);
    a bolus of dose_ug is delivered linearly over duration_s.
    """

    def __init__(self, rx=None, pump_id=DEFAULT_PUMP_ID, start_s=DEFAULT_START_S, now_ms=0, reservoir_ul=20000,
                 concentration_ug_per_ml=1000, basal_ug_per_h=0, low_reservoir_ul=2000, record_path=None,
                 on_event=None, verify_bolus=None, stale_s=STALE_S, autosave=True):
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

    # ---- alarms ---------------------------------------------------------------------------------
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

    # ---- restarts -------------------------------------------------------------------------------
    def reopened(self, on_event=None):
        """Stop this pump and start a new one from its record file, as a new emulator process
        with the same options would, its source clock reading on from this one's (an instant
        restart; the lag under 1 s of whole seconds is fail-safe). The authentication hook is
        not carried over: the caller sets it on the new pump."""
        if self.record_path is None:
            raise ValueError("a pump without a record file can only restart() in place")
        self.shutdown()
        return Pump(rx=self.rx, pump_id=self.pump_id, start_s=self.source_ms // 1000, now_ms=self.now_ms,
                    concentration_ug_per_ml=self.concentration, basal_ug_per_h=self.basal_ug_per_h,
                    low_reservoir_ul=self.low_reservoir_ul, record_path=self.record_path, on_event=on_event,
                    stale_s=self.stale_s, autosave=self.autosave)

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
