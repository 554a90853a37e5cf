"""firmware/frame.py: CRC, COBS, frame encoding and the Deframer (including fuzzing)."""

import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware import frame

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- CRC ------------------------------------------------------------------------------------
def test_crc32_check_value():
    # CRC-32/ISO-HDLC catalogue check value.
    assert frame.crc32(b"123456789") == 0xCBF43926


def test_crc32_matches_zlib_and_is_unsigned():
    for data in (b"", b"\x00", b"\xff" * 7, bytes(range(256))):
        assert frame.crc32(data) == zlib.crc32(data) & 0xFFFFFFFF
        assert frame.crc32(data) >= 0


# ---- COBS -----------------------------------------------------------------------------------
COBS_CASES = [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (b"\x01\x00\x00\x2a", b"\x02\x01\x01\x02\x2a"),
    # 254 non-zero bytes: one full block, no trailing empty block
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    # 0x00 then 254 non-zero bytes
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
    # 255 non-zero bytes: a full block then a block of one
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    # 254 non-zero bytes then a zero
    (bytes(range(1, 255)) + b"\x00", b"\xff" + bytes(range(1, 255)) + b"\x01\x01"),
    # Wikipedia's examples 10 and 11
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
]


@pytest.mark.parametrize("raw,encoded", COBS_CASES)
def test_cobs_known_vectors(raw, encoded):
    assert frame.cobs_encode(raw) == encoded
    assert frame.cobs_decode(encoded) == raw


@pytest.mark.parametrize("n", [1, 253, 254, 255, 256, 507, 508, 509, 1000])
def test_cobs_long_zero_free_runs(n):
    raw = bytes((i % 255) + 1 for i in range(n))
    enc = frame.cobs_encode(raw)
    assert 0 not in enc
    assert len(enc) == n + 1 + (n - 1) // 254
    assert frame.cobs_decode(enc) == raw


def test_cobs_decoder_accepts_trailing_empty_block():
    # Some encoders add an empty block after a final 0xFF block; it means nothing.
    raw = bytes(range(1, 255))
    assert frame.cobs_decode(b"\xff" + raw + b"\x01") == raw


@pytest.mark.parametrize("bad", [b"\x05\x11\x22", b"\x02\x00", b"\x00", b"\x03\x11\x00\x22", b"\xff\x01"])
def test_cobs_decode_rejects_malformed(bad):
    with pytest.raises(frame.FrameError):
        frame.cobs_decode(bad)


@given(st.binary(max_size=800))
@FUZZ
def test_cobs_round_trip(data):
    enc = frame.cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + 1 + len(data) // 254
    assert frame.cobs_decode(enc) == data


# ---- frames ---------------------------------------------------------------------------------
def test_encode_layout():
    wire = frame.encode(0x03, 7, b"\x2a\x00")
    assert wire[-1] == 0 and 0 not in wire[:-1]
    body = frame.cobs_decode(wire[:-1])
    assert body[:3] == b"\x01\x03\x07"
    assert body[3:5] == b"\x2a\x00"
    assert struct.unpack("<I", body[5:])[0] == zlib.crc32(body[:5])
    assert len(wire) == len(body) + 2


def test_encode_limits():
    frame.encode(0xFF, 255, bytes(frame.MAX_PAYLOAD))
    with pytest.raises(frame.FrameError):
        frame.encode(1, 1, bytes(frame.MAX_PAYLOAD + 1))
    with pytest.raises(frame.FrameError):
        frame.encode(256, 1, b"")
    with pytest.raises(frame.FrameError):
        frame.encode(1, -1, b"")


def test_deframer_decodes_back_to_back_and_split_frames():
    frames = [frame.encode(t, s, bytes([t, s]) * s) for t, s in ((1, 1), (0x81, 2), (0xFF, 0), (3, 90))]
    stream = b"".join(frames)
    for chunk in (1, 2, 3, 7, 64, len(stream)):
        d = frame.Deframer()
        got = []
        for i in range(0, len(stream), chunk):
            got += d.feed(stream[i : i + chunk])
        assert [(f.msg_type, f.seq, f.payload, f.error) for f in got] == [
            (1, 1, b"\x01\x01", None),
            (0x81, 2, b"\x81\x02" * 2, None),
            (0xFF, 0, b"", None),
            (3, 90, b"\x03\x5a" * 90, None),
        ]


def test_deframer_accepts_bytearray_and_memoryview():
    wire = frame.encode(2, 3, b"xyz")
    for data in (bytearray(wire), memoryview(wire)):
        (fr,) = frame.Deframer().feed(data)
        assert (fr.msg_type, fr.seq, fr.payload) == (2, 3, b"xyz")


def _body_wire(body):
    return frame.cobs_encode(body) + b"\x00"


def _with_crc(body):
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize(
    "wire,error",
    [
        (b"\x05\x01\x02\x00", frame.ERR_COBS),  # code runs past the end
        (_body_wire(b"\x01\x02\x03\x04"), frame.ERR_SHORT),
        (_body_wire(b"\x01\x02\x03\x00\x00\x00\x00"), frame.ERR_CRC),
        (_body_wire(_with_crc(b"\x02\x01\x05abc")), frame.ERR_VERSION),
        (b"\x07" * 300 + b"\x00", frame.ERR_TOO_LONG),
    ],
)
def test_deframer_error_kinds(wire, error):
    d = frame.Deframer()
    (fr,) = d.feed(wire)
    assert fr.error == error
    assert d.frames_bad == 1
    # ... and the next intact frame is decoded
    (ok,) = d.feed(frame.encode(1, 9, b"ok"))
    assert (ok.error, ok.msg_type, ok.seq, ok.payload) == (None, 1, 9, b"ok")


