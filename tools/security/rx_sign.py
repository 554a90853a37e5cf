"""Signing prescriptions (host only: the clinician tool, the pump emulator, scenarios, benches).

`sign(rx, key)` makes the handheld's `rx.bin` blob (canonical bytes + HMAC-SHA256 tag), which
`firmware.rxstore.verify` checks on the handheld; `sign_text(rx, key)` / `verify_text(text,
key)` are the pump emulator's `--rx` file: the clinic's key=value text plus one comment line
holding the tag of the canonical bytes. Layout: docs/security.md.
"""

from firmware import prescription
from firmware.hmac_sha256 import hmac_sha256, key_ok
from firmware.rxstore import MALFORMED, NO_KEY, TAG_LEN, UNSIGNED, RxRefused, verify

SIG_LINE = "# hmac-sha256="


def sign(rx, key):
    """The signed blob for a Prescription (validated again through its canonical form)."""
    if not key_ok(key):
        raise RxRefused(NO_KEY, "The signing key must be 32 bytes and not all zero.")
    body = prescription.canonical(rx)
    prescription.parse_canonical(body)  # raises PrescriptionError on anything invalid
    return body + hmac_sha256(key, body)


def sign_text(rx, key):
    """The pump's prescription file: `key=value` lines and the signature as a comment."""
    tag = sign(rx, key)[-TAG_LEN:]
    lines = ["# Prescription signed by tools.clinician; the pump checks it with its key."]
    for name in prescription.FIELDS:
        lines.append("%s=%d" % (name, getattr(rx, name)))
    hexed = "".join("%02x" % b for b in tag)
    lines.append(SIG_LINE + hexed)
    return "\n".join(lines) + "\n"


def verify_text(text, key, current_version=0):
    """The Prescription in a signed text file (see sign_text); raises RxRefused."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode()
        except UnicodeError:
            raise RxRefused(MALFORMED, "Malformed prescription: not text.")
    tags = [ln.strip()[len(SIG_LINE) :] for ln in text.split("\n") if ln.strip().startswith(SIG_LINE)]
    if len(tags) != 1 or len(tags[0]) != 2 * TAG_LEN:
        raise RxRefused(UNSIGNED, "The prescription file has no single signature line.")
    try:
        tag = bytes([int(tags[0][i : i + 2], 16) for i in range(0, 2 * TAG_LEN, 2)])
        rx = prescription.parse_text(text)
    except prescription.PrescriptionError as e:
        raise RxRefused(MALFORMED, "Malformed prescription: " + str(e.reason))
    except (ValueError, UnicodeError):
        raise RxRefused(MALFORMED, "Malformed prescription: bad signature line.")
    return verify(prescription.canonical(rx) + tag, key, current_version)
