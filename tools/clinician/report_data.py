"""The clinic report's figures from a pulled event log (no drawing, no words beyond names).

`summarize(records, rxs=(), lockout_s=None)` reads firmware.eventlog records (oldest first) and
returns a `Summary`: per calendar day of the pump's clock the presses, doses given, µg given,
refusals by reason, uncertain and settled requests; alarm episodes with their start and clear;
faults; prescription changes; clock sets; the outcome of every press for the timeline; an
hour-of-day table of demands and doses. A request's figures go to the day it was pressed.

Bounded for any log: only days with records exist (a log spanning decades of pump time makes as
many days as it has records, at most), and nothing iterates over empty time.
"""

import collections

from firmware import eventlog as ev
from firmware import messages
from tools.clinician import report_words as words

DAY_S = 86400
UNKNOWN = None  # the day key of records whose time is unknown

# Outcomes of one request, for the timeline and the per-day counts.
GIVEN = "given"
UNCERTAIN_GIVEN = "uncertain_given"  # no reply, then the pump's record said delivered
UNCERTAIN_NOT = "uncertain_not"  # no reply, then the pump's record said not delivered
UNCERTAIN_OPEN = "uncertain_open"  # no reply, not settled by the end of the log
NO_OUTCOME = "no_outcome"  # sent, nothing after it in the log


class Day:
    def __init__(self, key):
        self.key = key
        self.presses = 0
        self.given = 0
        self.ug = 0
        self.refused = collections.Counter()  # reason key -> count
        self.uncertain = 0
        self.settled_given = 0
        self.settled_not = 0
        self.demand_h = [0] * 24  # presses by hour of day
        self.given_h = [0] * 24  # doses given by hour of the press
        self.alarms = []  # Alarm episodes that began this day
        self.faults = 0

    def refused_total(self):
        return sum(self.refused.values())

    def ratio(self):
        """Presses per dose given (None when none was given)."""
        return self.presses / float(self.given) if self.given else None

    def add(self, other):
        self.presses += other.presses
        self.given += other.given
        self.ug += other.ug
        self.refused.update(other.refused)
        self.uncertain += other.uncertain
        self.settled_given += other.settled_given
        self.settled_not += other.settled_not
        for h in range(24):
            self.demand_h[h] += other.demand_h[h]
            self.given_h[h] += other.given_h[h]
        self.faults += other.faults


class Alarm:
    """One alarm from raised to cleared (`end` None: still active at the end of the log)."""

    def __init__(self, name, start, seq):
        self.name = name
        self.start = start
        self.seq = seq
        self.end = None
        self.cleared = False  # a later ALARM record no longer had it

    def seconds(self, last_t):
        """Its duration (to the last timed record when still active), or None if unknown."""
        end = self.end if self.cleared else last_t
        if self.start < 0 or end is None or end < 0:
            return None
        return max(0, end - self.start)


class Request:
    def __init__(self, rid, t, dose_ug, duration_s):
        self.rid = rid
        self.t = t  # when it was pressed (pump time, -1 unknown)
        self.dose_ug = dose_ug
        self.duration_s = duration_s
        self.outcome = NO_OUTCOME
        self.start = None  # pump start_s when given
        self.was_uncertain = False
        self.refusal: "str | None" = None  # pump reason key


class Summary:
    def __init__(self):
        self.days = {}  # day number (pump time // 86400) or UNKNOWN -> Day
        self.records = 0
        self.first_t = None  # earliest and latest timed record
        self.last_t = None
        self.events = []  # (t, outcome or reason key) of every press outcome with a known time
        self.requests = {}  # rid -> Request
        self.alarms = []  # Alarm, in the order raised
        self.faults = []  # (t, code, b, c)
        self.rx_changes = []  # dicts: seq, t, version, accepted, code, after_t, before_t
        self.clock_sets = []  # (t, seconds, backwards)
        self.pumps = []  # pump ids seen in SYNCED records, in order
        self.boots = 0

    def day(self, t):
        key = t // DAY_S if t is not None and t >= 0 else UNKNOWN
        d = self.days.get(key)
        if d is None:
            d = self.days[key] = Day(key)
        return d

    def known_days(self):
        return sorted(k for k in self.days if k is not UNKNOWN)

    def ordered(self):
        out = [self.days[k] for k in self.known_days()]
        if UNKNOWN in self.days:
            out.append(self.days[UNKNOWN])
        return out

    def totals(self):
        t = Day("total")
        for d in self.days.values():
            t.add(d)
        t.alarms = list(self.alarms)
        return t

    def given_starts(self):
        """Start times of the doses given, sorted."""
        return sorted(r.start for r in self.requests.values() if r.start is not None and r.start >= 0)

    def fault_groups(self):
        """[(code, count, first t, last t)], most frequent first."""
        groups = {}
        for t, code, _, _ in self.faults:
            g = groups.get(code)
            if g is None:
                groups[code] = [code, 1, t, t]
            else:
                g[1] += 1
                if t >= 0 and (g[2] < 0 or t < g[2]):
                    g[2] = t
                g[3] = max(g[3], t)
        return sorted((tuple(g) for g in groups.values()), key=lambda g: (-g[1], g[0]))


