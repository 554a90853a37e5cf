"""The clinic report's words: calendar times, refusal reasons, alarms and faults in plain English.

Times in the log are pump time: whole seconds on the pump's clock since 1970-01-01 00:00, as the
pump's clock was set (local wall-clock time; the log holds no time zone). `stamp(t)` and
`date_label(day)` show them as calendar dates. Reason words reuse the handheld's own screen
texts (firmware/screens.py) for "what the patient read".
"""

import datetime

from firmware import messages, policy, screens
from firmware import eventlog as ev

DAY_S = 86400
EPOCH = datetime.datetime(1970, 1, 1)
CLOCK_SET_YEAR = 2000  # a pump clock before this year was never set to the calendar
CLOCK_SET_S = 946684800  # 2000-01-01 00:00 in pump time


def when(t_s):
    """The pump's wall-clock time as a datetime, or None when the time is unknown."""
    if t_s is None or t_s < 0:
        return None
    return EPOCH + datetime.timedelta(seconds=t_s)


def stamp(t_s, seconds=False) -> str:
    """'Tue 13 Jan 1970 07:30' (pump clock), or 'time unknown'."""
    d = when(t_s)
    if d is None:
        return "time unknown"
    return d.strftime("%a %d %b %Y %H:%M" + (":%S" if seconds else ""))


