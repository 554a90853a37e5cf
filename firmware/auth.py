"""Authentication of bolus commands on the link, shared by the handheld and the pump.

The handheld sends `bolus_tag(key, request_id, dose_ug, duration_s, captured_s, counter)` in
every BOLUS_REQ; the pump answers `check_bolus(key, fields, guard)` (0 ok, 9 auth, 10 replay,
12 unpaired) before acting, through `make_pump_verifier(key, guard)`. Layout: docs/security.md.
"""

import struct

from firmware.hmac_sha256 import KEY_LEN, compare, hmac_sha256, key_ok

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


TAG_LEN = 16  # HMAC-SHA256 truncated to its first 16 bytes (128 bits)
COUNTER_MAX = 0xFFFFFFFF
_DOMAIN = b"BOLUS"  # domain separation: prescriptions start with b"rx1;", never b"BOLUS"
_LAYOUT = "<IIHII"  # request_id, dose_ug, duration_s, captured_s, counter

# Pump reason codes (firmware.messages PUMP_REASONS); 0 means the command is authentic and new.
OK = const(0)
AUTH = const(9)
REPLAY = const(10)
UNPAIRED = const(12)

_ZERO_TAG = bytes(TAG_LEN)



def bolus_message(request_id, dose_ug, duration_s, captured_s, counter):
    """The 23 bytes that are authenticated: b"BOLUS" + struct '<IIHII'."""
    return _DOMAIN + struct.pack(_LAYOUT, request_id, dose_ug, duration_s, captured_s, counter)


def bolus_tag(key, request_id, dose_ug, duration_s, captured_s, counter):
    """The 16-byte tag of one bolus command (first half of HMAC-SHA256 under the pair key)."""
    msg = bolus_message(request_id, dose_ug, duration_s, captured_s, counter)
    return hmac_sha256(key, msg)[:TAG_LEN]


def next_counter(last):
    """The counter after `last`, for a handheld that does not use request ids as counters.
    The firmware uses counter = request_id: ids are persisted (the GRANTED record commits
    each one before it is sent), unique and strictly increasing across reboots, which is
    exactly what the pump's CounterGuard needs. Raises ValueError when the u32 is used up."""
    if last < 0 or last >= COUNTER_MAX:
        raise ValueError("counter exhausted")
    return last + 1


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
    """0 if `fields` (a decoded BOLUS_REQ: request_id, dose_ug, duration_s, captured_s,
    counter, tag) is authentic and its counter new; then the counter is used up.
    12 unpaired: no valid key here, or an all-zero tag (the sender is not paired).
    9 auth: the tag does not match. 10 replay: authentic but the counter is not new.
    An exact resend of the last accepted command (same counter and tag) returns 0 so that a
    retry after a lost reply reaches the pump's at-most-once table and gets the same ACK."""
    tag = fields.get("tag")
    if not key_ok(key) or tag is None or len(tag) != TAG_LEN or compare(tag, _ZERO_TAG):
        return UNPAIRED
    try:
        expected = bolus_tag(
            key,
            fields["request_id"],
            fields["dose_ug"],
            fields["duration_s"],
            fields["captured_s"],
            fields["counter"],
        )
    except Exception:  # missing field or out of range (struct.error on CPython)
        return AUTH
    if not compare(expected, tag):
        return AUTH
    counter = fields["counter"]
    if guard.accept(counter, tag):
        return OK
    if counter == guard.last and guard.last_tag is not None and compare(guard.last_tag, tag):
        return OK
    return REPLAY


PERSIST_KEY = "auth_counter"  # name of the guard's counter in the pump's persisted dict


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
        if code == OK and d is not None:
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
