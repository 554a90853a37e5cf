"""firmware/auth (the handheld's bolus tag: vector from docs/protocol.md, "The tag rule", the same
tag under MicroPython) and tools/security/pump_auth (the pump's check: spoofed and replayed bolus
commands refused, the counter guard)."""

import hashlib
import hmac
import os
import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import auth
from firmware import messages as m
from tools.security import pump_auth as pa
from tests.mp import MICROPYTHON, REPO, run_mp

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def doc_block(marker, doc="security.md"):
    """The `name value` lines of the fenced block that follows `<!-- marker -->` in docs/`doc`."""
    with open(os.path.join(REPO, "docs", doc)) as f:
        text = f.read()
    m = re.search(r"<!-- %s -->\s*```[a-z]*\n(.*?)```" % re.escape(marker), text, re.S)
    assert m, "block %s missing from docs/%s" % (marker, doc)
    out = {}
    for line in m.group(1).splitlines():
        if line.strip():
            name, value = line.split(None, 1)
            out[name] = value.strip()
    return out


def fields(request_id=42, dose_ug=500, duration_s=60, captured_s=86400, counter=None, key=KEY):
    counter = request_id if counter is None else counter
    f = {
        "request_id": request_id,
        "dose_ug": dose_ug,
        "duration_s": duration_s,
        "captured_s": captured_s,
        "counter": counter,
    }
    f["tag"] = auth.bolus_tag(key, request_id, dose_ug, duration_s, captured_s, counter)
    return f


def test_doc_vector():
    v = doc_block("bolus-tag-vector", "protocol.md")
    key = bytes.fromhex(v["key"])
    args = [int(v[n]) for n in ("request_id", "dose_ug", "duration_s", "captured_s", "counter")]
    msg = auth.bolus_message(*args)
    assert msg.hex() == v["message"]
    assert msg == b"BOLUS" + struct.pack("<IIHII", *args)
    assert len(msg) == 23
    tag = auth.bolus_tag(key, *args)
    assert tag.hex() == v["tag"]
    assert tag == hmac.new(key, msg, hashlib.sha256).digest()[:16]


def test_tag_is_the_bolus_req_payload_prefix():
    """The authenticated bytes are b"BOLUS" + the first 18 bytes of the BOLUS_REQ payload."""
    f = fields()
    payload = m.encode(m.BOLUS_REQ, f)
    assert auth.bolus_message(42, 500, 60, 86400, 42) == b"BOLUS" + payload[:18]
    assert payload[18:] == f["tag"]
    assert pa.check_bolus(KEY, m.decode(m.BOLUS_REQ, payload), pa.CounterGuard()) == m.R_OK


@settings(max_examples=200, deadline=None)
@given(
    rid=st.integers(0, 2**32 - 1),
    dose=st.integers(0, 2**32 - 1),
    dur=st.integers(0, 2**16 - 1),
    cap=st.integers(0, 2**32 - 1),
    ctr=st.integers(0, 2**32 - 1),
    key=st.binary(min_size=32, max_size=32),
)
def test_tag_matches_cpython(rid, dose, dur, cap, ctr, key):
    msg = b"BOLUS" + struct.pack("<IIHII", rid, dose, dur, cap, ctr)
    assert auth.bolus_tag(key, rid, dose, dur, cap, ctr) == hmac.new(key, msg, hashlib.sha256).digest()[:16]


def test_genuine_accepted_once_then_replay_refused():
    guard = pa.CounterGuard()
    f = fields(request_id=7)
    assert pa.check_bolus(KEY, f, guard) == m.R_OK
    assert guard.last == 7
    g = fields(request_id=8)
    assert pa.check_bolus(KEY, g, guard) == m.R_OK
    # A captured frame played back later: authentic, but its counter is used up.
    assert pa.check_bolus(KEY, f, guard) == m.R_REPLAY
    assert guard.last == 8


def test_resend_of_last_accepted_is_not_a_replay():
    """A retry after a lost reply carries the same counter and tag: it must reach the pump's
    at-most-once table (which answers with the ACK it already gave), not be refused."""
    guard = pa.CounterGuard()
    f = fields(request_id=9)
    assert pa.check_bolus(KEY, f, guard) == m.R_OK
    assert pa.check_bolus(KEY, dict(f), guard) == m.R_OK
    assert guard.last == 9
    # Same counter, different content (re-tagged with the right key): a replay.
    g = fields(request_id=9, dose_ug=900)
    assert pa.check_bolus(KEY, g, guard) == m.R_REPLAY


