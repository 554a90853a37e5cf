"""Signed prescriptions: the only way a prescription reaches the handheld's storage.

A blob is `prescription.canonical(rx)` followed by a 32-byte HMAC-SHA256 tag under the device
key (`key.bin`, provisioned at pairing). `verify(blob, key, current_version)` returns the
Prescription or raises RxRefused, and `RxStore(storage, key)` loads `rx.bin` and installs new
blobs atomically, keeping the old one whenever the new one is refused. Signing is host code
(`tools/security/rx_sign.py`: the clinician tool, the pump emulator's signed text file).
"""

from firmware import prescription
from firmware.eventlog import RX_CHANGE
from firmware.hmac_sha256 import KEY_LEN, compare, hmac_sha256, key_ok
from hal.contract import Oversized

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


RX_FILE = "rx.bin"
KEY_FILE = "key.bin"
TAG_LEN = 32
MAX_BLOB = prescription.MAX_CANONICAL + TAG_LEN  # longer is never valid: not even read
_PREFIX = b"rx1;"

# Refusal codes, logged as RX_CHANGE c (b=0); 0 means accepted.
UNSIGNED = const(1)  # too short to carry a tag, or a bare canonical prescription
BAD_SIGNATURE = const(2)  # the tag does not match: wrong key or altered bytes
MALFORMED = const(3)  # the tag matches but the content is not a valid prescription
ROLLBACK = const(4)  # version not newer than the prescription in force
NO_KEY = const(5)  # the device has no valid key: nothing can be verified
MISSING = const(6)  # no rx.bin (load only; never logged by install)
OVERSIZED = const(7)  # the file is longer than any valid prescription: refused unread (load only)

REFUSAL_NAMES = {
    UNSIGNED: "unsigned",
    BAD_SIGNATURE: "bad_signature",
    MALFORMED: "malformed",
    ROLLBACK: "rollback",
    NO_KEY: "no_key",
    MISSING: "missing",
    OVERSIZED: "oversized",
}
REFUSAL_CODES = {}
for _code in REFUSAL_NAMES:
    REFUSAL_CODES[REFUSAL_NAMES[_code]] = _code


class RxRefused(Exception):
    """A blob that must not be used. `.code` (int), `.reason` (short name such as
    'bad_signature'), `.detail` (one sentence for people), `.version` (offered version when
    it was authenticated, else 0)."""

    def __init__(self, code, detail, version=0):
        super().__init__(detail)
        self.code = code
        self.reason = REFUSAL_NAMES.get(code, "refused")
        self.detail = detail
        self.version = version


def _looks_unsigned(blob):
    """A canonical prescription without a tag: its last 32 bytes are printable ASCII or
    line breaks (a real tag is that by chance with probability about 1e-16)."""
    if blob[: len(_PREFIX)] != _PREFIX:
        return False
    for b in blob[-TAG_LEN:]:
        if (b < 0x20 or b > 0x7E) and b not in (0x09, 0x0A, 0x0D):
            return False
    return True


def verify(blob, key, current_version=0):
    """The Prescription carried by `blob`, authenticated with `key` and newer than
    `current_version`; raises RxRefused otherwise. Nothing is parsed before the tag is checked."""
    if blob is None or len(blob) <= TAG_LEN:
        raise RxRefused(UNSIGNED, "Too short to carry a signature.")
    blob = bytes(blob)
    if not key_ok(key):
        raise RxRefused(NO_KEY, "The device has no valid key.")
    body = blob[:-TAG_LEN]
    if not compare(hmac_sha256(key, body), blob[-TAG_LEN:]):
        if _looks_unsigned(blob):
            raise RxRefused(UNSIGNED, "The prescription is not signed.")
        raise RxRefused(BAD_SIGNATURE, "The signature does not match (wrong key or altered bytes).")
    try:
        rx = prescription.parse_canonical(body)
    except prescription.PrescriptionError as e:
        raise RxRefused(MALFORMED, "Malformed prescription: " + str(e.reason))
    except (ValueError, UnicodeError):
        raise RxRefused(MALFORMED, "Malformed prescription: not canonical text.")
    if prescription.canonical(rx) != body:
        raise RxRefused(MALFORMED, "Malformed prescription: not in canonical form.")
    if rx.version <= current_version:
        raise RxRefused(
            ROLLBACK,
            "Version %d is not newer than version %d in force." % (rx.version, current_version),
            rx.version,
        )
    return rx


class RxStore:
    """The prescription in force on one device: `load()` and `install(blob, log)`."""

    def __init__(self, storage, key, name=RX_FILE):
        self.storage = storage
        self.key = key
        self.name = name
        self.rx = None

    def load(self):
        """(Prescription, None) for a valid signed `rx.bin`, else (None, reason name); an
        `rx.bin` longer than MAX_BLOB is refused as "oversized" without being read."""
        self.rx = None
        if not key_ok(self.key):
            return None, REFUSAL_NAMES[NO_KEY]
        try:
            blob = self.storage.read(self.name, MAX_BLOB)
        except Oversized:
            return None, REFUSAL_NAMES[OVERSIZED]
        if blob is None:
            return None, REFUSAL_NAMES[MISSING]
        try:
            self.rx = verify(blob, self.key, 0)
        except RxRefused as e:
            return None, e.reason
        return self.rx, None

    def install(self, blob, log=None, t_s=-1):
        """Accept `blob` if it is signed with this device's key, valid and newer than the one
        in force; then replace `rx.bin` atomically. Returns (True, None) or (False, reason name);
        a refused blob leaves the stored prescription untouched. Logs RX_CHANGE (a=version,
        b=1 accepted / 0 refused, c=refusal code) when `log` is given."""
        current, _ = self.load()
        current_version = current.version if current is not None else 0
        try:
            rx = verify(blob, self.key, current_version)
        except RxRefused as e:
            if log is not None:
                log.append(RX_CHANGE, t_s, e.version, 0, e.code)
            return False, e.reason
        self.storage.replace(self.name, bytes(blob))
        self.rx = rx
        if log is not None:
            log.append(RX_CHANGE, t_s, rx.version, 1, 0)
        return True, None
