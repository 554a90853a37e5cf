"""The mutants: for each row of docs/safety.md (by its key, the `#` cell), small edits to the
sources that remove or weaken that row's mitigation. The tests the row names must fail on each.

A mutant is an exact replacement of `old` by `new` in one file; `old` must occur exactly once
in that file, so a mutant whose code was rewritten is reported instead of silently passing.
`quick` marks the few run in `make test` (tests/test_safety_mutants.py).
"""


class Mutant:
    def __init__(self, name, row, path, old, new, why, quick=False):
        self.name = name
        self.row = row
        self.path = path
        self.old = old
        self.new = new
        self.why = why
        self.quick = quick

    def __repr__(self):
        return "Mutant(%s, row %s, %s)" % (self.name, self.row, self.path)


# Rows that name no test, and why (a residual risk has no mitigation in code to remove).
SKIPPED = {
    "X6": "residual risk ('PCA by proxy'): not solvable in software, no test names it",
}

POLICY = "firmware/policy.py"
APP = "firmware/app.py"
LINK = "firmware/link.py"
GESTURE = "firmware/gesture.py"
EVENTLOG = "firmware/eventlog.py"
PUMP = "tools/pump_emulator/pump.py"

MUTANTS = [
    # ---- 1: lockout ---------------------------------------------------------------------------
    Mutant(
        "1-handheld-no-lockout", "1", POLICY,
        "if last is not None and now_s < last + rx.lockout_s:\n        return Decision(False, LOCKOUT",
        "if False:\n        return Decision(False, LOCKOUT",
        "the handheld never denies 'lockout' (only the pump would refuse)",
        quick=True,
    ),
    Mutant(
        "1-lockout-from-oldest-start", "1", POLICY,
        "        if last is None or s > last:\n            last = s\n        if s > now_s - _DAY_S:",
        "        if last is None or s < last:\n            last = s\n        if s > now_s - _DAY_S:",
        "the lockout counts from the oldest start the handheld knows, not the newest",
        quick=True,
    ),
    Mutant(
        "1-next-time-from-oldest-start", "1", POLICY,
        "    for s in starts:\n        if last is None or s > last:\n            last = s\n    if last is None:\n        return now_s",
        "    for s in starts:\n        if last is None or s < last:\n            last = s\n    if last is None:\n        return now_s",
        "'Next in m:ss' counts the lockout from the oldest start",
    ),
    Mutant(
        "1-lockout-one-second-short", "1", POLICY,
        "now_s < last + rx.lockout_s:",
        "now_s < last + rx.lockout_s - 1:",
        "the lockout ends a second early",
    ),
    # ---- 2: rolling 24 h maximum --------------------------------------------------------------
    Mutant(
        "2-handheld-max-off-by-one", "2", POLICY,
        "    if in_window >= rx.max_per_24h:\n        return Decision(False, MAX_24H",
        "    if in_window > rx.max_per_24h:\n        return Decision(False, MAX_24H",
        "the handheld allows one bolus more than the 24 h maximum",
        quick=True,
    ),
    Mutant(
        "2-window-closed-at-a-day-ago", "2", POLICY,
        "        if s > now_s - _DAY_S:\n            in_window += 1",
        "        if s >= now_s - _DAY_S:\n            in_window += 1",
        "a start exactly 24 h ago still counts (the window is not (now-86400, now])",
    ),
    Mutant(
        "2-next-time-from-newest-start", "2", POLICY,
        "leaves = newest[rx.max_per_24h - 1] + _DAY_S",
        "leaves = newest[0] + _DAY_S",
        "next_s waits for the newest start to leave the window, not the one that must",
    ),
    # ---- 3: high-priority alarm ---------------------------------------------------------------
    Mutant(
        "3-handheld-ignores-high-alarm", "3", POLICY,
        "    if view.alarm_high:\n        return Decision(False, ALARM)",
        "    if False:\n        return Decision(False, ALARM)",
        "the handheld grants during a high-priority alarm",
    ),
    Mutant(
        "3-pump-ignores-high-alarm", "3", PUMP,
        "        if self.alarms & m.HIGH_PRIORITY_MASK:\n            return m.R_ALARM",
        "        if False:\n            return m.R_ALARM",
        "the pump starts a bolus during a high-priority alarm",
        quick=True,
    ),
    Mutant(
        "3-alarm-does-not-stop-the-bolus", "3", PUMP,
        "        if new & m.HIGH_PRIORITY_MASK and self._active is not None:",
        "        if False and self._active is not None:",
        "a high alarm lets a running bolus go on",
    ),
    Mutant(
        "3-basal-runs-during-alarm", "3", PUMP,
        "        if self._alarms_seen & m.HIGH_PRIORITY_MASK:\n            return 0",
        "        if False:\n            return 0",
        "the basal keeps running during a high alarm",
    ),
    # ---- 4: lost reply, uncertain -------------------------------------------------------------
    Mutant(
        "4-uncertain-does-not-deny", "4", POLICY,
        "    if view.uncertain:\n        return Decision(False, UNCERTAIN)",
        "    if False:\n        return Decision(False, UNCERTAIN)",
        "a press is judged as if no request were uncertain",
        quick=True,
    ),
    Mutant(
        "4-settled-as-not-delivered", "4", LINK,
        'delivered = bool(f["found"]) and f["status"] != m.BOLUS_REFUSED',
        "delivered = False",
        "an uncertain request is settled as not given whatever the pump's record says",
    ),
    Mutant(
        "4-no-uncertain-after-retries", "4", LINK,
        "            self.add_uncertain(rid,",
        "            (rid,",
        "a request with no reply after its resends is not made uncertain (nothing settles it)",
    ),
    # ---- 5: unique ids, applied at most once --------------------------------------------------
    Mutant(
        "5-pump-applies-a-duplicate", "5", PUMP,
        "        old = self.boluses.get(rid)\n",
        "        old = None\n",
        "the pump applies a request id it has already seen",
        quick=True,
    ),
    Mutant(
        "5-ids-not-recovered-from-the-log", "5", APP,
        "                self._doses[r.a] = r.b\n                if r.a >= self.next_request_id:\n                    self.next_request_id = r.a + 1",
        "                self._doses[r.a] = r.b",
        "a rebooted handheld does not take its next id from its log",
    ),
    Mutant(
        "5-pump-last-id-ignored", "5", LINK,
        '        self.last_request_id = f["last_request_id"]',
        "        self.last_request_id = 0",
        "the handheld does not merge its next id with the pump's last id",
    ),
    # ---- 6: stale requests --------------------------------------------------------------------
    Mutant(
        "6-handheld-sends-without-a-link", "6", POLICY,
        "    if not view.link_up:\n        return Decision(False, NO_LINK)",
        "    if False:\n        return Decision(False, NO_LINK)",
        "a press while the link is down is granted (and queued for later)",
    ),
    Mutant(
        "6-pump-no-30-s-stale-check", "6", PUMP,
        "if captured + self.stale_s < now_s or captured > now_s + self.stale_s:",
        "if False:",
        "the pump applies a request captured long ago",
        quick=True,
    ),
    Mutant(
        "6-pump-no-stale-before-last-start", "6", PUMP,
        'if last is not None and captured < self.start_now_s(last):',
        "if False:",
        "the pump applies a request captured before the last bolus started",
    ),
    # ---- 7: unknown time or history after a reboot --------------------------------------------
    Mutant(
        "7-no-not-synced", "7", POLICY,
        "    if not view.synced or now_s is None:",
        "    if now_s is None:",
        "a press is judged before the pump's history is read again",
    ),
    Mutant(
        "7-history-discarded", "7", LINK,
        "            self.history[rid] = (start_s, dose_ug, status)\n",
        "            pass\n",
        "the pump's HISTORY entries are discarded at re-sync",
        quick=True,
    ),
    Mutant(
        "7-forgets-boluses-at-boot", "7", APP,
        "            elif r.kind == ev.DELIVERED:\n                self._delivered[r.a] = r.c\n",
        "            elif r.kind == ev.DELIVERED:\n",
        "a rebooted handheld forgets the boluses its log holds",
        quick=True,
    ),
    Mutant(
        "7-synced-after-the-first-history-page", "7", LINK,
        'if self._hist_offset >= f["total"] or not f["boluses"]:',
        "if True:",
        "the handheld counts as synced after the first HISTORY page",
    ),
    Mutant(
        "7-old-time-estimate-kept", "7", LINK,
        "self._age_s >= _SYNC_MAX_AGE_S or ",
        "",
        "a pump-time estimate older than 6 h is still used",
    ),
    # ---- 8: power loss and the log ------------------------------------------------------------
    Mutant(
        "8-crc-not-checked", "8", EVENTLOG,
        "    if crc != crc32(mv[off : off + _BODY_SIZE]) & _U32_MAX:\n        return -1",
        "    if False:\n        return -1",
        "a record is read without checking its CRC",
    ),
    Mutant(
        "8-torn-tail-kept", "8", EVENTLOG,
        "                self.storage.truncate(name, end)\n",
        "                pass\n",
        "a torn tail is left in place (appends misaligned)",
    ),
    Mutant(
        "8-grant-logged-after-sending", "8", APP,
        "        self.log.append(ev.GRANTED, t, rid, rx.dose_ug, rx.duration_s)\n"
        "        self._requested[rid] = now_s\n"
        "        self._doses[rid] = rx.dose_ug\n"
        "        self._in_flight = rid\n"
        "        self.link.request_bolus(rid, rx.dose_ug, rx.duration_s, now_s)\n"
        "        self.phase = REQUESTING\n"
        "        self.link.send_queued(now)\n",
        "        self._requested[rid] = now_s\n"
        "        self._doses[rid] = rx.dose_ug\n"
        "        self._in_flight = rid\n"
        "        self.link.request_bolus(rid, rx.dose_ug, rx.duration_s, now_s)\n"
        "        self.phase = REQUESTING\n"
        "        self.link.send_queued(now)\n"
        "        self.log.append(ev.GRANTED, t, rid, rx.dose_ug, rx.duration_s)\n",
        "the request goes out before its GRANTED record is committed",
    ),
    Mutant(
        "8-prescription-replaced-in-place", "8", "firmware/rxstore.py",
        "        self.storage.replace(self.name, bytes(blob))\n",
        "        self.storage.truncate(self.name, 0)\n        self.storage.append(self.name, bytes(blob))\n",
        "the prescription file is rewritten in place, not replaced atomically",
    ),
    # ---- 9: stuck or bouncing button ----------------------------------------------------------
    Mutant(
        "9-no-debounce", "9", GESTURE,
        "if raw != self._level and self._elapsed(now, self._raw_since) >= self.debounce_ms:",
        "if raw != self._level:",
        "the first edge counts (no stable-sample debounce)",
    ),
    Mutant(
        "9-hold-need-not-be-unbroken", "9", GESTURE,
        "if not self._completed and self._elapsed(now, self._raw_since) >= self.hold_ms:",
        "if not self._completed and self._elapsed(now, self._pressed_at) >= self.hold_ms:",
        "bounces inside the hold do not restart it",
    ),
    Mutant(
        "9-repeated-requests-per-gesture", "9", GESTURE,
        "            self._completed = True\n            return HOLD_COMPLETE",
        "            return HOLD_COMPLETE",
        "a long hold requests again and again",
        quick=True,
    ),
    Mutant(
        "9-down-at-boot-is-a-press", "9", GESTURE,
        "            if raw:  # down before we ever saw it up",
        "            if False:  # down before we ever saw it up",
        "a button down at boot becomes a normal press",
    ),
    Mutant(
        "9-never-stuck", "9", GESTURE,
        "if self._elapsed(now, self._pressed_at) >= self.stuck_ms:",
        "if False:",
        "a button held past 60 s is not a fault",
    ),
    Mutant(
        "9-stuck-not-logged", "9", APP,
        "            self.log.append(ev.FAULT, self._t(now), ev.FAULT_BUTTON_STUCK)\n",
        "",
        "a stuck button is not logged as a fault",
    ),
    Mutant(
        "9-ticks-subtracted", "9", GESTURE,
        "        d = self._diff(now, since)\n",
        "        d = now - since\n",
        "gesture times subtract ticks (wrong across the wrap)",
    ),
    # ---- 10: the pump's own limits ------------------------------------------------------------
    Mutant(
        "10-pump-no-lockout", "10", PUMP,
        'if last is not None and self.mono_s < last["start_mono_s"] + rx.lockout_s:',
        "if False:",
        "the pump does not enforce the lockout",
        quick=True,
    ),
    Mutant(
        "10-pump-max-off-by-one", "10", PUMP,
        "if len(self.started_within(DAY_S)) >= rx.max_per_24h:",
        "if len(self.started_within(DAY_S)) > rx.max_per_24h:",
        "the pump allows one more than the 24 h maximum",
    ),
    Mutant(
        "10-pump-cap-without-basal", "10", PUMP,
        "total = -(-self.basal_ug_per_h * window_s // 3600)",
        "total = 0",
        "the amount cap does not count the basal",
    ),
    Mutant(
        "10-pump-no-dose-check", "10", PUMP,
        'if fields["dose_ug"] != rx.dose_ug or fields["duration_s"] != rx.duration_s:',
        'if fields["duration_s"] != rx.duration_s:',
        "the pump delivers whatever dose it is asked for",
    ),
    Mutant(
        "10-pump-no-reservoir-check", "10", PUMP,
        "        if self._reservoir_ng < rx.dose_ug * 1000:\n            return m.R_RESERVOIR",
        "        if False:\n            return m.R_RESERVOIR",
        "the pump starts a bolus the reservoir cannot hold",
    ),
]  # fmt: skip


def for_row(key):
    return [m for m in MUTANTS if m.row == key]


def by_name(name):
    for m in MUTANTS:
        if m.name == name:
            return m
    return None
