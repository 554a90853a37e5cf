"""The bolus ledger: every bolus start the limits count, every open request, every id used.

Pure bookkeeping: no I/O, no clock, no log. Times are pump seconds passed in by the caller
(None when unknown). Two shells feed one `Ledger`:
- `App` at boot replays its event log into it (`replay` for each record, then `end_replay`)
  and takes request ids from it (`new_id`);
- `LinkClient` tells it what happens at the pump: a request sent (`request`), accepted,
  refused, lost (uncertain) or settled from the pump's record; the pump's record read at
  sync (`pump_record`, `pump_entry`, `pump_read`); a pump clock that jumped (`shift`).
It answers what `policy.decide` needs: `starts()` and `unsettled()`.
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from firmware import eventlog as ev
from firmware import messages as m

_KEEP_S = const(172800)  # bolus starts older than two days can matter for no limit: forgotten
_DAY_S = const(86400)  # the rolling window of max_per_24h
_PUMP_STALE_S = const(30)  # the pump refuses a BOLUS_REQ captured longer ago than this (stale)
_REFUSED = const(-1)  # `pump` value of an entry the pump refused: no start, never counts


class Request:
    """A bolus request the pump has not answered yet: it counts as delivered, at the pump
    time it was captured (`captured_s`, None when unknown), until the pump's answer or record
    settles it."""

    def __init__(self, captured_s, dose_ug):
        self.captured_s = captured_s
        self.dose_ug = dose_ug


def _after(next_id, used):
    """The next request id once id `used` is known to be taken: the one rule for ids (the
    highest seen + 1, and never back)."""
    return used + 1 if used >= next_id else next_id


def _later(seen, rid, start_s):
    """Where two sources disagree on a start (a pump clock that was set), the later one
    counts: it gives the longer lockout."""
    if seen.get(rid, -1) < start_s:
        seen[rid] = start_s


def _forget(starts, keep_after_s):
    """Drop the entries of `starts` (id -> start) that started at or before `keep_after_s`,
    always keeping the newest: memory stays bounded over months."""
    newest = None
    for rid in starts:
        if newest is None or starts[rid] > starts[newest]:
            newest = rid
    for rid in list(starts):
        if rid != newest and starts[rid] <= keep_after_s:
            del starts[rid]


def _time(t_s):
    return None if t_s == ev.NO_TIME else t_s


class Ledger:
    def __init__(self):
        self.pump = {}  # request id -> start_s (_REFUSED when refused): the pump's record as read
        self.delivered = {}  # request id -> start_s: what this handheld saw start (its log)
        self.open = {}  # request id -> Request: sent or being sent, not answered
        self.uncertain = set()  # open ids whose answer was lost: only the pump's record settles them
        self.in_flight = None  # the open id whose exchange is under way
        self.next_id = 1
        self.pump_last_id = 0  # the pump's last request id, as its SYNC said
        self._closed = None  # during a replay: the ids the log closed

    # ---- what the policy needs ---------------------------------------------------------------
    def starts(self):
        """Start times of every bolus that counts for the limits: the pump's record, this
        handheld's own, and requests not answered yet (at the time they were captured)."""
        seen = {}
        pump = self.pump
        for rid in pump:
            if pump[rid] != _REFUSED:
                seen[rid] = pump[rid]
        for rid in self.delivered:
            _later(seen, rid, self.delivered[rid])
        for rid in self.open:
            captured = self.open[rid].captured_s
            if captured is not None:
                _later(seen, rid, captured)
        return list(seen.values())

    def unsettled(self):
        """True while a request is on its way or uncertain: no other may be granted."""
        return bool(self.uncertain) or self.in_flight is not None

    def used_24h(self, now_s):
        """How many starts count in the rolling 24 h window ending at `now_s`."""
        n = 0
        for s in self.starts():
            if s > now_s - _DAY_S:
                n += 1
        return n

    def dose(self, rid):
        """The dose granted for open request `rid` (0 when it is not open)."""
        req = self.open.get(rid)
        return 0 if req is None else req.dose_ug

    # ---- request ids ---------------------------------------------------------------------------
    def saw_id(self, rid):
        """Request id `rid` is used (by this handheld or, as far as the pump says, another)."""
        self.next_id = _after(self.next_id, rid)

    def new_id(self):
        """The id for a new request, taken for good; None when every id up to
        messages.REQUEST_ID_MAX is used (only a pump record with a forged id can say so)."""
        rid = _after(self.next_id, self.pump_last_id)
        if rid > m.REQUEST_ID_MAX:
            return None
        self.next_id = rid + 1
        return rid

    # ---- what happens to a request -----------------------------------------------------------
    def request(self, rid, captured_s, dose_ug):
        """Request `rid` goes to the pump: it counts from `captured_s` until answered."""
        self.open[rid] = Request(captured_s, dose_ug)
        self.in_flight = rid

    def accepted(self, rid, start_s):
        """The pump started request `rid` at `start_s`. Returns the dose that was granted."""
        dose = self._close(rid)
        self.pump[rid] = start_s
        self._started(rid, start_s)
        return dose

    def refused(self, rid):
        """The pump refused request `rid`. Returns the dose that was granted."""
        return self._close(rid)

    def lost(self, rid):
        """No answer to request `rid` after every resend: uncertain until the pump's record
        settles it."""
        if rid not in self.open:  # not told of it: counts from an unknown time
            self.open[rid] = Request(None, 0)
        self.uncertain.add(rid)
        if self.in_flight == rid:
            self.in_flight = None

    def settles(self, rid, found, pump_now_s):
        """May the pump's record of `rid` (`found` or not, read at pump time `pump_now_s`)
        settle it? "Not found" is final only once the pump would refuse the request as stale,
        captured more than the stale window before pump time or after it (the pump's clock was
        set back, unseen by this handheld: after a reboot, say): until then it may still be on
        its way and be applied."""
        if rid not in self.uncertain:
            return False
        captured = self.open[rid].captured_s
        if not found and captured is not None and captured - _PUMP_STALE_S <= pump_now_s <= captured + _PUMP_STALE_S:
            return False
        return True

    def settle(self, rid, start_s):
        """The pump's record settles uncertain request `rid`: started at `start_s`, or not
        given (None). Returns the dose that was granted."""
        dose = self._close(rid)
        if start_s is not None:
            self.pump[rid] = start_s
            self._started(rid, start_s)
        return dose

    def _close(self, rid):
        req = self.open.pop(rid, None)
        self.uncertain.discard(rid)
        if self.in_flight == rid:
            self.in_flight = None
        if self._closed is not None:
            self._closed.add(rid)
        return 0 if req is None else req.dose_ug

    def _started(self, rid, start_s):
        self.delivered[rid] = start_s
        self.prune(start_s)

    def prune(self, now_s):
        """Forget starts too old to matter for any limit at `now_s` (the newest always kept)."""
        keep_after = now_s - _KEEP_S
        _forget(self.pump, keep_after)
        _forget(self.delivered, keep_after)

    # ---- the pump's record and clock -----------------------------------------------------------
    def pump_record(self, last_id):
        """The pump's record is about to be read again (SYNC): forget the one held."""
        self.pump = {}
        self.pump_last_id = last_id

    def pump_entry(self, rid, start_s, status):
        """One bolus of the pump's record (HISTORY)."""
        self.pump[rid] = _REFUSED if status == m.BOLUS_REFUSED else start_s

    def pump_read(self):
        """Every page of the pump's record is read: its last id is used."""
        self.saw_id(self.pump_last_id)

    def shift(self, delta_s):
        """The pump's clock moved by `delta_s` against the handheld's own count of time: the
        starts it holds move with it, so the limits still rest on real elapsed time. (The
        pump's record is read again before any grant.)"""
        d = self.delivered
        for rid in d:
            d[rid] = max(0, d[rid] + delta_s)
        for rid in self.open:
            req = self.open[rid]
            if req.captured_s is not None:
                req.captured_s = max(0, req.captured_s + delta_s)

    # ---- the event log, at boot ----------------------------------------------------------------
    def replay(self, kind, t_s, a, b, c):
        """Take one event-log record (oldest first): what was granted, started, closed, the
        ids used and the clock shifts, as the running app recorded them."""
        if self._closed is None:
            self._closed = set()
        if kind == ev.GRANTED or kind == ev.UNCERTAIN:
            if a not in self._closed and (kind == ev.GRANTED or a not in self.open):
                self.open[a] = Request(_time(t_s), b)
            self.saw_id(a)
        elif kind == ev.DELIVERED:
            self._close(a)
            self._started(a, c)
        elif kind == ev.PUMP_REFUSED:
            self._close(a)
        elif kind == ev.SETTLED:
            self._close(a)
            if b:
                self._started(a, c)
        elif kind == ev.FAULT and a == ev.FAULT_PUMP_CLOCK:
            self.shift(-b if c else b)
        elif kind == ev.CHECKPOINT:
            self.saw_id(a - 1)  # a: the next id then

    def end_replay(self):
        """The log is read: every request still open has an unknown outcome (uncertain)."""
        self._closed = None
        for rid in self.open:
            self.uncertain.add(rid)
