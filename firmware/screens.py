"""The words the patient reads: 4 lines of at most 16 characters each.

Pure functions from app state to display lines, kept apart from the app so the wording can be
reviewed (IEC 62366: the text is part of the interface) and tested on its own.
"""

WIDTH = 16

_DENIED = {
    "lockout": ("Not given:", "too soon"),
    "max_24h": ("Not given:", "24 h max used"),
    "alarm": ("Not given:", "pump alarm"),
    "uncertain": ("Not given: last", "dose unconfirmed"),
    "not_synced": ("Not given: pump", "not synced yet"),
    "no_prescription": ("Not given: no", "prescription"),
    "no_link": ("Not given:", "no pump link"),
    "reservoir": ("Not given: pump", "reservoir low"),
    "stale": ("Not given:", "request too old"),
    "busy": ("Not given: dose", "in progress"),
    "amount_cap": ("Not given:", "amount limit"),
    "pump_refused": ("Not given:", "pump refused"),
    "ids_used_up": ("Not given: call", "clinic (ids)"),
}

_ALARM_TEXT = {
    "empty_reservoir": "ALARM: EMPTY",
    "motor_stall": "ALARM: MOTOR",
    "low_reservoir": "Reservoir low",
    "battery_eri": "Pump battery low",
}


def clock_text(seconds):
    """'12:34' under an hour, '1:02:03' above."""
    if seconds < 0:
        seconds = 0
    h = seconds // 3600
    mm = (seconds % 3600) // 60
    ss = seconds % 60
    if h:
        return "%d:%02d:%02d" % (h, mm, ss)
    return "%d:%02d" % (mm, ss)


def next_line(now_s, next_s):
    if next_s is None or now_s is None:
        return ""
    return fit("Next in " + clock_text(next_s - now_s))


def denied(reason, now_s, next_s, used=None, allowed=None):
    a, b = _DENIED.get(reason, ("Not given:", reason))
    if reason == "max_24h" and used is not None:
        b = "%d of %d in 24h" % (used, allowed)
    return [a, b, next_line(now_s, next_s)]


_IDLE = {
    "reservoir": ("Pump reservoir", "too low: no dose"),
    "busy": ("Dose running", ""),
    "no_prescription": ("No valid", "prescription"),
}


def unavailable(reason, progress=None):
    """The idle screen when no dose is possible and no time for the next one is known: says
    why, without the "Not given" of an answer to a press (nothing was pressed)."""
    a, b = _IDLE.get(reason, ("No dose now:", reason))
    if progress is not None:
        b = "#" * int(progress * WIDTH)
    return [a, fit(b), ""]


def alarm_line(names):
    """The highest-priority alarm first (callers pass names ordered by priority)."""
    if not names:
        return ""
    return fit(_ALARM_TEXT.get(names[0], "ALARM " + names[0]))


def fit(text):
    return text[:WIDTH]