def clock(t_s, seconds=False) -> str:
    """'07:30' (or '07:30:05') within its day."""
    t = t_s % DAY_S
    text = "%02d:%02d" % (t // 3600, t // 60 % 60)
    return text + (":%02d" % (t % 60) if seconds else "")


def date_label(day) -> str:
    """'Tue 13 Jan 1970' for a day number (pump time // 86400)."""
    return (EPOCH + datetime.timedelta(days=day)).strftime("%a %d %b %Y")


def iso_date(day) -> str:
    return (EPOCH + datetime.timedelta(days=day)).strftime("%Y-%m-%d")


def short_labels(days):
    """Chart labels for day numbers: 'Tue 13 Jan' when they all fall in one year, else the
    ISO date (a log can span years)."""
    years = set(iso_date(d)[:4] for d in days)
    if len(years) <= 1:
        return [date_label(d)[:10] for d in days]
    return [iso_date(d) for d in days]


def duration(seconds) -> str:
    """'45 s', '25 min', '3 h 05 min', '2 d 4 h'."""
    s = int(seconds)
    if s < 60:
        return "%d s" % s
    if s < 3600:
        return "%d min" % (s // 60) + (" %02d s" % (s % 60) if s % 60 else "")
    if s < 2 * DAY_S:
        return "%d h %02d min" % (s // 3600, s // 60 % 60)
    return "%d d %d h" % (s // DAY_S, s // 3600 % 24)


# ---- refusals ---------------------------------------------------------------------------
# What the clinician reads, by the handheld's reason name (firmware/policy.py).
_REASONS = {
    policy.LOCKOUT: "within the lockout interval",
    policy.MAX_24H: "24-hour maximum reached",
    policy.ALARM: "pump alarm active",
    policy.UNCERTAIN: "an earlier dose not yet confirmed",
    policy.NOT_SYNCED: "handheld not yet synchronised with the pump",
    policy.NO_PRESCRIPTION: "no prescription on the handheld",
    policy.NO_LINK: "no link to the pump",
    policy.RESERVOIR: "pump reservoir too low",
    policy.STALE: "request too old",
    policy.BUSY: "a dose was still running",
    policy.AMOUNT_CAP: "amount limit over the window reached",
    policy.PUMP_REFUSED: "refused by the pump",
    policy.IDS_USED_UP: "request numbers used up (call the clinic)",
}
_PUMP_REASONS = {
    "lockout": "within the lockout interval",
    "max_24h": "24-hour maximum reached",
    "alarm": "pump alarm active",
    "reservoir": "reservoir too low",
    "amount_cap": "amount limit over the window reached",
    "no_prescription": "pump holds no prescription",
    "dose_mismatch": "dose differs from the pump's prescription",
    "busy": "pump busy with a dose",
    "auth": "message authentication failed",
    "replay": "message replayed",
    "stale": "request too old (pump)",
    "unpaired": "handheld not paired",
    "bad_id": "bad request number",
}


def reason_key(code) -> str:
    """The handheld's reason name for a DENIED record's code ('code 99' when unknown)."""
    return policy.REASON_NAMES.get(code, "code %d" % code)


def pump_reason_key(code) -> str:
    return "pump:" + str(messages.PUMP_REASONS.get(code, code))


def reason_words(key: str) -> str:
    """The clinician's words for a reason key (a handheld reason, or 'pump:<name>')."""
    if key.startswith("pump:"):
        name = key[5:]
        return "refused by the pump: " + str(_PUMP_REASONS.get(name, "reason code %s" % name))
    return str(_REASONS.get(key, "unknown reason (%s)" % key))


def patient_read(key: str) -> str:
    """What the handheld's screen said for this refusal (firmware/screens.py), or ''."""
    if key.startswith("pump:"):
        key = {"lockout": "lockout", "max_24h": "max_24h", "alarm": "alarm", "reservoir": "reservoir",
               "amount_cap": "amount_cap", "busy": "busy", "stale": "stale"}.get(key[5:], "pump_refused")
    lines = screens.denied(key, None, None)
    return " ".join(x for x in lines if x).strip()


# ---- alarms -----------------------------------------------------------------------------
_ALARMS = {
    "empty_reservoir": "reservoir empty",
    "motor_stall": "motor stall",
    "battery_eri": "pump battery at replacement time (ERI)",
    "low_reservoir": "reservoir low",
}


def alarm_words(name: str) -> str:
    return str(_ALARMS.get(name, name))


def alarm_priority(name: str) -> str:
    bits = {v: k for k, v in messages.ALARM_NAMES.items()}
    bit = bits.get(name, 0)
    return "high" if bit & messages.HIGH_PRIORITY_MASK else "medium"


# ---- faults -----------------------------------------------------------------------------
_FAULTS = {
    ev.FAULT_TORN_LOG: "log tail torn by a power cut (records dropped)",
    ev.FAULT_BUTTON_STUCK: "button held down too long (stuck?)",
    ev.FAULT_WATCHDOG: "watchdog reset",
    ev.FAULT_STORAGE: "corrupt log records skipped",
    ev.FAULT_LINK: "link to the pump lost",
    ev.FAULT_PUMP_CLOCK: "pump clock set",
    ev.FAULT_PUMP_CHANGED: "a different pump answered",
    ev.FAULT_HANDHELD: "handheld software fault (restarted)",
    ev.FAULT_OVERSIZED_FILE: "file too large, not read",
}
_FILES = {v: k for k, v in ev.FILE_IDS.items()}


def fault_words(code) -> str:
    return str(_FAULTS.get(code, "fault code %d" % code))


def fault_detail(code, b, c) -> str:
    """The detail of one FAULT record in words ('' when it carries none)."""
    if code == ev.FAULT_TORN_LOG or code == ev.FAULT_STORAGE:
        return "%d bytes" % b
    if code == ev.FAULT_PUMP_CLOCK:
        return "%s by %s" % ("back" if c else "forward", duration(b))
    if code == ev.FAULT_PUMP_CHANGED:
        return "pump id 0x%08x, then 0x%08x" % (b, c)
    if code == ev.FAULT_HANDHELD:
        names = ev.HANDHELD_EXCEPTIONS
        return "%s, %d in a row" % (names[b] if b < len(names) else "exception %d" % b, c)
    if code == ev.FAULT_OVERSIZED_FILE:
        return "%s, %d bytes" % (_FILES.get(b, "a file"), c)
    return ""


RX_REFUSALS = {
    1: "not signed",
    2: "signature does not match (wrong key or altered)",
    3: "malformed",
    4: "not newer than the one in force (rollback)",
    5: "the handheld has no valid key",
    6: "missing",
    7: "file too large",
}
