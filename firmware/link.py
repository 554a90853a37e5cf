"""The handheld's side of the serial link: stop-and-wait requests, sync, settle, alarms.

`LinkClient(clock, serial, key=None, ledger=None)` is a state machine polled with
`poll(now_ticks)`; it returns a list of events for the app. It keeps the pump-time estimate and
tells the bolus ledger (`firmware.ledger`, its own unless one is given) what the pump says: its
record at sync, and what became of each request. A bolus request that gets no reply after its
retries becomes uncertain and is settled only from the pump's own record (RECORD_REQ), never
retried as a new bolus.
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from firmware import frame
from firmware import messages as m
from firmware.ledger import Ledger

_TIMEOUT_MS = const(250)  # wait for a reply before resending (stop-and-wait)
_RETRIES = const(3)  # resends after the first try; same seq, same request id
_BACKOFF_MS = const(1000)  # after a failed exchange, wait this long before the next attempt
_STATUS_EVERY_MS = const(5000)  # poll the pump's status this often when idle
_SETTLE_EVERY_MS = const(2000)  # ask for the record of an uncertain request this often
_LINK_FRESH_MS = const(12000)  # a link silent for longer than this is reported down
_LONG_AGO = const(0x3FFFFFFF)  # `_since` of a tick over half a tick period old: longer than any limit
_SYNC_MAX_AGE_S = const(21600)  # 6 h without a pump-time update: time is unknown again
_READ_CHUNK = const(64)
_CLOCK_SLACK_S = const(5)  # a pump time further than this from our estimate is a clock jump
_PUMP_TIME_MAX = const(0xFFFFFFFE)  # messages.PUMP_TIME_MAX: past it, time is unknown

# Event kinds returned by poll(); dose_ug is the dose the handheld granted for the request
SYNCED = "synced"  # ('synced', pump_id, history_count)
ACCEPTED = "accepted"  # ('accepted', request_id, start_s, dose_ug)
REFUSED = "refused"  # ('refused', request_id, pump_reason_code)
UNCERTAIN = "uncertain"  # ('uncertain', request_id)
SETTLED = "settled"  # ('settled', request_id, delivered_bool, start_s, delivered_ug, stopped_part_way, dose_ug)
ALARM = "alarm"  # ('alarm', mask, newly_raised_mask)
LINK = "link"  # ('link', up_bool)
CLOCK_JUMP = "clock_jump"  # ('clock_jump', delta_s): pump time moved against our estimate
PUMP_CHANGED = "pump_changed"  # ('pump_changed', old_id, new_id)

# The exchange under way (`_pending`, a list): indexes of its items
_REPLY = const(0)  # the message type that answers it
_SEQ = const(1)  # its sequence number (the reply echoes it)
_WIRE = const(2)  # the frame as sent: a resend sends the same bytes
_SENT_AT = const(3)  # ticks of the last send
_TRIES = const(4)  # sends so far
_ASKED = const(5)  # the message type sent
_RID = const(6)  # the request id it is about (BOLUS_REQ, RECORD_REQ), else None

_ZERO_TAG = bytes(16)


class LinkClient:
    def __init__(self, clock, serial, key=None, ledger=None):
        self.clock = clock
        self.serial = serial
        self.key = key
        self.ledger = Ledger() if ledger is None else ledger
        self.deframer = frame.Deframer()
        self._seq = 0
        self._pending = None  # the exchange under way: [_REPLY, _SEQ, _WIRE, _SENT_AT, _TRIES, _ASKED, _RID]
        self._bolus = None  # queued bolus request fields (sent before anything else)
        self._wait_until = None  # back-off deadline after a failed exchange
        self._last_status = None
        self._last_settle = None
        self._last_ok = None
        self.up = False
        # What we know of the pump
        self.synced = False  # pump time and full history known
        self._time_ok = False
        self._sync_s = 0
        # Time since the last pump time, counted in every poll from the tick difference since
        # the one before (milliseconds of the current second, and whole seconds): no tick wrap
        # can make an old reading look recent, however long the pump stays silent.
        self._ticks = clock.ticks_ms()
        self._age_s = 0
        self._age_ms = 0
        self.pump_id = None
        self.alarms = 0
        self.reservoir_ug = None
        self.bolus_id = 0
        self.bolus_delivered_ug = 0
        self.bolus_dose_ug = 0
        self._hist_total = 0
        self._hist_offset = 0
        self._hist_wanted = False
        self._events = []  # what poll() returns: one list, emptied at every poll (no garbage)
        self.changes = 0  # counts the replies taken: what the app shows may have changed

    # ---- what the app asks -------------------------------------------------------------
    def now_s(self, now_ticks):
        """Pump time in whole seconds, or None when it is not known: never synced, the last
        pump time older than 6 h, or an estimate past the largest pump time (u32 limit)."""
        if not self._time_ok:
            return None
        t = self._estimate(now_ticks)
        if self._age_s >= _SYNC_MAX_AGE_S or t > _PUMP_TIME_MAX:
            return None
        return t

    def _estimate(self, now_ticks):
        """The last pump time plus the time counted since, up to `now_ticks`."""
        extra = self.clock.ticks_diff(now_ticks, self._ticks)
        if extra < 0:
            extra = 0
        return self._sync_s + self._age_s + (self._age_ms + extra) // 1000

    def _count_time(self, now):
        """Add the ticks since the last poll to the time since the last pump time. Polls come
        every few ms, so each difference is far below half the tick period."""
        d = self.clock.ticks_diff(now, self._ticks)
        self._ticks = now
        if d > 0:
            ms = self._age_ms + d
            self._age_s += ms // 1000
            self._age_ms = ms % 1000
        elif d < 0:
            # Polls over half a tick period apart (or ticks that ran back): how much time
            # passed is unknown, so pump time is too, until the pump states it again.
            self._time_ok = False

    def _since(self, now, then):
        """Milliseconds from tick `then` to `now`; `_LONG_AGO` when `then` is over half a tick
        period old (about 6.2 days on a board; ticks_diff turns negative there), so no
        timeout, freshness or back-off waits another half period for the ticks to come round."""
        d = self.clock.ticks_diff(now, then)
        return _LONG_AGO if d < 0 else d

    def fresh(self, now_ticks):
        """True when the pump answered recently enough to send it a bolus request."""
        if not self.up or self._last_ok is None:
            return False
        return self._since(now_ticks, self._last_ok) <= _LINK_FRESH_MS

    def busy_with_bolus(self):
        return self._bolus is not None or (self._pending is not None and self._pending[_ASKED] == m.BOLUS_REQ)

    def request_bolus(self, request_id, dose_ug, duration_s, captured_s):
        """Queue one bolus request; it goes out as soon as the current exchange ends. From
        now on the ledger counts it as delivered at `captured_s` until the pump answers."""
        self.ledger.request(request_id, captured_s, dose_ug)
        fields = {
            "request_id": request_id,
            "dose_ug": dose_ug,
            "duration_s": duration_s,
            "captured_s": captured_s,
            "counter": 0,
            "tag": _ZERO_TAG,
        }
        if self.key is not None:
            from firmware import auth

            fields["counter"] = request_id
            fields["tag"] = auth.bolus_tag(self.key, request_id, dose_ug, duration_s, captured_s, request_id)
        self._bolus = fields

    def send_queued(self, now):
        """Send a queued bolus request at once when no exchange is under way (instead of at
        the next poll, one loop period later)."""
        if self._bolus is not None and self._pending is None and not self._backing_off(now):
            self._next_request(now)

    def reset_sync(self):
        """Forget pump time and history: SYNC and HISTORY are read again before any grant."""
        self.synced = False
        self._time_ok = False
        self._hist_wanted = False

    # ---- the state machine --------------------------------------------------------------
    def poll(self, now):
        """Read the line, time out or resend, start the next exchange. Returns the events of
        this poll in a list that the next poll empties and reuses (an idle poll allocates
        nothing)."""
        events = self._events
        if events:
            events.clear()
        self._count_time(now)
        data = self.serial.read(_READ_CHUNK)
        while data:
            for fr in self.deframer.feed(data):
                if fr.error is None:
                    self._on_frame(now, fr, events)
            data = self.serial.read(_READ_CHUNK)
        p = self._pending
        if p is not None and self._since(now, p[_SENT_AT]) >= _TIMEOUT_MS:
            if p[_TRIES] <= _RETRIES:
                self._write(p[_WIRE])
                p[_SENT_AT] = now
                p[_TRIES] += 1
            else:
                self._pending = None
                self._failed(now, p, events)
        if self._pending is None and not self._backing_off(now):
            self._next_request(now)
        if self.up and self._last_ok is not None and self._since(now, self._last_ok) > _LINK_FRESH_MS:
            self._set_up(False, events)
        return events

    def _backing_off(self, now):
        """True for 1 s after a failed exchange, whatever is queued (protocol: "Stop and
        wait"). No bolus can be queued then anyway: the link is down, so none is granted."""
        if self._wait_until is None:
            return False
        if 0 < self.clock.ticks_diff(self._wait_until, now) <= _BACKOFF_MS:
            return True
        self._wait_until = None
        return False

    def _next_request(self, now):
        if self._bolus is not None:
            fields = self._bolus
            self._bolus = None
            self._send(now, m.BOLUS_REQ, fields, m.BOLUS_ACK, fields["request_id"])
        elif not self._time_ok:
            self._send(now, m.SYNC_REQ, {}, m.SYNC, None)
        elif self._hist_wanted:
            self._send(now, m.HISTORY_REQ, {"offset": self._hist_offset}, m.HISTORY, None)
        elif self.ledger.uncertain and self._due(now, self._last_settle, _SETTLE_EVERY_MS):
            self._last_settle = now
            rid = min(self.ledger.uncertain)
            self._send(now, m.RECORD_REQ, {"request_id": rid}, m.RECORD, rid)
        elif self._due(now, self._last_status, _STATUS_EVERY_MS):
            self._last_status = now
            self._send(now, m.STATUS_REQ, {}, m.STATUS, None)

    def _due(self, now, last, every):
        """True when `every` ms have passed since `last` (long due when over half a tick
        period ago: see `_since`)."""
        return last is None or self._since(now, last) >= every

    def _send(self, now, msg_type, fields, reply_type, rid):
        self._seq = (self._seq + 1) & 0xFF
        wire = frame.encode(msg_type, self._seq, m.encode(msg_type, fields))
        self._pending = [reply_type, self._seq, wire, now, 1, msg_type, rid]
        self._write(wire)

    def _write(self, wire):
        self.serial.write(wire)

    def _failed(self, now, p, events):
        """No valid reply after every retry."""
        self._wait_until = self.clock.ticks_add(now, _BACKOFF_MS)
        self._set_up(False, events)
        if p[_ASKED] == m.BOLUS_REQ:
            rid = p[_RID]
            self.ledger.lost(rid)
            self._last_settle = None  # ask the pump's record at the first chance
            events.append((UNCERTAIN, rid))

    def _set_up(self, up, events):
        if up != self.up:
            self.up = up
            events.append((LINK, up))

    def _learn_time(self, now, pump_time, events):
        """Take the pump's time. If it disagrees with our own running estimate by more than a
        few seconds (the pump's clock was set, or another pump answers), say so and read time
        and history again: until then nothing is granted (`not_synced`)."""
        est = None
        if self._time_ok:  # judged past the 6 h limit too: the time counted has no wrap
            est = self._estimate(now)
        self._sync_s = pump_time
        self._ticks = now
        self._age_s = 0
        self._age_ms = 0
        self._time_ok = True
        if est is not None and not -_CLOCK_SLACK_S <= pump_time - est <= _CLOCK_SLACK_S:
            delta = pump_time - est
            events.append((CLOCK_JUMP, delta))
            self.ledger.shift(delta)
            self.reset_sync()

    def _on_frame(self, now, fr, events):
        if fr.msg_type == m.ALARM:
            try:
                f = m.decode(m.ALARM, fr.payload)
            except m.MessageError:
                return
            self._learn_alarms(f["alarms"], events)
            return
        p = self._pending
        if p is None or fr.seq != p[_SEQ]:
            return  # a late or duplicated reply to an exchange already finished
        if fr.msg_type == m.NAK:
            return  # the pump did not take it; the timeout resends the same frame
        if fr.msg_type != p[_REPLY]:
            return
        try:
            f = m.decode(fr.msg_type, fr.payload)
        except m.MessageError:
            return
        if p[_RID] is not None and f.get("request_id") != p[_RID]:
            return  # not the answer to this request (a stale reply, a confused pump): keep waiting
        self._pending = None
        self._last_ok = now
        self._wait_until = None
        self.changes = (self.changes + 1) & 0x3FFFFFFF  # a small int for ever
        self._set_up(True, events)
        t = fr.msg_type
        if "pump_time" in f:
            self._learn_time(now, f["pump_time"], events)
        if "alarms" in f:
            self._learn_alarms(f["alarms"], events)
        if t == m.SYNC:
            self._on_sync(f, events)
        elif t == m.HISTORY:
            self._on_history(f, events)
        elif t == m.STATUS:
            self.reservoir_ug = f["reservoir_ug"]
            self.bolus_id = f["bolus_id"]
            self.bolus_delivered_ug = f["bolus_delivered_ug"]
            self.bolus_dose_ug = f["bolus_dose_ug"]
        elif t == m.BOLUS_ACK:
            self._on_bolus_ack(p[_RID], f, events)
        elif t == m.RECORD:
            self._on_record(f, events)

    def _learn_alarms(self, mask, events):
        if mask != self.alarms:
            raised = mask & ~self.alarms
            self.alarms = mask
            events.append((ALARM, mask, raised))

    def _on_sync(self, f, events):
        if self.pump_id is not None and f["pump_id"] != self.pump_id:
            events.append((PUMP_CHANGED, self.pump_id, f["pump_id"]))
        self.pump_id = f["pump_id"]
        self.reservoir_ug = f["reservoir_ug"]
        self.ledger.pump_record(f["last_request_id"])
        self._hist_total = f["history_count"]
        self._hist_offset = 0
        self._hist_wanted = True
        self.synced = False

    def _on_history(self, f, events):
        for rid, start_s, _dose_ug, status in f["boluses"]:
            self.ledger.pump_entry(rid, start_s, status)
        self._hist_offset = f["offset"] + len(f["boluses"])
        if self._hist_offset >= f["total"] or not f["boluses"]:
            self._hist_wanted = False
            self.synced = True
            self.ledger.pump_read()
            events.append((SYNCED, self.pump_id, len(self.ledger.pump)))

    def _on_bolus_ack(self, rid, f, events):
        if f["request_id"] != rid:
            return
        if f["accepted"]:
            dose = self.ledger.accepted(rid, f["start_s"])
            events.append((ACCEPTED, rid, f["start_s"], dose))
        else:
            self.ledger.refused(rid)
            events.append((REFUSED, rid, f["reason"]))

    def _on_record(self, f, events):
        rid = f["request_id"]
        if not self.ledger.settles(rid, f["found"], f["pump_time"]):
            return  # not uncertain, or "not found" while the request may still arrive: ask again
        delivered = bool(f["found"]) and f["status"] != m.BOLUS_REFUSED
        start_s = f["start_s"] if delivered else 0
        dose = self.ledger.settle(rid, start_s if delivered else None)
        partial = delivered and f["status"] == m.BOLUS_STOPPED
        amount = f["delivered_ug"] if delivered else 0
        events.append((SETTLED, rid, delivered, start_s, amount, partial, dose))

    def next_deadline(self, now, second=False):
        """The ticks at which `poll` must next run with nothing arriving (a byte arriving is an
        input, not a deadline): the reply timeout or resend, the end of the back-off, the next
        record request for an uncertain dose, the status poll; `now` when something is queued
        to send. (The link going stale after `_LINK_FRESH_MS` needs no deadline of its own: a
        status exchange is due every `_STATUS_EVERY_MS`, and one that fails reports the link
        down within a second.) With `second`, also the next change of the
        whole pump-time second (`now_s`), for a countdown on the screen. Never None: some
        exchange is always due within `_STATUS_EVERY_MS`."""
        clock = self.clock
        p = self._pending
        if p is not None:
            if self._since(now, p[_SENT_AT]) >= _TIMEOUT_MS:
                return now
            best = clock.ticks_add(p[_SENT_AT], _TIMEOUT_MS)
        elif self._backing_off(now):
            best = self._wait_until
        elif self._bolus is not None or not self._time_ok or self._hist_wanted:
            return now
        else:
            # When _due() turns True: `now` if it already is (never asked, or over half a
            # tick period ago).
            last = self._last_status
            if last is None or clock.ticks_diff(now, last) < 0:
                return now
            best = clock.ticks_add(last, _STATUS_EVERY_MS)
            last = self._last_settle
            if self.ledger.uncertain:
                if last is None or clock.ticks_diff(now, last) < 0:
                    return now
                settle = clock.ticks_add(last, _SETTLE_EVERY_MS)
                if clock.ticks_diff(settle, best) < 0:
                    best = settle
        if second and self._time_ok:
            into = self._age_ms + max(0, clock.ticks_diff(now, self._ticks))
            tick = clock.ticks_add(now, 1000 - into % 1000)
            if clock.ticks_diff(tick, best) < 0:
                best = tick
        return best
