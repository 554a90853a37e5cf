"""The handheld application: button gesture -> prescription check -> pump -> patient.

`App(clock, button, indicator, buzzer, display, log, link, rx)` is polled by the main loop
(`poll()`); it feeds the gesture recogniser, the policy and the link client, writes every
decision to the event log before acting on it, and shows the patient what happened. Phases:
idle -> holding -> requesting -> result (given / not given and why / unconfirmed) -> idle.
The bolus bookkeeping is the link's `firmware.ledger.Ledger` (`self.ledger`): the app replays
its log into it at boot and takes request ids from it; the link keeps it up to date.
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from firmware import eventlog as ev
from firmware import gesture as g
from firmware import link as lk
from firmware import messages as m
from firmware import policy
from firmware import screens
from firmware.sounder import DENIED, GIVEN, Sounder
from hal.contract import AMBER, GREEN, RED

_RESULT_MS = const(8000)  # how long a result stays on screen
_NO_TIME = const(-1)

IDLE = "idle"
HOLDING = "holding"
REQUESTING = "requesting"
RESULT = "result"

_UNKNOWN_NEXT = 0xFFFFFFFF
_REASON_BY_PUMP = {
    m.R_LOCKOUT: policy.LOCKOUT,
    m.R_MAX_24H: policy.MAX_24H,
    m.R_ALARM: policy.ALARM,
    m.R_RESERVOIR: policy.RESERVOIR,
    m.R_AMOUNT_CAP: policy.AMOUNT_CAP,
    m.R_BUSY: policy.BUSY,
    m.R_STALE: policy.STALE,
}


class App:
    def __init__(self, clock, button, indicator, buzzer, display, log, link, rx, hold_ms=1000, debounce_ms=30):
        self.clock = clock
        self.button = button
        self.indicator = indicator
        self.buzzer = buzzer
        self.display = display
        self.log = log
        self.link = link
        self.rx = rx
        self.gesture = g.Gesture(clock, debounce_ms=debounce_ms, hold_ms=hold_ms)
        self.sounder = Sounder(clock)
        self.phase = IDLE
        self.result = []  # lines shown in the RESULT phase
        self._shown = None
        # What the last screen was computed from; it is computed again only when one changes
        # (an idle poll then allocates nothing): an event, a reply taken, the pump-time second,
        # link freshness, a phase change or an expired result.
        self._dirty = True
        self._shown_s = None
        self._shown_fresh = False
        self._shown_changes = -1
        self._look = ([], RED, False)  # (lines, colour, blink) last computed; _dirty: computed at the first poll
        self._ticking = False  # the look counts down: computed again when the second changes
        self._result_at = 0
        self._result_next_s = None
        self.ledger = link.ledger
        self._recover()

    # ---- start-up --------------------------------------------------------------------------
    def _recover(self):
        """Rebuild the ledger from the log: ids used, deliveries, clock shifts, and requests
        never answered (uncertain: assumed delivered until the pump's record says otherwise),
        which are logged again."""
        ledger = self.ledger
        boots = 0
        for r in self.log.records():
            ledger.replay(r.kind, r.t_s, r.a, r.b, r.c)
            if r.kind == ev.BOOT:
                boots = r.a
        ledger.end_replay()
        for rid in ledger.open:
            self._log_open(rid)
        self.log.on_rotate = self._checkpoint
        self.log.append(ev.BOOT, _NO_TIME, boots + 1)

    def _checkpoint(self):
        """The log just erased its older segment: write again what a reboot must not lose,
        the next request id and every request still open (in flight or uncertain)."""
        self.log.append(ev.CHECKPOINT, _NO_TIME, self.ledger.next_id, len(self.ledger.open))
        for rid in self.ledger.open:
            self._log_open(rid)

    def _log_open(self, rid):
        req = self.ledger.open[rid]
        self.log.append(ev.UNCERTAIN, _NO_TIME if req.captured_s is None else req.captured_s, rid, req.dose_ug)

    # ---- the loop --------------------------------------------------------------------------
    def poll(self):
        now = self.clock.ticks_ms()
        events = self.link.poll(now)
        if events:
            self._dirty = True
            for e in events:
                self._on_link(now, e)
        event = self.gesture.update(now, self.button.pressed())
        if event is not None:
            self._dirty = True
            self._on_gesture(now, event)
        self._render(now)

    def now_s(self, now=None):
        return self.link.now_s(self.clock.ticks_ms() if now is None else now)

    def _t(self, now):
        t = self.link.now_s(now)
        return _NO_TIME if t is None else t

    # ---- button ----------------------------------------------------------------------------
    def _on_gesture(self, now, event):
        if event == g.PRESSED and self.phase in (IDLE, RESULT):
            self.phase = HOLDING
        elif event == g.TAP and self.phase == HOLDING:
            self.phase = IDLE
        elif event == g.HOLD_COMPLETE:
            self._request(now)
        elif event == g.STUCK:
            self.log.append(ev.FAULT, self._t(now), ev.FAULT_BUTTON_STUCK)
            self._show_result(now, ["Button stuck:", "release button", ""])
        elif event == g.STUCK_CLEARED:
            self.phase = IDLE

    def view(self, now):
        pump_high = self.link.alarms & m.HIGH_PRIORITY_MASK
        v = policy.PumpView()
        v.synced = self.link.synced
        v.link_up = self.link.fresh(now)
        v.alarm_high = bool(pump_high)
        v.uncertain = self.ledger.unsettled()
        v.reservoir_ug = self.link.reservoir_ug
        v.bolus_active = bool(self.link.bolus_id) and self.link.bolus_delivered_ug < self.link.bolus_dose_ug
        return v

    def decide(self, now):
        return policy.decide(self.link.now_s(now), self.ledger.starts(), self.rx, self.view(now))

    def _request(self, now):
        now_s = self.link.now_s(now)
        t = _NO_TIME if now_s is None else now_s
        self.log.append(ev.PRESS, t)
        d = self.decide(now)
        if not d.granted:
            code = policy.REASON_CODES.get(d.reason or "", 0)
            self.log.append(ev.DENIED, t, code, _UNKNOWN_NEXT if d.next_s is None or d.next_s > m.PUMP_TIME_MAX else d.next_s)
            self.sounder.chirp(DENIED)
            used = None
            if d.reason == policy.MAX_24H:
                used = self.ledger.used_24h(now_s)
            allowed = self.rx.max_per_24h if self.rx is not None else None
            self._show_result(now, screens.denied(d.reason, now_s, d.next_s, used, allowed), d.next_s)
            return
        rid = self.ledger.new_id()
        if rid is None:
            # Every id is used (only a pump record with a forged id can say so): no id can be
            # sent, so nothing is granted; the pump's record must be examined at the clinic.
            self.log.append(ev.DENIED, t, policy.REASON_CODES[policy.IDS_USED_UP], _UNKNOWN_NEXT)
            self.sounder.chirp(DENIED)
            self._show_result(now, screens.denied(policy.IDS_USED_UP, now_s, None))
            return
        rx = self.rx
        # Commit the id and the decision before a single byte goes to the pump.
        self.log.append(ev.GRANTED, t, rid, rx.dose_ug, rx.duration_s)
        self.link.request_bolus(rid, rx.dose_ug, rx.duration_s, now_s)
        self.phase = REQUESTING
        self.link.send_queued(now)

    # ---- pump ------------------------------------------------------------------------------
    def _on_link(self, now, e):
        """Log and show one link event (the link has told the ledger already)."""
        kind = e[0]
        t = self._t(now)
        if kind == lk.ACCEPTED:
            _, rid, start_s, dose_ug = e
            self.log.append(ev.DELIVERED, start_s, rid, dose_ug, start_s)
            self.sounder.chirp(GIVEN)
            nxt = policy.next_available(start_s, self.ledger.starts(), self.rx) if self.rx is not None else None
            self._show_result(now, ["Dose given", "", screens.next_line(self.link.now_s(now), nxt)], nxt)
        elif kind == lk.REFUSED:
            _, rid, code = e
            self.log.append(ev.PUMP_REFUSED, t, rid, code)
            self.sounder.chirp(DENIED)
            reason = _REASON_BY_PUMP.get(code, "pump_refused")
            now_s = self.link.now_s(now)
            nxt = None
            if reason in (policy.LOCKOUT, policy.MAX_24H) and self.rx is not None and now_s is not None:
                nxt = policy.next_available(now_s, self.ledger.starts(), self.rx)
            self._show_result(now, screens.denied(reason, now_s, nxt), nxt)
        elif kind == lk.UNCERTAIN:
            _, rid = e
            self.log.append(ev.UNCERTAIN, t, rid, self.ledger.dose(rid))
            self._show_result(now, ["No reply: dose", "counted as given", "checking pump"])
        elif kind == lk.SETTLED:
            _, rid, delivered, start_s, amount_ug, partial, dose_ug = e
            self.log.append(ev.SETTLED, t, rid, 1 if delivered else 0, start_s)
            if partial:
                lines = ["Last dose was", "stopped part-way", screens.fit("%d of %d ug" % (amount_ug, dose_ug))]
            else:
                lines = ["Last dose was", "given" if delivered else "NOT given", ""]
            self._show_result(now, lines)
        elif kind == lk.CLOCK_JUMP:
            # The pump's clock moved against our estimate (set by hand, or another pump): the
            # ledger moved the starts it holds; the log keeps the shift for the next boot.
            _, delta = e
            self.log.append(ev.FAULT, t, ev.FAULT_PUMP_CLOCK, min(abs(delta), 0xFFFFFFFF), 1 if delta < 0 else 0)
        elif kind == lk.PUMP_CHANGED:
            _, old_id, new_id = e
            self.log.append(ev.FAULT, t, ev.FAULT_PUMP_CHANGED, old_id or 0, new_id or 0)
        elif kind == lk.SYNCED:
            _, pump_id, history_count = e
            self.log.append(ev.SYNCED, t, pump_id or 0, history_count)
        elif kind == lk.ALARM:
            _, mask, raised = e
            self.log.append(ev.ALARM, t, mask, raised)
            if raised & ~m.HIGH_PRIORITY_MASK & 0xFF:
                self.sounder.medium_raised(now)
        elif kind == lk.LINK:
            _, up = e
            if not up:
                self.log.append(ev.FAULT, t, ev.FAULT_LINK)

    def _show_result(self, now, lines, next_s=None):
        """Show an answer for _RESULT_MS; `next_s`: when the next dose is possible, which its
        third line counts down to."""
        self._result_next_s = next_s
        self.result = lines
        self._result_at = now
        self.phase = RESULT

    # ---- what the patient sees and hears ---------------------------------------------------
    def alarm_names(self):
        names = []
        for bit in m.ALARM_ORDER:
            if self.link.alarms & bit:
                names.append(m.ALARM_NAMES[bit])
        return names

    def screen(self, now):
        """(lines, colour, blink) for the display and the dose-available indicator."""
        alarm = screens.alarm_line(self.alarm_names())
        high = self.link.alarms & m.HIGH_PRIORITY_MASK
        self._ticking = False
        self._expire_result(now)
        if self.phase == HOLDING and self.gesture.holding:
            bar = int(self.gesture.hold_progress(now) * screens.WIDTH)
            return ["Keep holding...", "#" * bar, "", alarm], AMBER, False
        if self.phase == REQUESTING:
            return ["Asking pump...", "", "", alarm], AMBER, True
        if self.phase == RESULT:
            lines = self.result
            if self._result_next_s is not None:
                self._ticking = True  # "Next in m:ss" counts down while the answer shows
                lines = lines[:2] + [screens.next_line(self.link.now_s(now), self._result_next_s)]
            # Green means "a dose is available": after one was given it is not (lockout).
            given = self.result and self.result[0] == "Dose given"
            return lines + [alarm], (AMBER if given else RED), False
        if self.rx is None:
            return ["No valid", "prescription", "Call clinic", alarm], RED, False
        if high:
            return [alarm, "No dose possible", "Call clinic", ""], RED, True
        now_s = self.link.now_s(now)
        if not self.link.synced or now_s is None:
            return ["Connecting to", "pump...", "", alarm], AMBER, True
        if not self.link.fresh(now):
            return ["No pump link", "Dose unavailable", "", alarm], RED, False
        if self.ledger.uncertain:
            return ["Checking last", "dose with pump", "", alarm], AMBER, True
        d = self.decide(now)
        if d.granted:
            return ["Dose available", "Hold button 1 s", "", alarm], GREEN, False
        if d.next_s is not None:
            self._ticking = True
            return ["Next dose in", screens.clock_text(d.next_s - now_s), "", alarm], AMBER, False
        progress = None
        if d.reason == policy.BUSY and self.link.bolus_dose_ug:
            progress = self.link.bolus_delivered_ug / self.link.bolus_dose_ug
        return screens.unavailable(d.reason, progress) + [alarm], AMBER, False

    def _expire_result(self, now):
        if self.phase == RESULT and self.clock.ticks_diff(now, self._result_at) >= _RESULT_MS:
            self.phase = IDLE
            self._dirty = True

    def _render(self, now):
        self._expire_result(now)
        link = self.link
        now_s = link.now_s(now)
        fresh = link.fresh(now)
        shown_s = self._shown_s
        if (
            self._dirty
            or self.phase == HOLDING  # the progress bar moves
            or (now_s is None) != (shown_s is None)  # time became known or unknown
            or (self._ticking and now_s != shown_s)  # a countdown's second changed
            or fresh != self._shown_fresh
            or link.changes != self._shown_changes
        ):
            self._dirty = False
            self._shown_s = now_s
            self._shown_fresh = fresh
            self._shown_changes = link.changes
            self._look = self.screen(now)
        lines, colour, blink = self._look
        if lines != self._shown:  # redraw only on change: an I2C display is slow
            self._shown = lines
            self.display.show(lines)
        self.indicator.set(colour, blink)
        high = bool(self.link.alarms & m.HIGH_PRIORITY_MASK)
        medium = bool(self.link.alarms & ~m.HIGH_PRIORITY_MASK & 0xFF)
        hz = self.sounder.update(now, high, medium)
        if hz:
            self.buzzer.on(hz)
        else:
            self.buzzer.off()

    # ---- when to poll next (the tickless loop) ---------------------------------------------
    def next_deadline(self, now):
        """The ticks by which `poll` must run again when no input comes (a button edge or a
        byte from the pump is an input): the earliest of the link's deadline (reply timeout,
        resend, back-off, record and status requests, the link going stale) and, while the
        screen counts down, the next change of its second, which is also how the lockout end
        arrives; the gesture's debounce, hold and stuck timers and the hold's progress bar;
        the result screen's expiry; the sounder's next change. Polls before it change nothing.
        Called after `poll`; may return `now` itself (poll again at once)."""
        clock = self.clock
        best = self.link.next_deadline(now, self._ticking)
        t = self.gesture.next_deadline(now)
        if t is not None and clock.ticks_diff(t, best) < 0:
            best = t
        if self.phase == HOLDING:
            t = self.gesture.progress_change(now, screens.WIDTH)
            if t is not None and clock.ticks_diff(t, best) < 0:
                best = t
        elif self.phase == RESULT:
            t = clock.ticks_add(self._result_at, _RESULT_MS)
            if clock.ticks_diff(t, best) < 0:
                best = t
        alarms = self.link.alarms
        t = self.sounder.next_change(now, bool(alarms & m.HIGH_PRIORITY_MASK), bool(alarms & ~m.HIGH_PRIORITY_MASK & 0xFF))
        if t is not None and clock.ticks_diff(t, best) < 0:
            best = t
        return best
