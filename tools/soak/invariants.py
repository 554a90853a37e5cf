"""The safety invariants of the soak, checked continuously against the pump's own record.

`Checker(rx, log_capacity)` is fed by `tools.soak.world.World`: every committed event-log record
(`on_commit`), every pump event (`on_pump_event`), every completed gesture (`on_hold_complete`)
and every reboot (`after_boot`); `checkpoint(world)` runs after a clean-link period. Violations
are counted by kind in `violations` (the first few kept in `examples`); they must stay 0.
"""

from collections import deque

from firmware import eventlog as ev
from firmware import messages as m
from firmware import policy

DAY_S = 86400
_STARTED = (m.BOLUS_DELIVERING, m.BOLUS_COMPLETE, m.BOLUS_STOPPED)
_KEEP_EXAMPLES = 20
_TAIL = 400  # committed records remembered for the log comparison (the ring holds at most 314)

# Violation kinds (each one a safety rule of docs/safety.md or DOMAIN.md)
V_DELIVERED_TWICE = "request_id delivered twice"
V_LOCKOUT = "two bolus starts closer than lockout_s"
V_MAX_24H = "more than max_per_24h starts in a rolling 24 h"
V_LOCKOUT_REAL = "two bolus starts closer than lockout_s in real elapsed time"
V_MAX_24H_REAL = "more than max_per_24h starts in 24 h of real elapsed time"
V_NO_GESTURE = "bolus delivered without a completed gesture"
V_GRANT_NO_GESTURE = "request granted without a completed gesture"
V_GESTURE_SHORT = "hold completed without an unbroken hold of hold_ms"
V_GESTURE_TWICE = "more than one hold completion in one gesture"
V_ID_REUSED = "request id granted twice by the handheld"
V_WRONG_DOSE = "request for another dose or duration than prescribed"
V_OPEN = "request neither delivered, refused nor settled after a clean link"
V_UNCERTAIN_LEFT = "handheld still holds an uncertain request after a clean link"
V_SETTLED_WRONG = "handheld's outcome disagrees with the pump's record"
V_LOG_LOST = "committed log record lost or altered"
V_LOG_SHORT = "log holds fewer records than the ring guarantees"
V_PUMP_LOST = "pump record lost an acknowledged bolus"
V_ALARM_BOLUS = "bolus started during a high-priority alarm"
V_CRASH = "firmware raised an exception"


