"""The scenario world's translation: what the firmware reported (screen, light, sound, log
records) and what the pump did become the scenario's JSON events, counted for the summary.

A mixin of `tools.scenario.world.World` (it uses `self.emit`, `self.trace`, `self.pump`,
`self.t_ms` and the counters `World.__init__` sets up).
"""

from typing import Callable

from firmware import eventlog as ev
from firmware import messages as m
from firmware import policy
from tools.pump_emulator.pump import Pump
from tools.scenario.common import BASE_S, NO_NEXT, t_s


class Translate:
    # Set up by World.__init__ (declared here for the type checker).
    emit: "Callable[..., None]"
    trace: bool
    pump: "Pump"
    t_ms: int
    counts: "dict[str, int]"
    reasons: dict
    records: list
    deliveries: list
    link_faults: "dict[str, int]"
    boots: int
    steps: int
    polls: int
    wakes: int
    _wakes_before: int
    _uncertain: set

    def _on_report(self, rep):
        self.wakes = self._wakes_before + rep.polls
        if rep.display is not None:
            self.display = rep.display
            if self.trace:
                self.emit({"event": "display", "lines": rep.display})
        if rep.indicator is not None:
            self.indicator = rep.indicator
            if self.trace:
                self.emit({"event": "indicator", "colour": rep.indicator[0], "blink": rep.indicator[1]})
        if rep.buzzer is not None:
            self.buzzer = rep.buzzer
            if self.trace:
                self.emit({"event": "buzzer", "hz": rep.buzzer})
        if rep.beep:
            self.beeps += 1
            self.last_beep = rep.beep
        for name, data in rep.appends:
            if name.startswith("events"):
                records, _bad = ev.decode_all(data)
                for r in records:
                    self._on_record(r)
        for line in rep.other:
            self.emit({"event": "firmware_output", "text": line})

    def _request(self, result, **fields):
        self.counts[result] += 1
        event = {"event": "request", "result": result}
        event.update(fields)
        if result == "denied":
            reason = fields.get("reason")
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
        self.emit(event)

    def _pump_t(self, s):
        """Scenario seconds for a time the handheld logged in the pump's clock, taking away
        what the clock has been set by (`pump clock`) so far."""
        return s - BASE_S - self.pump.clock_set_s()

    def _on_record(self, r):
        self.records.append((self.t_ms, r))
        k = r.kind
        if self.trace:
            self.emit({"event": "log", "kind": ev.KIND_NAMES.get(k, k), "seq": r.seq, "t_s": r.t_s, "a": r.a, "b": r.b, "c": r.c})
        if k == ev.GRANTED:
            self._pending[r.a] = self.t_ms
        elif k == ev.DENIED:
            nxt = None if r.b == NO_NEXT else self._pump_t(r.b)
            reason = policy.REASON_NAMES.get(r.a, "code_%d" % r.a)
            self._request("denied", reason=reason, next_available_t=nxt, source="handheld")
        elif k == ev.DELIVERED:
            self._pending.pop(r.a, None)
            self._request("granted", bolus_id=r.a, dose_ug=r.b, start_t=self._pump_t(r.c))
        elif k == ev.PUMP_REFUSED:
            self._pending.pop(r.a, None)
            reason = m.PUMP_REASONS.get(r.b, "pump_refused")
            self._request("denied", reason=reason, next_available_t=None, source="pump", bolus_id=r.a)
        elif k == ev.UNCERTAIN:
            self._uncertain.add(r.a)
            self.emit({"event": "uncertain", "bolus_id": r.a})
            if r.a in self._pending:
                del self._pending[r.a]
                self._request("uncertain", bolus_id=r.a)
        elif k == ev.SETTLED:
            self._uncertain.discard(r.a)
            event = {"event": "settled", "bolus_id": r.a, "delivered": bool(r.b)}
            if r.b:
                event["start_t"] = self._pump_t(r.c)
            self.emit(event)
        elif k == ev.ALARM:
            self.emit({"event": "alarm", "side": "handheld", "alarms": m.alarm_names(r.a), "raised": m.alarm_names(r.b)})
        elif k == ev.FAULT:
            self.emit({"event": "fault", "fault": ev.FAULT_NAMES.get(r.a, "code_%d" % r.a), "detail": r.b})
        elif k == ev.BOOT:
            event = {"event": "boot", "boot": r.a}
            if r.b:
                event["torn_bytes"] = r.b
            self.emit(event)
        elif k == ev.SYNCED:
            self._synced = True
            self.emit({"event": "synced", "history": r.b})
        elif k == ev.RX_CHANGE:
            self.emit({"event": "rx_change", "version": r.a, "accepted": bool(r.b), "code": r.c})

    # ---- the pump ----------------------------------------------------------------------
    def _pump_event(self, e):
        kind = e.get("event")
        t = e.get("t_ms", self.t_ms)
        if kind == "delivery":
            phase = e["phase"]
            if phase == "start":
                self.counts["delivered"] += 1
                self.deliveries.append((t, e["request_id"], e["dose_ug"]))
                self.emit({"event": "delivered", "bolus_id": e["request_id"], "dose_ug": e["dose_ug"]}, t)
            elif phase in ("complete", "stopped"):
                out = {"event": "bolus_end", "bolus_id": e["request_id"], "status": phase, "delivered_ug": e["delivered_ug"]}
                if e.get("why"):
                    out["why"] = e["why"]
                self.emit(out, t)
            elif self.trace:
                self.emit({"event": "bolus_progress", "bolus_id": e["request_id"], "delivered_ug": e["delivered_ug"]}, t)
        elif kind == "alarm":
            self.emit({"event": "alarm", "side": "pump", "alarms": e["names"], "raised": e["raised_names"]}, t)
        elif kind == "duplicate":
            self.emit({"event": "duplicate_request", "bolus_id": e["request_id"]}, t)
        elif kind == "refill":
            self.emit({"event": "refill", "reservoir_ug": e["reservoir_ug"]}, t)
        elif kind == "clock_set":
            self.emit({"event": "pump_clock", "delta_s": e["delta_s"]}, t)
        elif kind in ("frame_in", "frame_out"):
            if self.trace:
                out = {"event": "frame", "dir": "to_pump" if kind == "frame_in" else "to_handheld", "type": e["type"], "seq": e["seq"]}
                if "fields" in e:
                    out["fields"] = e["fields"]
                self.emit(out, t)
        elif kind == "bad_frame":
            if self.trace:
                self.emit({"event": "bad_frame", "error": e["error"]}, t)
        elif kind == "error":
            self.emit({"event": "pump_error", "error": e.get("error")}, t)

    # ---- outcome -------------------------------------------------------------------------
    def delivered_ug(self):
        total = 0
        for e in self.pump.boluses.values():
            if e["status"] in (m.BOLUS_DELIVERING, m.BOLUS_COMPLETE, m.BOLUS_STOPPED):
                total += e["delivered_ug"]
        return total

    def finish(self):
        """Report requests still without an outcome; returns the summary event."""
        for rid in sorted(self._pending):
            self.counts.setdefault("pending", 0)
            self.counts["pending"] += 1
            self.emit({"event": "request", "result": "pending", "bolus_id": rid})
        self._pending = {}
        return self.summary()

    def summary(self):
        s = {
            "event": "summary",
            "t": t_s(self.t_ms),
            "granted": self.counts["granted"],
            "denied": self.counts["denied"],
            "uncertain": self.counts["uncertain"],
            "delivered": self.counts["delivered"],
            "delivered_ug": self.delivered_ug(),
            "reasons": dict(sorted(self.reasons.items())),
            "boots": self.boots,
            "steps": self.steps,
            "polls": self.polls,
            "link_faults": dict(self.link_faults),
        }
        if self.counts.get("pending"):
            s["pending"] = self.counts["pending"]
        return s