def _hour(t):
    return (t % DAY_S) // 3600


def summarize(records):
    s = Summary()
    s.records = len(records)
    active = {}  # alarm name -> Alarm
    waiting = []  # RX_CHANGE entries still looking for the next timed record
    prev_t = None
    for r in records:
        k, t = r.kind, r.t_s
        if t >= 0:
            s.first_t = t if s.first_t is None else min(s.first_t, t)
            s.last_t = t if s.last_t is None else max(s.last_t, t)
            for c in waiting:
                c["before_t"] = t
            waiting = []
            prev_t = t
        if k == ev.PRESS:
            d = s.day(t)
            d.presses += 1
            if t >= 0:
                d.demand_h[_hour(t)] += 1
        elif k == ev.DENIED:
            key = words.reason_key(r.a)
            s.day(t).refused[key] += 1
            if t >= 0:
                s.events.append((t, key))
        elif k == ev.GRANTED:
            if r.a not in s.requests:
                s.requests[r.a] = Request(r.a, t, r.b, r.c)
        elif k in (ev.DELIVERED, ev.PUMP_REFUSED, ev.UNCERTAIN, ev.SETTLED):
            _outcome(s, r)
        elif k == ev.ALARM:
            _alarm(s, r, active)
        elif k == ev.FAULT:
            s.faults.append((t, r.a, r.b, r.c))
            s.day(t).faults += 1
            if r.a == ev.FAULT_PUMP_CLOCK:
                s.clock_sets.append((t, r.b, bool(r.c)))
        elif k == ev.RX_CHANGE:
            c = {"seq": r.seq, "t": t, "version": r.a, "accepted": bool(r.b), "code": r.c, "after_t": prev_t, "before_t": None}
            s.rx_changes.append(c)
            if t < 0:
                waiting.append(c)
        elif k == ev.SYNCED:
            if not s.pumps or s.pumps[-1] != r.a:
                s.pumps.append(r.a)
        elif k == ev.BOOT:
            s.boots += 1
    _count_requests(s)
    return s


def _request(s, r):
    """The Request a DELIVERED/.../SETTLED record belongs to (its GRANTED may have rotated out)."""
    q = s.requests.get(r.a)
    if q is None:
        dose = r.b if r.kind in (ev.DELIVERED, ev.UNCERTAIN) else 0
        t = r.t_s if r.kind != ev.DELIVERED else r.c
        q = s.requests[r.a] = Request(r.a, t, dose, 0)
    return q


def _outcome(s, r):
    q = _request(s, r)
    k = r.kind
    if k == ev.DELIVERED:
        if q.outcome not in (GIVEN, UNCERTAIN_GIVEN):
            q.outcome = GIVEN if not q.was_uncertain else UNCERTAIN_GIVEN
        q.start = r.c
        if r.b:
            q.dose_ug = r.b
    elif k == ev.PUMP_REFUSED:
        q.outcome = words.pump_reason_key(r.b)
        q.refusal = q.outcome
    elif k == ev.UNCERTAIN:
        q.was_uncertain = True
        if q.outcome == NO_OUTCOME:
            q.outcome = UNCERTAIN_OPEN
        if not q.dose_ug:
            q.dose_ug = r.b
    elif k == ev.SETTLED:
        q.was_uncertain = True
        if r.b:
            q.outcome = UNCERTAIN_GIVEN
            q.start = r.c
        elif q.outcome != UNCERTAIN_GIVEN:
            q.outcome = UNCERTAIN_NOT


def _count_requests(s):
    for q in s.requests.values():
        d = s.day(q.t)
        if q.was_uncertain:
            d.uncertain += 1
            if q.outcome == UNCERTAIN_GIVEN:
                d.settled_given += 1
            elif q.outcome == UNCERTAIN_NOT:
                d.settled_not += 1
        if q.outcome in (GIVEN, UNCERTAIN_GIVEN):
            d.given += 1
            d.ug += q.dose_ug
            if q.t >= 0:
                d.given_h[_hour(q.t)] += 1
        elif q.refusal is not None:
            d.refused[q.refusal] += 1
        if q.t >= 0:
            s.events.append((q.t, q.outcome))
    s.events.sort()


def _alarm(s, r, active):
    """An ALARM record holds the whole mask now active (a) and the bits newly raised (b): an
    alarm runs from the record that first has it to the first that no longer does. A handheld
    reboot re-learns an alarm that never cleared: it stays one episode."""
    for bit in messages.ALARM_ORDER:
        name = messages.ALARM_NAMES[bit]
        if r.a & bit and name not in active:
            a = Alarm(name, r.t_s, r.seq)
            active[name] = a
            s.alarms.append(a)
            s.day(r.t_s).alarms.append(a)
        elif not r.a & bit and name in active:
            a = active.pop(name)
            a.end, a.cleared = r.t_s, True
