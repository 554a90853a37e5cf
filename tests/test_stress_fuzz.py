"""Fuzzing the decoders and parsers under hypothesis (bounded), against the independent reference
checks in tools/soak/fuzz.py: the frame decoder and the message decoder never raise and accept
exactly what a conforming receiver accepts; the prescription parsers and the signed-rx verifier
raise only their own errors and never accept anything invalid. Plus the CLI's figures."""

import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware import frame
from firmware import messages as m
from firmware import prescription as rxmod
from tests.mp import REPO
from tools.soak import fuzz

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def _clean(res):
    assert res.escaped == 0 and res.invalid == 0, res.examples


@st.composite
def wire_streams(draw):
    """Valid frames of every message type mixed with junk, then mutated."""
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            t = draw(st.sampled_from(fuzz.MESSAGE_TYPES))
            rng = __import__("random").Random(draw(st.integers(0, 2**32)))
            parts.append(frame.encode(t, draw(st.integers(0, 255)), m.encode(t, fuzz.random_fields(rng, t))))
        elif choice == 1:
            parts.append(frame.encode(draw(st.integers(0, 255)), draw(st.integers(0, 255)), draw(st.binary(max_size=193))))
        elif choice == 2:
            parts.append(draw(st.binary(max_size=300)))
        else:
            parts.append(bytes([draw(st.integers(1, 255))]) * draw(st.integers(190, 520)))
    stream = b"".join(parts)
    if draw(st.booleans()):
        stream = bytearray(stream)
        for _ in range(draw(st.integers(1, 4))):
            if stream:
                i = draw(st.integers(0, len(stream) - 1))
                stream[i] = draw(st.integers(0, 255))
        stream = bytes(stream)
    return stream


@FUZZ
@given(stream=wire_streams(), cuts=st.lists(st.integers(1, 300), max_size=8))
def test_deframer_agrees_with_a_reference_receiver(stream, cuts):
    pieces = []
    i = 0
    for n in cuts:
        pieces.append(stream[i : i + n])
        i += n
    pieces.append(stream[i:])
    frames = fuzz.Result("frames")
    msgs = fuzz.Result("messages")
    for t, _seq, payload in fuzz.check_stream(frames, stream, pieces):
        fuzz.check_message(msgs, t, payload)
    _clean(frames)
    _clean(msgs)


@FUZZ
@given(msg_type=st.integers(0, 255), payload=st.binary(max_size=120))
def test_message_decode_raises_only_message_error_and_round_trips(msg_type, payload):
    res = fuzz.Result("messages")
    fuzz.check_message(res, msg_type, payload)
    _clean(res)


_TOKENS = st.sampled_from(list(rxmod.FIELDS) + ["colour", "VERSION", "", "rx1"])
_VALUES = st.one_of(st.integers(-10, 10**13).map(str), st.sampled_from(["", "-", "+1", "01", "1e3", "0x1", "\u0663", "1.0", "-0"]))
_SEPS = st.sampled_from([" ", "\n", "\t", "\r\n", "  ", " # c\n", "#", "\x0b", "\x0c"])


@st.composite
def rx_texts(draw):
    items = draw(st.lists(st.tuples(_TOKENS, st.sampled_from(["=", "==", " = ", ""]), _VALUES, _SEPS), max_size=10))
    if draw(st.booleans()):  # mostly-valid texts, so that acceptance is exercised too
        rng = __import__("random").Random(draw(st.integers(0, 2**32)))
        return fuzz.random_text(rng)
    return "".join(k + eq + v + sep for k, eq, v, sep in items)


@FUZZ
@given(text=rx_texts())
def test_parse_text_raises_only_prescription_error_and_accepts_only_valid(text):
    res = fuzz.Result("text")
    fuzz.check_text(res, text)
    _clean(res)


@FUZZ
@given(seed=st.integers(0, 2**32), data=st.binary(max_size=220))
def test_parse_canonical_accepts_only_the_canonical_bytes_of_a_valid_rx(seed, data):
    res = fuzz.Result("canonical")
    fuzz.check_canonical(res, fuzz.random_canonical(__import__("random").Random(seed)))
    fuzz.check_canonical(res, data)
    _clean(res)


@FUZZ
@given(seed=st.integers(0, 2**32), current=st.sampled_from([0, 1, 2, 2**31 - 1]), junk=st.binary(max_size=200))
def test_verify_accepts_only_signed_canonical_newer_prescriptions(seed, current, junk):
    res = fuzz.Result("verify")
    fuzz.check_blob(res, fuzz.random_blob(__import__("random").Random(seed)), current)
    fuzz.check_blob(res, junk, current)
    _clean(res)


def test_the_fuzzers_really_exercise_acceptance():
    results = fuzz.run_fuzz(1500, seed=5)
    for r in results:
        _clean(r)
        assert r.accepted > 0 and r.rejected > 0, r.name


def test_a_decoder_that_accepts_a_bad_crc_is_caught(monkeypatch):
    monkeypatch.setattr(frame, "crc32", lambda data: 0)  # every CRC "matches" a zero field
    res = fuzz.Result("frames")
    body = bytes([1, m.STATUS_REQ, 5]) + bytes(4)
    fuzz.check_stream(res, frame.cobs_encode(body) + b"\x00", [frame.cobs_encode(body) + b"\x00"])
    assert res.invalid == 1


def test_fuzz_cli_prints_the_figures():
    out = subprocess.run([sys.executable, "-m", "tools.soak", "fuzz", "--inputs", "300"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "exceptions escaped 0, accepted-but-invalid 0" in out.stdout
    assert "inputs tried" in out.stdout
