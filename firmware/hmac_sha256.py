"""HMAC-SHA256 (RFC 2104) over `hashlib.sha256`, because MicroPython has no `hmac` module.

`hmac_sha256(key, msg)` returns the 32-byte tag; `compare(a, b)` checks two tags without
stopping at the first difference. Runs unchanged on MicroPython and CPython.
"""

import hashlib

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_BLOCK = const(64)  # SHA-256 block size in bytes
DIGEST_SIZE = 32


def _padded(key, byte):
    pad = bytearray(_BLOCK)
    n = len(key)
    for i in range(_BLOCK):
        pad[i] = (key[i] if i < n else 0) ^ byte
    return pad


def hmac_sha256(key, msg):
    """HMAC-SHA256 of `msg` under `key` (both bytes-like); 32 bytes."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    inner = hashlib.sha256(_padded(key, 0x36))
    inner.update(msg)
    outer = hashlib.sha256(_padded(key, 0x5C))
    outer.update(inner.digest())
    return outer.digest()


def compare(a, b):
    """True when a and b hold the same bytes; the time taken does not depend on where
    they differ (only on the length), so a forger learns nothing byte by byte."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


KEY_LEN = 32  # a device or pairing key: 32 bytes


def key_ok(key):
    """True for a usable key: KEY_LEN bytes, not all zero."""
    if key is None or len(key) != KEY_LEN:
        return False
    for b in key:
        if b:
            return True
    return False