def test_version_error_keeps_type_and_seq():
    (fr,) = frame.Deframer().feed(_body_wire(_with_crc(b"\x02\x03\x05abc")))
    assert (fr.error, fr.msg_type, fr.seq) == (frame.ERR_VERSION, 3, 5)


def test_empty_frames_are_skipped():
    assert frame.Deframer().feed(b"\x00\x00\x00") == []


def test_overlong_garbage_is_dropped_until_the_next_delimiter():
    d = frame.Deframer()
    assert d.feed(b"\x11" * 150) == []
    assert d.feed(b"\x22" * 150) == []  # overflowed: discarded, still waiting for 0x00
    good = frame.encode(5, 1, b"\x00")
    out = d.feed(b"\x33" * 10 + b"\x00" + good)
    assert [f.error for f in out] == [frame.ERR_TOO_LONG, None]


def test_largest_body_fits_and_one_more_does_not():
    d = frame.Deframer()
    (ok,) = d.feed(frame.encode(1, 1, bytes(range(1, 194))))
    assert ok.error is None and len(ok.payload) == 193
    body = _with_crc(b"\x01\x01\x01" + bytes(range(1, 195)))  # 201 bytes
    (bad,) = d.feed(_body_wire(body))
    assert bad.error == frame.ERR_TOO_LONG


def test_smaller_max_body():
    d = frame.Deframer(max_body=20)
    assert d.feed(frame.encode(1, 1, bytes(13)))[0].error is None
    assert d.feed(frame.encode(1, 1, bytes(14)))[0].error == frame.ERR_TOO_LONG


# ---- fuzzing --------------------------------------------------------------------------------
def _reference(stream, max_body=frame.MAX_BODY):
    """An independent model of the receiver: good frames as (type, seq, payload)."""
    out = []
    cap = max_body + max_body // 254 + 1
    for seg in stream.split(b"\x00")[:-1]:  # the text after the last 0x00 is incomplete
        if not seg or len(seg) > cap:
            continue
        try:
            body = frame.cobs_decode(seg)
        except frame.FrameError:
            continue
        if len(body) < 7 or len(body) > max_body:
            continue
        if struct.unpack("<I", body[-4:])[0] != zlib.crc32(body[:-4]) or body[0] != 1:
            continue
        out.append((body[1], body[2], body[3:-4]))
    return out


def _feed_chunked(d, stream, cuts):
    got = []
    start = 0
    for c in sorted(cuts) + [len(stream)]:
        c = min(max(c, start), len(stream))
        got += d.feed(stream[start:c])
        start = c
    return got


frames_st = st.lists(
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=frame.MAX_PAYLOAD)), min_size=1, max_size=6
)


@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=8))
@FUZZ
def test_fuzz_random_bytes_never_raise_and_match_reference(data, cuts):
    d = frame.Deframer()
    got = _feed_chunked(d, data, cuts)
    good = [(f.msg_type, f.seq, f.payload) for f in got if f.error is None]
    assert good == _reference(data)
    for f in got:
        assert f.error in (None, "cobs", "crc", "short", "too_long", "version")


@given(
    frames_st,
    st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(["flip", "insert", "delete", "zero"]), st.integers(0, 255)), max_size=6),
    st.lists(st.integers(0, 2000), max_size=6),
)
@FUZZ
def test_fuzz_mutated_streams(frames, mutations, cuts):
    wires = [frame.encode(t, s, p) for t, s, p in frames]
    stream = bytearray(b"".join(wires))
    for pos, kind, value in mutations:
        i = pos % (len(stream) + 1)
        if kind == "insert":
            stream[i:i] = bytes([value])
        elif i < len(stream):
            if kind == "flip":
                stream[i] ^= 1 << (value % 8)
            elif kind == "delete":
                del stream[i]
            else:
                stream[i] = 0
    tail = frame.encode(0x42, 0x99, b"intact")
    stream = bytes(stream) + b"\x00" + tail  # a leading 0x00 resynchronises whatever came before
    d = frame.Deframer()
    got = _feed_chunked(d, stream, cuts)
    good = [(f.msg_type, f.seq, f.payload) for f in got if f.error is None]
    assert good == _reference(stream)
    # no frame with a bad CRC is accepted: each good frame is one that was sent
    sent = set(frames) | {(0x42, 0x99, b"intact")}
    assert all(g in sent for g in good)
    # it resynchronised: the intact frame after the noise is the last thing decoded
    assert good and good[-1] == (0x42, 0x99, b"intact")
    if not mutations:
        assert good == list(frames) + [(0x42, 0x99, b"intact")]


@given(st.binary(max_size=600))
@FUZZ
def test_fuzz_noise_then_two_frames_second_always_decoded(noise):
    # Without a flushing 0x00, noise may swallow the first frame but never the second.
    a = frame.encode(1, 1, b"first")
    b = frame.encode(2, 2, b"second")
    got = frame.Deframer().feed(noise + a + b)
    good = [(f.msg_type, f.seq, f.payload) for f in got if f.error is None]
    assert good[-1] == (2, 2, b"second")


def test_deframer_reuses_its_buffers():
    d = frame.Deframer()
    raw, body = d._raw, d._body
    for _ in range(50):
        d.feed(frame.encode(3, 4, bytes(100)) + b"\x01" * 400 + b"\x00")
    assert d._raw is raw and d._body is body
    assert len(raw) == frame.MAX_BODY + frame.MAX_BODY // 254 + 1
