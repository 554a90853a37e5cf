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
LEDGER = "firmware/ledger.py"
GESTURE = "firmware/gesture.py"
EVENTLOG = "firmware/eventlog.py"
PUMP = "tools/pump_emulator/pump.py"
PUMP_DELIVERY = "tools/pump_emulator/delivery.py"  # the pump's clocks and motor
PUMP_LIMITS = "tools/pump_emulator/limits.py"
PUMP_RECORD = "tools/pump_emulator/record.py"
FRAME = "firmware/frame.py"
MESSAGES = "firmware/messages.py"
PRESCRIPTION = "firmware/prescription.py"
RXSTORE = "firmware/rxstore.py"
AUTH = "tools/security/pump_auth.py"
MAIN = "firmware/main.py"

MUTANTS = [
    # ---- 1: lockout ---------------------------------------------------------------------------
    Mutant(
        "1-handheld-no-lockout", "1", POLICY,
        "if last is not None and now_s < last + rx.lockout_s:\n        return Decision(False, LOCKOUT",
        "if False:\n        return Decision(False, LOCKOUT",
        "the handheld never denies 'lockout' (only the pump would refuse)",
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
        "3-pump-ignores-high-alarm", "3", PUMP_LIMITS,
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
        "3-basal-runs-during-alarm", "3", PUMP_DELIVERY,
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
    ),
    Mutant(
        "4-settled-as-not-delivered", "4", LINK,
        'delivered = bool(f["found"]) and f["status"] != m.BOLUS_REFUSED',
        "delivered = False",
        "an uncertain request is settled as not given whatever the pump's record says",
    ),
    Mutant(
        "4-no-uncertain-after-retries", "4", LINK,
        "            self.ledger.lost(rid)\n",
        "",
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
        "5-ids-not-recovered-from-the-log", "5", LEDGER,
        "                self.open[a] = Request(_time(t_s), b)\n            self.saw_id(a)\n",
        "                self.open[a] = Request(_time(t_s), b)\n",
        "a rebooted handheld does not take its next id from its log",
    ),
    Mutant(
        "5-pump-last-id-ignored", "5", LEDGER,
        "        self.pump_last_id = last_id",
        "        self.pump_last_id = 0",
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
        "6-pump-no-30-s-stale-check", "6", PUMP_LIMITS,
        "if captured + self.stale_s < now_s or captured > now_s + self.stale_s:",
        "if False:",
        "the pump applies a request captured long ago",
        quick=True,
    ),
    Mutant(
        "6-pump-no-stale-before-last-start", "6", PUMP_LIMITS,
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
        "            self.ledger.pump_entry(rid, start_s, status)\n",
        "            pass\n",
        "the pump's HISTORY entries are discarded at re-sync",
        quick=True,
    ),
    Mutant(
        "7-forgets-boluses-at-boot", "7", LEDGER,
        "        elif kind == ev.DELIVERED:\n            self._close(a)\n            self._started(a, c)\n",
        "        elif kind == ev.DELIVERED:\n            self._close(a)\n",
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
        "        self.link.request_bolus(rid, rx.dose_ug, rx.duration_s, now_s)\n"
        "        self.phase = REQUESTING\n"
        "        self.link.send_queued(now)\n",
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
        "10-pump-no-lockout", "10", PUMP_LIMITS,
        'if last is not None and self.mono_s < last["start_mono_s"] + rx.lockout_s:',
        "if False:",
        "the pump does not enforce the lockout",
    ),
    Mutant(
        "10-pump-max-off-by-one", "10", PUMP_LIMITS,
        "if len(self.started_within(DAY_S)) >= rx.max_per_24h:",
        "if len(self.started_within(DAY_S)) > rx.max_per_24h:",
        "the pump allows one more than the 24 h maximum",
    ),
    Mutant(
        "10-pump-cap-without-basal", "10", PUMP_LIMITS,
        "total = -(-self.basal_ug_per_h * window_s // 3600)",
        "total = 0",
        "the amount cap does not count the basal",
    ),
    Mutant(
        "10-pump-no-dose-check", "10", PUMP_LIMITS,
        'if fields["dose_ug"] != rx.dose_ug or fields["duration_s"] != rx.duration_s:',
        'if fields["duration_s"] != rx.duration_s:',
        "the pump delivers whatever dose it is asked for",
    ),
    Mutant(
        "10-pump-no-reservoir-check", "10", PUMP_LIMITS,
        "        if self._reservoir_ng < rx.dose_ug * 1000:\n            return m.R_RESERVOIR",
        "        if False:\n            return m.R_RESERVOIR",
        "the pump starts a bolus the reservoir cannot hold",
    ),
    # ---- L1: corrupted frames ----------------------------------------------------------------
    Mutant(
        "L1-crc-not-checked", "L1", FRAME,
        "        if crc32(self._body_mv[:end]) != got:\n            return Frame(error=ERR_CRC)",
        "        if False:\n            return Frame(error=ERR_CRC)",
        "a frame with a bad CRC is acted on",
    ),
    Mutant(
        "L1-long-payload-accepted", "L1", MESSAGES,
        "    if len(payload) != size:\n",
        "    if len(payload) < size:\n",
        "a payload longer than its message's layout is accepted",
    ),
    Mutant(
        "L1-version-not-checked", "L1", FRAME,
        "        if body[0] != VERSION:\n",
        "        if False:\n",
        "a frame of another protocol version is acted on",
    ),
    # ---- L2: the decoder on garbage -----------------------------------------------------------
    Mutant(
        "L2-overlong-frame-kept", "L2", FRAME,
        "                else:\n                    self._overflow = True\n                    self._n = 0",
        "                else:\n                    self._overflow = False\n                    self._n = 0",
        "the rest of an overlong frame is read as a new frame",
    ),
    Mutant(
        "L2-raises-on-bad-cobs", "L2", FRAME,
        "        if m < 0:\n            return Frame(error=ERR_COBS)",
        "        if m < 0:\n            raise FrameError(\"malformed COBS data\")",
        "the decoder raises on malformed COBS bytes",
    ),
    # ---- L3: documented bytes -----------------------------------------------------------------
    Mutant(
        "L3-version-byte-changed", "L3", FRAME,
        "VERSION = const(1)",
        "VERSION = const(2)",
        "the version byte differs from the document",
    ),
    Mutant(
        "L3-ack-fields-swapped", "L3", MESSAGES,
        '("request_id", "accepted", "reason", "start_s", "pump_time")',
        '("request_id", "accepted", "reason", "pump_time", "start_s")',
        "BOLUS_ACK's two times are sent in the other order",
    ),
    # ---- L4: pump restart ---------------------------------------------------------------------
    Mutant(
        "L4-ack-before-the-record-is-written", "L4", PUMP,
        "            self.save()  # committed before the motor turns and before the ack leaves",
        "            pass  # committed before the motor turns and before the ack leaves",
        "the pump acks and starts a bolus before writing its record",
    ),
    Mutant(
        "L4-restart-leaves-the-bolus-running", "L4", PUMP_RECORD,
        '            if e["status"] == m.BOLUS_DELIVERING:\n                e["status"] = m.BOLUS_STOPPED',
        '            if False:\n                e["status"] = m.BOLUS_STOPPED',
        "a bolus running at a restart is not ended as stopped",
    ),
    # ---- L5: alarms reach the patient ---------------------------------------------------------
    Mutant(
        "L5-no-alarm-frames", "L5", "tools/pump_emulator/port.py",
        "        if alarms != self._alarms_sent:\n",
        "        if False:\n",
        "the pump sends no ALARM frame when its alarms change",
    ),
    Mutant(
        "L5-medium-alarm-blocks", "L5", APP,
        "        pump_high = self.link.alarms & m.HIGH_PRIORITY_MASK\n",
        "        pump_high = self.link.alarms\n",
        "a medium alarm is taken as high priority (denies every bolus)",
    ),
    Mutant(
        "L5-alarm-mask-in-replies-ignored", "L5", LINK,
        '        if "alarms" in f:\n            self._learn_alarms(f["alarms"], events)',
        '        if False:\n            self._learn_alarms(f["alarms"], events)',
        "the alarm mask in SYNC and STATUS replies is ignored (a lost ALARM frame is never made up)",
    ),
    # ---- R: the first independent review ------------------------------------------------------
    Mutant(
        "R1-clock-jump-not-detected", "R1", LINK,
        "if est is not None and not -_CLOCK_SLACK_S <= pump_time - est <= _CLOCK_SLACK_S:",
        "if False:",
        "a pump time that jumped against the handheld's estimate is taken as it is",
    ),
    Mutant(
        "R1-starts-not-moved-with-the-clock", "R1", LEDGER,
        "        for rid in d:\n            d[rid] = max(0, d[rid] + delta_s)\n",
        "",
        "after a clock jump the handheld's own bolus starts stay in the old clock",
    ),
    Mutant(
        "R1-earlier-start-wins", "R1", LEDGER,
        "    if seen.get(rid, -1) < start_s:",
        "    if rid not in seen:",
        "where the pump and the log disagree on a start, the pump's (earlier) one counts",
    ),
    Mutant(
        "R2-negative-age-is-not-due", "R2", LINK,
        "        return last is None or self._since(now, last) >= every",
        "        return last is None or self.clock.ticks_diff(now, last) >= every",
        "a settle request last sent over half a tick period ago is 'not due'",
    ),
    Mutant(
        "R3-any-reply-ends-the-exchange", "R3", LINK,
        '        if p[_RID] is not None and f.get("request_id") != p[_RID]:\n            return',
        '        if False:\n            return',
        "a reply naming another request id is taken as the answer",
    ),
    Mutant(
        "R4-pump-time-limited-to-2-31", "R4", EVENTLOG,
        "        elif not 0 <= t_s < _T_UNKNOWN:",
        "        elif not 0 <= t_s < 0x7FFFFFFF:",
        "the log refuses pump times past 2**31",
    ),
    Mutant(
        "R5-handheld-starts-never-forgotten", "R5", LEDGER,
        "        _forget(self.delivered, keep_after)\n",
        "",
        "the handheld keeps every bolus start of its own for ever",
    ),
    Mutant(
        "R5-pump-history-never-forgotten", "R5", LEDGER,
        "        _forget(self.pump, keep_after)\n",
        "",
        "the handheld keeps every entry of the pump's record for ever",
    ),
    Mutant(
        "R5-old-starts-kept", "R5", LEDGER,
        "        if rid != newest and starts[rid] <= keep_after_s:",
        "        if False:",
        "pruning forgets nothing, of either source",
    ),
    Mutant(
        "R6-no-checkpoint-on-rotation", "R6", APP,
        "        self.log.on_rotate = self._checkpoint\n",
        "        self.log.on_rotate = None\n",
        "a rotation erases the open request and the id counter",
    ),
    Mutant(
        "R7-partial-bolus-shown-as-given", "R7", APP,
        "            if partial:\n",
        "            if False:\n",
        "a bolus stopped part-way is reported as given",
    ),
    Mutant(
        "R8-old-medium-alarm-sounds-again", "R8", "firmware/sounder.py",
        "            if 0 <= since < _MEDIUM_SOUND_MS:\n"
        "                return _MEDIUM_HZ if age % _MEDIUM_PERIOD_MS < _MEDIUM_ON_MS else 0\n"
        "            self._medium_since = None  # sounded its time",
        "            if since < _MEDIUM_SOUND_MS:\n"
        "                return _MEDIUM_HZ if age % _MEDIUM_PERIOD_MS < _MEDIUM_ON_MS else 0\n"
        "            pass  # sounded its time",
        "a medium alarm is never done sounding: once the tick difference wraps it sounds again",
    ),
    # ---- S: under stress ----------------------------------------------------------------------
    Mutant(
        "S1-settled-as-not-delivered", "S1", LINK,
        'delivered = bool(f["found"]) and f["status"] != m.BOLUS_REFUSED',
        "delivered = False",
        "an uncertain request is settled as not given whatever the pump's record says",
    ),
    Mutant(
        "S1-pump-applies-a-duplicate", "S1", PUMP,
        "        old = self.boluses.get(rid)\n",
        "        old = None\n",
        "the pump applies a resent request again",
    ),
    Mutant(
        "S1-repeated-requests-per-gesture", "S1", GESTURE,
        "            self._completed = True\n            return HOLD_COMPLETE",
        "            return HOLD_COMPLETE",
        "a long hold requests again and again",
    ),
    Mutant(
        "S2-torn-tail-kept", "S2", EVENTLOG,
        "                self.storage.truncate(name, end)\n",
        "                pass\n",
        "a torn tail is left in place (appends misaligned)",
    ),
    Mutant(
        "S2-open-requests-not-relogged", "S2", APP,
        "        for rid in self.ledger.open:\n            self._log_open(rid)\n",
        "",
        "a rotation erases the open requests (only the id counter is written again)",
    ),
    Mutant(
        "S3-crc-not-checked", "S3", FRAME,
        "        if crc32(self._body_mv[:end]) != got:\n            return Frame(error=ERR_CRC)",
        "        if False:\n            return Frame(error=ERR_CRC)",
        "a frame with a bad CRC is acted on",
    ),
    Mutant(
        "S3-long-payload-accepted", "S3", MESSAGES,
        "    if len(payload) != size:\n",
        "    if len(payload) < size:\n",
        "a payload longer than its message's layout is accepted",
    ),
    Mutant(
        "S4-non-canonical-accepted", "S4", PRESCRIPTION,
        "    if canonical(rx) != b:  # leading zeros",
        "    if False:  # leading zeros",
        "a prescription with leading zeros or other non-canonical bytes is accepted",
    ),
    Mutant(
        "S4-unicode-blanks-split", "S4", PRESCRIPTION,
        '    return [w for w in line.split(" ") if w]',
        "    return line.split()",
        "host and device split a prescription text on different blanks",
    ),
    Mutant(
        "S5-pump-lockout-on-its-settable-clock", "S5", PUMP_LIMITS,
        'if last is not None and self.mono_s < last["start_mono_s"] + rx.lockout_s:',
        'if last is not None and self.pump_time < last["start_s"] + rx.lockout_s:',
        "the pump's lockout counts on the clock that can be set",
    ),
    Mutant(
        "S5-starts-not-restated-in-the-clock-now", "S5", PUMP_DELIVERY,
        '        return max(0, self.pump_time - (self.mono_s - entry["start_mono_s"]))',
        '        return entry["start_s"]',
        "the pump reports starts in the clock as it read at the start",
    ),
    Mutant(
        "S5-running-handheld-keeps-its-starts", "S5", LEDGER,
        "        for rid in d:\n            d[rid] = max(0, d[rid] + delta_s)\n",
        "",
        "a running handheld that saw the pump's clock jump leaves its starts in the old clock",
    ),
    Mutant(
        "S5-logged-shift-not-replayed", "S5", LEDGER,
        "            self.shift(-b if c else b)\n",
        "            self.shift(0)\n",
        "a rebooted handheld does not replay the clock shifts it logged",
    ),
    # ---- X: security --------------------------------------------------------------------------
    Mutant(
        "X1-tag-not-checked", "X1", RXSTORE,
        "    if not compare(hmac_sha256(key, body), blob[-TAG_LEN:]):",
        "    if False:",
        "a prescription is used without checking its HMAC tag",
    ),
    Mutant(
        "X2-same-version-accepted", "X2", RXSTORE,
        "    if rx.version <= current_version:",
        "    if rx.version < current_version:",
        "a prescription of the version in force is installed again",
    ),
    Mutant(
        "X3-pump-file-written-in-place", "X3", "tools/clinician/targets.py",
        "        write_file(tmp, data)\n        os.replace(tmp, path)\n",
        "        write_file(path, data)\n",
        "the pump's prescription file is written in place, not replaced atomically",
    ),
    Mutant(
        "X4-zero-tag-not-unpaired", "X4", AUTH,
        " or compare(tag, _ZERO_TAG):",
        ":",
        "an all-zero tag is judged as a wrong tag, not as an unpaired sender",
    ),
    Mutant(
        "X4-replay-accepted", "X4", AUTH,
        "        return R_OK\n    return R_REPLAY\n",
        "        return R_OK\n    return R_OK\n",
        "an authentic frame with an old counter is accepted",
    ),
    Mutant(
        "X4-forged-frame-recorded", "X4", PUMP,
        '                return {"request_id": rid, "accepted": 0, "reason": code, "start_s": 0, "pump_time": now_s}\n'
        "        reason = self.check_bolus(fields, now_s)\n",
        "                reason = code\n"
        "            else:\n"
        "                reason = self.check_bolus(fields, now_s)\n"
        "        else:\n"
        "            reason = self.check_bolus(fields, now_s)\n",
        "a forged frame is recorded under its request id (and blocks the genuine one)",
    ),
    Mutant(
        "X5-bad-slots-not-located", "X5", "tools/clinician/logfile.py",
        "            good = len(chunk) == RECORD_SIZE and len(eventlog.decode_all(chunk)[0]) == 1",
        "            good = True",
        "verify-log does not name the offsets of damaged records",
    ),
    # ---- D: found by the second review (issue 11) ---------------------------------------------
    Mutant(
        "D1-restart-counts-the-settable-clock", "D1", PUMP_RECORD,
        "passed = max(0, self.source_ms - source_ms)",
        "passed = max(0, self.pump_ms - pump_ms)",
        "a restart counts the time the pump was off on its settable clock (a set-back counts as elapsed)",
    ),
    Mutant(
        "D2-record-req-records-an-unknown-id", "D2", PUMP,
        '            if e is None:\n                return m.RECORD, {',
        '            if e is None:\n                self.boluses[fields["request_id"]] = {"request_id": fields["request_id"],'
        ' "status": m.BOLUS_REFUSED, "start_s": 0, "start_mono_s": 0, "closed": True}\n'
        '                return m.RECORD, {',
        "a RECORD_REQ for an unknown id records it (a forged one becomes SYNC's last id)",
    ),
    Mutant(
        "D2-pump-takes-any-request-id", "D2", PUMP,
        "        if not 1 <= rid <= m.REQUEST_ID_MAX:\n",
        "        if False:\n",
        "the pump records a request id out of 1..REQUEST_ID_MAX",
    ),
    Mutant(
        "D2-handheld-goes-past-the-last-id", "D2", LEDGER,
        "        if rid > m.REQUEST_ID_MAX:\n",
        "        if False:\n",
        "a handheld whose next id is past the limit sends it anyway",
    ),
    Mutant(
        "D2-not-found-is-final-at-once", "D2", LEDGER,
        "if not found and captured is not None and captured - _PUMP_STALE_S <= pump_now_s <= captured + _PUMP_STALE_S:",
        "if False:",
        "'not found' settles as not given while the request could still arrive and be applied",
    ),
    Mutant(
        "D2-not-found-final-inside-the-window-before-capture", "D2", LEDGER,
        "captured - _PUMP_STALE_S <= pump_now_s <= captured + _PUMP_STALE_S:",
        "captured <= pump_now_s <= captured + _PUMP_STALE_S:",
        "'not found' settles while the pump's clock reads less than 30 s before the capture, when the pump would still take the request",
    ),
    Mutant(
        "D4-an-old-tick-is-not-yet", "D4", LINK,
        "        return _LONG_AGO if d < 0 else d\n",
        "        return d\n",
        "a tick over half a period old reads as 'not yet': a pending reply never times out and the link falls silent",
    ),
    Mutant(
        "D4-time-since-sync-from-one-tick-difference", "D4", LINK,
        "        self._count_time(now)\n",
        "",
        "the time since the last pump time is one tick difference (wrong after 12.4 days)",
    ),
    Mutant(
        "D6-pump-time-wraps-at-2-32", "D6", PUMP_DELIVERY,
        "        return min(max(0, self.pump_ms // 1000), m.PUMP_TIME_MAX)",
        "        return (self.pump_ms // 1000) & 0xFFFFFFFF",
        "pump time runs into 0xFFFFFFFF and wraps",
    ),
    Mutant(
        "D6-estimate-past-the-limit-used", "D6", LINK,
        " or t > _PUMP_TIME_MAX:",
        ":",
        "a handheld estimate past PUMP_TIME_MAX is used as a time",
    ),
    Mutant(
        "D6-clock-set-past-the-limit", "D6", PUMP_DELIVERY,
        "        if not 0 <= after <= m.PUMP_TIME_MAX:\n",
        "        if False:\n",
        "the pump's clock can be set past PUMP_TIME_MAX",
    ),
    Mutant(
        "D7-repeated-ack-carries-the-current-time", "D7", PUMP,
        '                ack["pump_time"] = max(0, restated)',
        '                ack["pump_time"] = self.pump_time',
        "a repeated ack after a clock set carries the current time, not the judgement's",
    ),
    Mutant(
        "D7-queued-bolus-skips-the-back-off", "D7", LINK,
        "        if 0 < self.clock.ticks_diff(self._wait_until, now) <= _BACKOFF_MS:\n            return True\n",
        "        if 0 < self.clock.ticks_diff(self._wait_until, now) <= _BACKOFF_MS:\n            return self._bolus is None\n",
        "a queued BOLUS_REQ goes out during the 1 s back-off",
    ),
    Mutant(
        "D3-a-watchdog-reset-forgets-the-faults", "D3", MAIN,
        "        if self.watchdog is not None and self.watchdog.caused_last_reset():\n",
        "        if False:\n",
        "after a watchdog reset the count of faults in a row starts again: a fault at every boot resets the board for ever",
    ),
    Mutant(
        "D3-exception-stops-the-loop", "D3", MAIN,
        "        try:\n            self.app.poll()\n            ms = self.sleep_ms()\n        except Exception as e:\n            self._fault(e)\n            return _FAULT_TURN_MS\n",
        "        self.app.poll()\n        ms = self.sleep_ms()\n",
        "an exception in a poll escapes the superloop",
    ),
    Mutant(
        "D3-fault-not-logged", "D3", MAIN,
        "        _quietly(self._log_fault, app, exc)\n",
        "",
        "a handheld fault leaves no FAULT record",
    ),
    Mutant(
        "D3-watchdog-fed-in-the-fault-state", "D3", MAIN,
        "        self._turns += 1\n",
        "        self._turns += 1\n        if self.watchdog is not None:\n            self.watchdog.feed()\n",
        "the fault state feeds the watchdog (a board is never reset by it)",
    ),
    Mutant(
        "D3-faults-in-a-row-not-limited", "D3", MAIN,
        "        if self.faults < _MAX_FAULTS:\n",
        "        if True:\n",
        "a fault at every boot reboots for ever instead of staying in the fault state",
    ),
    Mutant(
        "D3-kept-fault-state-not-fed", "D3", MAIN,
        "                self.watchdog.feed()\n",
        "                pass\n",
        "the kept fault state does not feed the watchdog: a board with one is reset every 5 s for ever",
    ),
    Mutant(
        "D5-rx-bin-read-without-a-cap", "D5", RXSTORE,
        "blob = self.storage.read(self.name, MAX_BLOB)",
        "blob = self.storage.read(self.name)",
        "rx.bin is read whatever its size",
    ),
    Mutant(
        "D5-size-not-checked-before-reading", "D5", "hal/storage.py",
        "            if limit is not None and size > limit:\n                raise Oversized(name, size, limit)\n",
        "",
        "the file's size is not checked before reading it",
    ),
    Mutant(
        "D5-oversized-segment-not-cut", "D5", EVENTLOG,
        "                self.storage.truncate(name, self.segment_bytes)\n",
        "",
        "an oversized log segment is not cut to its first 4 KB (the log cannot be opened)",
    ),
    # ---- H: the hardware contract ---------------------------------------------------------------
    Mutant(
        "H1-unreadable-file-read-as-missing", "H1", "hal/storage.py",
        "            if missing(e):\n                return None\n            raise\n",
        "            return None\n",
        "FileStorage.read turns any OSError into 'no such file' (the log reads as empty)",
    ),
    Mutant(
        "H1-log-read-error-taken-as-empty", "H1", EVENTLOG,
        "            data = self.storage.read(name, self.segment_bytes)\n            if data is None:",
        "            try:\n                data = self.storage.read(name, self.segment_bytes)\n"
        "            except OSError:\n                data = None\n            if data is None:",
        "the event log opens a segment it cannot read as an empty one (a fresh device)",
    ),
    Mutant(
        "H2-stalled-write-taken-as-complete", "H2", "hal/storage.py",
        "        if not n:  # None or 0: no progress\n            raise OSError(_EIO)\n",
        "        if not n:  # None or 0: no progress\n            return\n",
        "a write that stops part-way returns as if every byte were written",
    ),
    Mutant(
        "H2-short-write-not-continued", "H2", "hal/storage.py",
        "        n = f.write(view[done:])\n",
        "        return\n",
        "a short write is not continued (the rest of the record is dropped)",
    ),
    Mutant(
        "D8-fullwidth-digits-accepted", "D8", "tools/cli_args.py",
        " or not text.isascii()",
        "",
        "a tool takes digits the firmware's parsers refuse (fullwidth, Arabic-Indic)",
    ),
    Mutant(
        "D8-nan-accepted", "D8", "tools/cli_args.py",
        "    if not math.isfinite(x):\n",
        "    if False:\n",
        "a tool takes nan or inf as a number",
    ),
]  # fmt: skip


def for_row(key):
    return [m for m in MUTANTS if m.row == key]


def by_name(name):
    for m in MUTANTS:
        if m.name == name:
            return m
    return None
