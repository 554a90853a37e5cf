"""firmware/hmac_sha256: RFC 4231 vectors, CPython's hmac as the oracle, and the same vectors
under the MicroPython unix port."""

import hashlib
import hmac
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.hmac_sha256 import compare, hmac_sha256
from tests.mp import MICROPYTHON, run_mp

# RFC 4231 section 4: (key, data, HMAC-SHA-256 hex; test case 5 gives only the first 128 bits)
RFC4231 = [
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data. "
        b"The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
]


@pytest.mark.parametrize("key,data,expected", RFC4231)
def test_rfc4231_vectors(key, data, expected):
    tag = hmac_sha256(key, data)
    assert len(tag) == 32
    assert tag.hex().startswith(expected)
    assert tag == hmac.new(key, data, hashlib.sha256).digest()


@settings(max_examples=300, deadline=None)
@given(key=st.binary(max_size=200), msg=st.binary(max_size=600))
def test_matches_cpython_hmac(key, msg):
    assert hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


@pytest.mark.parametrize("size", [63, 64, 65, 127, 128, 129])
def test_block_boundaries(size):
    key = bytes(i % 251 for i in range(size))
    msg = b"m" * size
    assert hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


def test_accepts_bytearray_and_memoryview():
    key = bytearray(b"k" * 32)
    msg = memoryview(b"payload")
    assert hmac_sha256(key, msg) == hmac.new(bytes(key), bytes(msg), hashlib.sha256).digest()


@settings(max_examples=200, deadline=None)
@given(a=st.binary(max_size=40), b=st.binary(max_size=40))
def test_compare_is_equality(a, b):
    assert compare(a, b) == (a == b)


def test_compare_every_position():
    tag = bytes(range(32))
    assert compare(tag, bytes(tag))
    for i in range(32):
        for bit in range(8):
            other = bytearray(tag)
            other[i] ^= 1 << bit
            assert not compare(tag, other)
    assert not compare(tag, tag[:31])


@pytest.mark.micropython
@pytest.mark.skipif(MICROPYTHON is None, reason="MicroPython unix port not installed")
def test_rfc4231_vectors_under_micropython():
    vectors = [[k.hex(), d.hex(), e] for k, d, e in RFC4231]
    code = (
        "import binascii\n"
        "from firmware.hmac_sha256 import hmac_sha256, compare\n"
        "V = %s\n"
        "ok = 0\n"
        "for k, d, e in V:\n"
        "    t = binascii.hexlify(hmac_sha256(binascii.unhexlify(k), binascii.unhexlify(d))).decode()\n"
        "    if t[:len(e)] == e: ok += 1\n"
        "    else: print('MISMATCH', e, t)\n"
        "assert compare(b'abc', b'abc') and not compare(b'abc', b'abd') and not compare(b'ab', b'abc')\n"
        "print('OK', ok)\n"
    ) % json.dumps(vectors)
    result = run_mp(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OK %d" % len(RFC4231), result.stdout
