"""The prescription policy: may a bolus be requested now, and if not, why and until when.

`decide(now_s, starts, rx, view)` is pure: pump time in seconds, the start times of every bolus
that counts (delivered, running, stopped part-way, uncertain at its request time), the
Prescription and a `PumpView`; it returns a `Decision`. `next_available` is for the display.
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_DAY_S = const(86400)  # the rolling window of max_per_24h

# Why a bolus is not given (the patient is told; the log stores REASON_CODES).
LOCKOUT = "lockout"
MAX_24H = "max_24h"
ALARM = "alarm"
UNCERTAIN = "uncertain"
NOT_SYNCED = "not_synced"
NO_PRESCRIPTION = "no_prescription"
NO_LINK = "no_link"
RESERVOIR = "reservoir"
STALE = "stale"
BUSY = "busy"
AMOUNT_CAP = "amount_cap"
PUMP_REFUSED = "pump_refused"
IDS_USED_UP = "ids_used_up"  # no request id left below messages.REQUEST_ID_MAX (app, not decide)

REASON_CODES = {
    LOCKOUT: 1,
    MAX_24H: 2,
    ALARM: 3,
    UNCERTAIN: 4,
    NOT_SYNCED: 5,
    NO_PRESCRIPTION: 6,
    NO_LINK: 7,
    RESERVOIR: 8,
    STALE: 9,
    BUSY: 10,
    AMOUNT_CAP: 11,
    PUMP_REFUSED: 12,
    IDS_USED_UP: 13,
}
REASON_NAMES = {}
for _reason in REASON_CODES:
    REASON_NAMES[REASON_CODES[_reason]] = _reason


class PumpView:
    """What the handheld knows about the pump right now. The defaults deny (fail safe):
    not synced, no link. `reservoir_ug` None means unknown (not checked here; the pump is)."""

    def __init__(
        self, synced=False, link_up=False, alarm_high=False, uncertain=False, reservoir_ug=None, bolus_active=False
    ):
        self.synced = synced
        self.link_up = link_up
        self.alarm_high = alarm_high
        self.uncertain = uncertain  # an unsettled request exists
        self.reservoir_ug = reservoir_ug
        self.bolus_active = bolus_active


class Decision:
    """`granted`; when not, `reason` (a module constant) and `next_s`, the pump time at which
    the limits next allow a dose (None when unknown or not a matter of time)."""

    def __init__(self, granted, reason=None, next_s=None):
        self.granted = granted
        self.reason = reason
        self.next_s = next_s

    def __repr__(self):
        if self.granted:
            return "Decision(granted)"
        return "Decision(denied %s next_s=%r)" % (self.reason, self.next_s)


def _earliest(now_s, starts, rx):
    """The earliest pump time >= now_s at which both the lockout and the rolling 24 h maximum
    allow a bolus. A start later than now_s (clock weirdness) counts fully (fail safe)."""
    last = None
    for s in starts:
        if last is None or s > last:
            last = s
    if last is None:
        return now_s
    t = last + rx.lockout_s  # lockout counts from the START of the previous bolus
    if t < now_s:
        t = now_s
    # In the window at time t: every start s with s > t - 86400. Only when at least
    # max_per_24h starts are still in it at t must the max-th newest leave first.
    in_window = 0
    for s in starts:
        if s > t - _DAY_S:
            in_window += 1
    if in_window >= rx.max_per_24h:
        newest = sorted(starts, reverse=True)
        leaves = newest[rx.max_per_24h - 1] + _DAY_S  # window is (t - 86400, t]
        if leaves > t:
            t = leaves
    return t


def decide(now_s, starts, rx, view):
    """Grant or deny a bolus now; checks in a fixed order, the first that fails is the reason."""
    if rx is None:
        return Decision(False, NO_PRESCRIPTION)
    if not view.synced or now_s is None:
        return Decision(False, NOT_SYNCED)
    if not view.link_up:
        return Decision(False, NO_LINK)
    if view.uncertain:
        return Decision(False, UNCERTAIN)
    if view.alarm_high:
        return Decision(False, ALARM)
    if view.reservoir_ug is not None and view.reservoir_ug < rx.dose_ug:
        return Decision(False, RESERVOIR)
    last = None
    in_window = 0
    for s in starts:
        if last is None or s > last:
            last = s
        if s > now_s - _DAY_S:
            in_window += 1
    if last is not None and now_s < last + rx.lockout_s:
        return Decision(False, LOCKOUT, _earliest(now_s, starts, rx))
    if in_window >= rx.max_per_24h:
        return Decision(False, MAX_24H, _earliest(now_s, starts, rx))
    # A running bolus always lies inside the lockout (lockout >= duration), so the patient is
    # told "too soon" with a time; this check is the backstop for a pump that disagrees.
    if view.bolus_active:
        return Decision(False, BUSY)
    return Decision(True)


def next_available(now_s, starts, rx):
    """Pump time from which the lockout and the 24 h maximum allow the next dose (now_s when
    they allow it already); None without a prescription or a time."""
    if rx is None or now_s is None:
        return None
    return _earliest(now_s, starts, rx)
