"""The tag the handheld puts on every bolus command (the pump's check is host code).

The handheld sends `bolus_tag(key, request_id, dose_ug, duration_s, captured_s, counter)` in
every BOLUS_REQ, with counter = request_id: ids are persisted (the GRANTED record commits each
one before it is sent), unique and strictly increasing across reboots, which is what the
pump's replay guard needs. The pump's side (tag check, replay guard) is
`tools/security/pump_auth.py`. Layout: docs/security.md.
"""

import struct

from firmware.hmac_sha256 import hmac_sha256

TAG_LEN = 16  # HMAC-SHA256 truncated to its first 16 bytes (128 bits)
_DOMAIN = b"BOLUS"  # domain separation: prescriptions start with b"rx1;", never b"BOLUS"
_LAYOUT = "<IIHII"  # request_id, dose_ug, duration_s, captured_s, counter


def bolus_message(request_id, dose_ug, duration_s, captured_s, counter):
    """The 23 bytes that are authenticated: b"BOLUS" + struct '<IIHII'."""
    return _DOMAIN + struct.pack(_LAYOUT, request_id, dose_ug, duration_s, captured_s, counter)


def bolus_tag(key, request_id, dose_ug, duration_s, captured_s, counter):
    """The 16-byte tag of one bolus command (first half of HMAC-SHA256 under the pair key)."""
    msg = bolus_message(request_id, dose_ug, duration_s, captured_s, counter)
    return hmac_sha256(key, msg)[:TAG_LEN]
