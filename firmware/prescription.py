"""The clinician's prescription: what one patient bolus is and the limits around it.

`from_fields(dict)` and `parse_text(text)` build a validated `Prescription` (or raise
`PrescriptionError` with a one-sentence `.reason`); `canonical(rx)` gives the exact bytes the
clinician signs and `parse_canonical(b)` reads them back strictly.
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# The fields in canonical order; every one is a plain int and every one is required.
FIELDS = ("version", "dose_ug", "duration_s", "lockout_s", "max_per_24h", "cap_ug", "cap_window_s")
_PREFIX = "rx1;"
_MAX_CANONICAL = const(200)  # bytes; a valid canonical prescription is under 130
MAX_CANONICAL = _MAX_CANONICAL
_MAX_DIGITS = const(12)  # longer numbers are out of every range: refuse before int()

_VERSION_MAX = const(0x7FFFFFFF)
_DOSE_MAX_UG = const(100000)
_DURATION_MAX_S = const(3600)
_LOCKOUT_MAX_S = const(86400)
_MAX_PER_24H = const(48)
_CAP_MAX_UG = const(10000000)
_CAP_WINDOW_MIN_S = const(3600)
_CAP_WINDOW_MAX_S = const(86400)


class PrescriptionError(Exception):
    """A prescription that must not be used; `.reason` says why in one sentence."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Prescription:
    """A validated prescription (build it with `from_fields`, not directly). All ints:
    version, dose_ug, duration_s, lockout_s, max_per_24h, cap_ug (0 = no cap),
    cap_window_s (0 = no cap window)."""

    def __init__(self, version, dose_ug, duration_s, lockout_s, max_per_24h, cap_ug=0, cap_window_s=0):
        self.version = version
        self.dose_ug = dose_ug
        self.duration_s = duration_s
        self.lockout_s = lockout_s
        self.max_per_24h = max_per_24h
        self.cap_ug = cap_ug
        self.cap_window_s = cap_window_s

    def fields(self):
        """The prescription as a dict keyed by `FIELDS`."""
        d = {}
        for key in FIELDS:
            d[key] = getattr(self, key)
        return d

    def __eq__(self, other):
        if not isinstance(other, Prescription):
            return False
        for key in FIELDS:
            if getattr(self, key) != getattr(other, key):
                return False
        return True

    def __repr__(self):
        return "Prescription(%s)" % canonical(self).decode()[len(_PREFIX) :]


def _check_range(d, key, low, high):
    value = d[key]
    if value < low or value > high:
        raise PrescriptionError("%s must be %d..%d, not %d." % (key, low, high, value))


def from_fields(d):
    """A validated Prescription from a dict holding exactly the keys in `FIELDS`."""
    if not isinstance(d, dict):
        raise PrescriptionError("A prescription must be a set of named fields.")
    for key in d:
        if key not in FIELDS:
            raise PrescriptionError("Unknown field %r." % (key,))
    for key in FIELDS:
        if key not in d:
            raise PrescriptionError("Missing field %s." % key)
        if type(d[key]) is not int:  # bool, float and str are all refused
            raise PrescriptionError("%s must be a whole number." % key)
    _check_range(d, "version", 1, _VERSION_MAX)
    _check_range(d, "dose_ug", 1, _DOSE_MAX_UG)
    _check_range(d, "duration_s", 1, _DURATION_MAX_S)
    _check_range(d, "max_per_24h", 1, _MAX_PER_24H)
    _check_range(d, "cap_ug", 0, _CAP_MAX_UG)
    if d["lockout_s"] < d["duration_s"]:
        raise PrescriptionError("lockout_s (%d) must not be shorter than duration_s (%d)." % (d["lockout_s"], d["duration_s"]))
    _check_range(d, "lockout_s", d["duration_s"], _LOCKOUT_MAX_S)
    window = d["cap_window_s"]
    if window != 0:
        _check_range(d, "cap_window_s", _CAP_WINDOW_MIN_S, _CAP_WINDOW_MAX_S)
    if (d["cap_ug"] == 0) != (window == 0):
        raise PrescriptionError("cap_ug and cap_window_s must both be 0 or both be set.")
    return Prescription(
        d["version"], d["dose_ug"], d["duration_s"], d["lockout_s"], d["max_per_24h"], d["cap_ug"], window
    )


def canonical(rx):
    """The exact ASCII bytes that are signed and stored for `rx`."""
    parts = [_PREFIX[:-1]]
    for key in FIELDS:
        parts.append("%s=%d" % (key, getattr(rx, key)))
    return ";".join(parts).encode()


def _parse_int(key, text):
    """An int from plain decimal text ('-' allowed so that the range check names it)."""
    digits = text[1:] if text[:1] == "-" else text
    if not digits or len(digits) > _MAX_DIGITS:
        raise PrescriptionError("%s must be a whole number, not %r." % (key, text))
    for ch in digits:
        if ch < "0" or ch > "9":
            raise PrescriptionError("%s must be a whole number, not %r." % (key, text))
    return int(text)


def parse_canonical(b):
    """A Prescription from its canonical bytes; anything but the exact canonical form raises."""
    if not isinstance(b, (bytes, bytearray, memoryview)):
        raise PrescriptionError("A canonical prescription must be bytes.")
    b = bytes(b)
    if len(b) > _MAX_CANONICAL:
        raise PrescriptionError("The canonical prescription is too long.")
    for byte in b:
        if byte < 0x21 or byte > 0x7E:
            raise PrescriptionError("The canonical prescription is not printable ASCII.")
    text = b.decode()
    if text[: len(_PREFIX)] != _PREFIX:
        raise PrescriptionError("The canonical prescription must start with %r." % _PREFIX)
    parts = text[len(_PREFIX) :].split(";")
    if len(parts) != len(FIELDS):
        raise PrescriptionError("The canonical prescription must have %d fields, not %d." % (len(FIELDS), len(parts)))
    d = {}
    for i in range(len(FIELDS)):
        key = FIELDS[i]
        pair = parts[i].split("=", 1)
        if len(pair) != 2 or pair[0] != key:
            raise PrescriptionError("Field %d of the canonical prescription must be %s." % (i + 1, key))
        d[key] = _parse_int(key, pair[1])
    rx = from_fields(d)
    if canonical(rx) != b:  # leading zeros, "-0" and the like
        raise PrescriptionError("The prescription bytes are not in canonical form.")
    return rx


def _ascii_words(line):
    """Split on ASCII blanks only (space, tab, CR, VT, FF): CPython's str.split() also splits
    on Unicode spaces that MicroPython's does not, and host tools must read a prescription
    exactly as the device does (anything else then fails as a bad token, on both)."""
    for blank in "\t\r\x0b\x0c":
        line = line.replace(blank, " ")
    return [w for w in line.split(" ") if w]


def parse_text(text):
    """A Prescription from the clinic's text form: `key=value` pairs separated by spaces or
    newlines, `#` starts a comment. Every field of `FIELDS` exactly once."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode()
    d = {}
    for line in text.split("\n"):
        line = line.split("#", 1)[0]
        for token in _ascii_words(line):
            pair = token.split("=", 1)
            if len(pair) != 2 or not pair[0]:
                raise PrescriptionError("%r is not key=value." % (token,))
            key = pair[0]
            if key not in FIELDS:
                raise PrescriptionError("Unknown field %r." % (key,))
            if key in d:
                raise PrescriptionError("Field %s is given twice." % key)
            d[key] = _parse_int(key, pair[1])
    return from_fields(d)