def test_replay_after_pump_restart_with_persisted_counter():
    guard = pa.CounterGuard()
    old = fields(request_id=100)
    assert pa.check_bolus(KEY, old, guard) == m.R_OK
    restarted = pa.CounterGuard(guard.last)  # the pump persisted `last` as an int
    assert pa.check_bolus(KEY, old, restarted) == m.R_REPLAY
    assert pa.check_bolus(KEY, fields(request_id=101), restarted) == m.R_OK


def test_spoofed_wrong_key_refused():
    guard = pa.CounterGuard()
    spoof = fields(request_id=5, key=OTHER_KEY)
    assert pa.check_bolus(KEY, spoof, guard) == m.R_AUTH
    assert guard.last == 0  # a forged frame does not use up counters
    assert pa.check_bolus(KEY, fields(request_id=5), guard) == m.R_OK


def test_tampered_fields_refused():
    guard = pa.CounterGuard()
    base = fields(request_id=11)
    for name, value in (("dose_ug", 501), ("duration_s", 61), ("captured_s", 86401), ("request_id", 12), ("counter", 12)):
        f = dict(base)
        f[name] = value
        assert pa.check_bolus(KEY, f, guard) == m.R_AUTH, name
    for i in range(16):
        for bit in range(8):
            f = dict(base)
            t = bytearray(f["tag"])
            t[i] ^= 1 << bit
            f["tag"] = bytes(t)
            assert pa.check_bolus(KEY, f, guard) == m.R_AUTH
    assert pa.check_bolus(KEY, base, guard) == m.R_OK


def test_unpaired():
    guard = pa.CounterGuard()
    zero = fields()
    zero["tag"] = bytes(16)
    zero["counter"] = 0
    assert pa.check_bolus(KEY, zero, guard) == m.R_UNPAIRED  # sender not paired
    assert pa.check_bolus(None, fields(), guard) == m.R_UNPAIRED  # pump has no key
    assert pa.check_bolus(bytes(32), fields(key=bytes(32)), guard) == m.R_UNPAIRED
    assert pa.check_bolus(KEY[:16], fields(), guard) == m.R_UNPAIRED
    short = fields()
    short["tag"] = short["tag"][:8]
    assert pa.check_bolus(KEY, short, guard) == m.R_UNPAIRED
    missing = fields()
    del missing["dose_ug"]
    assert pa.check_bolus(KEY, missing, guard) == m.R_AUTH
    assert guard.last == 0


def test_pump_verifier_callable():
    guard = pa.CounterGuard()
    verify = pa.make_pump_verifier(KEY, guard)
    assert verify(fields(request_id=3)) == m.R_OK
    assert verify(fields(request_id=2)) == m.R_REPLAY
    assert verify(fields(request_id=4, key=OTHER_KEY)) == m.R_AUTH
    assert verify(fields(request_id=4)) == m.R_OK
    assert guard.last == 4


def test_counter_guard_bounds():
    guard = pa.CounterGuard()
    assert not guard.accept(0)
    assert guard.accept(1)
    assert not guard.accept(1)
    assert not guard.accept(2**32)
    assert guard.accept(2**32 - 1)
    assert not guard.fresh(2**32 - 1)


def test_handheld_link_uses_request_id_as_counter():
    """The lead's LinkClient tags with counter = request_id (docs/security.md says why)."""
    from firmware import link
    from hal.fakes import FakeClock, FakeSerialPair

    clock = FakeClock()
    pair = FakeSerialPair(clock)
    client = link.LinkClient(clock, pair.a, key=KEY)
    client.request_bolus(77, 500, 60, 86400)
    f = client._bolus
    assert f["counter"] == 77
    assert pa.check_bolus(KEY, f, pa.CounterGuard(76)) == m.R_OK


@pytest.mark.micropython
@pytest.mark.skipif(MICROPYTHON is None, reason="MicroPython unix port not installed")
def test_doc_vector_under_micropython():
    """The handheld computes the tag on MicroPython; the pump's check (CPython) accepts it."""
    v = doc_block("bolus-tag-vector", "protocol.md")
    code = (
        "import binascii\n"
        "from firmware import auth\n"
        "k = binascii.unhexlify('%s')\n"
        "t = auth.bolus_tag(k, %s, %s, %s, %s, %s)\n"
        "print(binascii.hexlify(t).decode())\n"
    ) % (v["key"], v["request_id"], v["dose_ug"], v["duration_s"], v["captured_s"], v["counter"])
    result = run_mp(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [v["tag"]], result.stdout
    f = {name: int(v[name]) for name in ("request_id", "dose_ug", "duration_s", "captured_s", "counter")}
    f["tag"] = bytes.fromhex(result.stdout.split()[0])
    assert pa.check_bolus(bytes.fromhex(v["key"]), f, pa.CounterGuard()) == m.R_OK
