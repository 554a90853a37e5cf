"""The pump's check of bolus commands (host only: the pump emulator, the soak, the scenarios).

`check_bolus(key, fields, guard)` answers a decoded BOLUS_REQ with a pump reason code from
`firmware.messages` (R_OK, R_AUTH, R_REPLAY, R_UNPAIRED); `make_pump_verifier(key, guard, store)`
is the `verify_bolus(fields) -> code` callable the emulator's Pump takes. The tag itself is
`firmware.auth.bolus_tag`, which the handheld computes. Layout: docs/security.md.
"""

from firmware.auth import TAG_LEN, bolus_tag
from firmware.hmac_sha256 import compare, key_ok
from firmware.messages import R_AUTH, R_OK, R_REPLAY, R_UNPAIRED

COUNTER_MAX = 0xFFFFFFFF
PERSIST_KEY = "auth_counter"  # name of the guard's counter in the pump's persisted dict
_ZERO_TAG = bytes(TAG_LEN)


class CounterGuard:
    """The pump's replay guard: a counter is accepted only if strictly greater than the last
    accepted one. `last` is a plain int: persist it with the pump's record and pass it back
    to the constructor after a restart."""

    def __init__(self, last=0):
        self.last = last
        self.last_tag = None  # tag of the last accepted command, to recognise a resend

    def fresh(self, counter):
        return counter > self.last

    def accept(self, counter, tag=None):
        """Record `counter` as used if it is fresh; returns whether it was."""
        if counter <= self.last or counter > COUNTER_MAX:
            return False
        self.last = counter
        self.last_tag = None if tag is None else bytes(tag)
        return True


def check_bolus(key, fields, guard):
    """R_OK if `fields` (a decoded BOLUS_REQ: request_id, dose_ug, duration_s, captured_s,
    counter, tag) is authentic and its counter new; then the counter is used up.
    R_UNPAIRED: no valid key here, or an all-zero tag (the sender is not paired).
    R_AUTH: the tag does not match. R_REPLAY: authentic but the counter is not new.
    An exact resend of the last accepted command (same counter and tag) returns R_OK so that a
    retry after a lost reply reaches the pump's at-most-once table and gets the same ACK."""
    tag = fields.get("tag")
    if not key_ok(key) or tag is None or len(tag) != TAG_LEN or compare(tag, _ZERO_TAG):
        return R_UNPAIRED
    try:
        expected = bolus_tag(
            key,
            fields["request_id"],
            fields["dose_ug"],
            fields["duration_s"],
            fields["captured_s"],
            fields["counter"],
        )
    except Exception:  # missing field or out of range (struct.error)
        return R_AUTH
    if not compare(expected, tag):
        return R_AUTH
    counter = fields["counter"]
    if guard.accept(counter, tag):
        return R_OK
    if counter == guard.last and guard.last_tag is not None and compare(guard.last_tag, tag):
        return R_OK
    return R_REPLAY


class PumpVerifier:
    """`verify_bolus(fields) -> code` for the pump emulator's Pump (see make_pump_verifier)."""

    def __init__(self, key, guard, store=None):
        self.key = key
        self.guard = guard
        self.store = store

    def _persisted(self):
        # a dict, or an object (the Pump) whose `.persisted` dict may be replaced on restart
        return getattr(self.store, "persisted", self.store)

    def __call__(self, fields):
        d = self._persisted()
        if d is not None:
            saved = int(d.get(PERSIST_KEY, 0))
            if saved > self.guard.last:
                self.guard.last = saved
        code = check_bolus(self.key, fields, self.guard)
        if code == R_OK and d is not None:
            d[PERSIST_KEY] = self.guard.last
        return code


def make_pump_verifier(key, guard=None, store=None):
    """The callable the pump emulator's Pump takes as `verify_bolus(fields) -> code`.
    `store` (optional) is the Pump itself or its JSON-safe `persisted` dict, which the pump
    saves with its record before the ack leaves: the guard then resumes from
    persisted["auth_counter"] and writes it back on every accepted counter, so a restarted
    pump still refuses frames recorded before the restart."""
    if guard is None:
        guard = CounterGuard()
    return PumpVerifier(key, guard, store)