class Checker:
    def __init__(self, rx, log_capacity):
        self.rx = rx
        self.log_capacity = log_capacity  # records per segment: the ring keeps at least this many
        self.violations = {}
        self.examples = []
        # the handheld's committed log
        self.committed = 0
        self.tail = deque(maxlen=_TAIL)
        self.kinds = {}  # record kind -> count
        self.denied = {}  # reason name -> count
        self.pump_refused = {}  # pump reason name -> count (PUMP_REFUSED records)
        self.granted = {}  # request_id -> gesture number
        self.closed = {}  # request_id -> ("delivered", start_s) | ("refused", code) | ("settled", 0|1, start_s)
        self.settled_not_given = set()
        # gestures
        self.hold_completes = 0
        self._pending_gesture = None
        # the pump's record
        self.starts = {}  # request_id -> pump start_s (its clock at the start)
        self._shifts = [0]  # the pump's clock settings so far, cumulative (s)
        self._shift_at_start = {}  # request_id -> index into _shifts when it started
        self._window = deque()  # pump start times (monotonic) in the last 24 h
        self._last_start = None
        self._real = deque()  # the same in real (virtual) ms: pump clock changes cannot touch it
        self.pump_outcomes = {}  # complete / stopped
        self.log_checks = 0
        self.torn_tails = 0
        self.torn_bytes = 0

    # ---- reporting ------------------------------------------------------------------------
    def violation(self, kind, detail):
        self.violations[kind] = self.violations.get(kind, 0) + 1
        if len(self.examples) < _KEEP_EXAMPLES:
            self.examples.append("%s: %s" % (kind, detail))

    @property
    def violation_count(self):
        return sum(self.violations.values())

    # ---- the handheld -----------------------------------------------------------------------
    def on_hold_complete(self, held_ms, hold_ms, completions_in_gesture):
        """A HOLD_COMPLETE came out of the gesture recogniser after `held_ms` of unbroken
        (sampled) hold; `completions_in_gesture` counts this one."""
        self.hold_completes += 1
        self._pending_gesture = self.hold_completes
        if held_ms < hold_ms:
            self.violation(V_GESTURE_SHORT, "held %d ms < %d ms" % (held_ms, hold_ms))
        if completions_in_gesture > 1:
            self.violation(V_GESTURE_TWICE, "%d completions" % completions_in_gesture)

    def gesture_done(self):
        """The poll that produced a HOLD_COMPLETE is over: its request (if any) is logged."""
        self._pending_gesture = None

    def on_commit(self, rec):
        """One record reached flash (its storage append returned): (seq, kind, t_s, a, b, c)."""
        self.committed += 1
        self.tail.append(rec)
        kind = rec[1]
        a, b, c = rec[3], rec[4], rec[5]
        name = ev.KIND_NAMES.get(kind, str(kind))
        self.kinds[name] = self.kinds.get(name, 0) + 1
        if kind == ev.GRANTED:
            if a in self.granted:
                self.violation(V_ID_REUSED, "request %d" % a)
            gesture = self._pending_gesture
            self._pending_gesture = None
            if gesture is None:
                self.violation(V_GRANT_NO_GESTURE, "request %d" % a)
                gesture = 0
            self.granted[a] = gesture
            if b != self.rx.dose_ug or c != self.rx.duration_s:
                self.violation(V_WRONG_DOSE, "request %d: %d ug over %d s" % (a, b, c))
        elif kind == ev.DENIED:
            reason = policy.REASON_NAMES.get(a, str(a))
            self.denied[reason] = self.denied.get(reason, 0) + 1
        elif kind == ev.DELIVERED:
            self.closed[a] = ("delivered", c)
            self._agree(a, True, c, "DELIVERED")
        elif kind == ev.PUMP_REFUSED:
            self.closed[a] = ("refused", b)
            reason = m.PUMP_REASONS.get(b, str(b))
            self.pump_refused[reason] = self.pump_refused.get(reason, 0) + 1
            self._agree(a, False, 0, "PUMP_REFUSED")
        elif kind == ev.SETTLED:
            self.closed[a] = ("settled", b, c)
            if not b:
                self.settled_not_given.add(a)
            self._agree(a, bool(b), c, "SETTLED")

    def on_pump_clock(self, delta_s):
        self._shifts.append(self._shifts[-1] + delta_s)

    def _agree(self, rid, delivered, start_s, what):
        started = self.starts.get(rid)
        if delivered:
            # The pump states a start in its clock as it reads when it answers: the start it
            # recorded moved by the clock settings since (any of them: a reply can be in flight
            # while the clock is set).
            i = self._shift_at_start.get(rid, len(self._shifts) - 1)
            moved = set(x - self._shifts[i] for x in self._shifts[i:])
            if started is None or start_s - started not in moved:
                self.violation(V_SETTLED_WRONG, "%s %d start %s, pump says %s" % (what, rid, start_s, started))
        if not delivered and started is not None:
            self.violation(V_SETTLED_WRONG, "%s %d not given, pump started it at %d" % (what, rid, started))

    def after_boot(self, records, torn_bytes):
        """The handheld booted from storage: `records` are the log's records (tuples) as the
        new EventLog reads them. Everything committed must be there (the newest `capacity`
        at least, as a ring), unchanged and in order; nothing else."""
        self.log_checks += 1
        if torn_bytes:
            self.torn_tails += 1
            self.torn_bytes += torn_bytes
        tail = list(self.tail)
        n = len(records)
        if n > len(tail) or records != tail[len(tail) - n :]:
            got = set(records)
            lost = [r for r in tail[-min(len(tail), self.log_capacity) :] if r not in got]
            extra = [r for r in records if r not in set(tail)]
            self.violation(V_LOG_LOST, "lost %r extra %r" % (lost[:3], extra[:3]))
        elif n < min(self.committed, self.log_capacity):
            self.violation(V_LOG_SHORT, "%d records, %d committed" % (n, self.committed))

    # ---- the pump ---------------------------------------------------------------------------
    def on_pump_event(self, e, pump):
        if e.get("event") != "delivery":
            return
        phase = e.get("phase")
        rid = e["request_id"]
        if phase in ("complete", "stopped"):
            self.pump_outcomes[phase] = self.pump_outcomes.get(phase, 0) + 1
            return
        if phase != "start":
            return
        s = e["start_mono_s"]  # the pump's limits count on its monotonic clock
        if rid in self.starts:
            self.violation(V_DELIVERED_TWICE, "request %d" % rid)
        if rid not in self.granted:
            self.violation(V_NO_GESTURE, "request %d" % rid)
        if rid in self.settled_not_given or self.closed.get(rid, ("",))[0] == "refused":
            self.violation(V_SETTLED_WRONG, "request %d started after the handheld closed it as not given" % rid)
        if pump.alarms & m.HIGH_PRIORITY_MASK:
            self.violation(V_ALARM_BOLUS, "request %d alarms 0x%02x" % (rid, pump.alarms))
        rx = self.rx
        if self._last_start is not None and s < self._last_start + rx.lockout_s:
            self.violation(V_LOCKOUT, "request %d at %d, previous start %d" % (rid, s, self._last_start))
        w = self._window
        while w and w[0] <= s - DAY_S:
            w.popleft()
        w.append(s)
        if len(w) > rx.max_per_24h:
            self.violation(V_MAX_24H, "%d starts in (%d, %d]" % (len(w), s - DAY_S, s))
        if self._last_start is None or s > self._last_start:
            self._last_start = s
        self.starts[rid] = e["start_s"]
        self._shift_at_start[rid] = len(self._shifts) - 1
        # The same limits in real elapsed time (the pump counts whole seconds of its clock:
        # allow the second it rounds away).
        t = e.get("t_ms")
        if t is not None:
            r = self._real
            if r and t - r[-1] < (rx.lockout_s - 1) * 1000:
                self.violation(V_LOCKOUT_REAL, "request %d %.1f s after the previous start" % (rid, (t - r[-1]) / 1000.0))
            while r and r[0] <= t - DAY_S * 1000 + 1000:
                r.popleft()
            r.append(t)
            if len(r) > rx.max_per_24h:
                self.violation(V_MAX_24H_REAL, "%d starts in the last 24 h" % len(r))

    def check_pump_record(self, pump):
        """Every bolus the pump ever started is still in its record, started, same start."""
        boluses = pump.boluses
        for rid in self.starts:
            e = boluses.get(rid)
            if e is None or e["status"] not in _STARTED or e["start_s"] != self.starts[rid]:
                self.violation(V_PUMP_LOST, "request %d now %r" % (rid, e and (e["status"], e["start_s"])))

    # ---- after a clean-link period ----------------------------------------------------------
    def checkpoint(self, app, link):
        for rid in self.granted:
            if rid not in self.closed:
                self.violation(V_OPEN, "request %d" % rid)
                self.closed[rid] = ("reported",)  # report each once
        ledger = app.ledger
        if ledger.open or ledger.unsettled():
            self.violation(V_UNCERTAIN_LEFT, "uncertain %r open %r" % (sorted(ledger.uncertain), sorted(ledger.open)))
