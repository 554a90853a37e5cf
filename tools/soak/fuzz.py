"""Fuzzers with figures: the link decoders and the prescription parsers against independent
reference checks written here from docs/protocol.md and plan/CONTRACTS.md.

`run_fuzz(n, seed)` returns one `Result` per target (inputs, accepted, rejected, exceptions
escaped, accepted-but-invalid). An exception escapes when a function raises anything but its
documented error (FrameError never escapes a Deframer; MessageError, PrescriptionError,
RxRefused); accepted-but-invalid means a reference check disagrees with something accepted.
The generators are also used by the hypothesis tests (tests/test_stress_fuzz.py).
"""

import binascii
import hashlib
import hmac
import random
import struct
import traceback

from firmware import frame
from firmware import messages as m
from firmware import prescription as rxmod
from firmware import rxstore

KEY = bytes(range(7, 39))
OTHER_KEY = bytes(range(100, 132))
MAX_BODY = 200
_RAW_CAP = MAX_BODY + MAX_BODY // 254 + 1  # the Deframer's raw buffer


class Result:
    def __init__(self, name):
        self.name = name
        self.inputs = 0
        self.accepted = 0
        self.rejected = 0
        self.escaped = 0
        self.invalid = 0
        self.examples = []

    def bad(self, kind, detail):
        if kind == "escaped":
            self.escaped += 1
        else:
            self.invalid += 1
        if len(self.examples) < 10:
            self.examples.append("%s: %s" % (kind, detail))


# ---- reference implementations ---------------------------------------------------------------
def ref_cobs_decode(data):
    """Plain COBS decoding (None when malformed), written from the COBS paper, not frame.py."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0 or i + code > n:
            return None
        block = data[i + 1 : i + code]
        if 0 in block:
            return None
        out += block
        i += code
        if code < 0xFF and i < n:
            out.append(0)
    return bytes(out)


def ref_frames(stream):
    """What a conforming receiver makes of `stream` from a fresh start: a list of
    (msg_type, seq, payload) for good frames and None for each bad one, in order."""
    out = []
    parts = stream.split(b"\x00")
    for seg in parts[:-1]:  # the last part has no delimiter yet
        if not seg:
            continue
        if len(seg) > _RAW_CAP:
            out.append(None)
            continue
        body = ref_cobs_decode(seg)
        if body is None or len(body) < 7 or len(body) > MAX_BODY:
            out.append(None)
            continue
        if binascii.crc32(body[:-4]) & 0xFFFFFFFF != struct.unpack("<I", body[-4:])[0]:
            out.append(None)
            continue
        if body[0] != 1:
            out.append(None)
            continue
        out.append((body[1], body[2], body[3:-4]))
    return out


_FIELD_BITS = {
    m.SYNC: (32, 32, 8, 32, 32, 8),
    m.STATUS: (32, 8, 32, 32, 32, 32),
    m.BOLUS_REQ: (32, 32, 16, 32, 32, None),
    m.BOLUS_ACK: (32, 8, 8, 32, 32),
    m.RECORD_REQ: (32,),
    m.RECORD: (32, 8, 8, 32, 32, 32, 32),
    m.HISTORY_REQ: (8,),
    m.ALARM: (8, 8, 32),
    m.NAK: (8,),
    m.SYNC_REQ: (),
    m.STATUS_REQ: (),
}


def random_fields(rng, msg_type):
    """Valid fields for a message type (the layouts of docs/protocol.md)."""
    if msg_type == m.HISTORY:
        n = rng.randrange(0, m.HISTORY_MAX + 1)
        return {
            "total": rng.randrange(256),
            "offset": rng.randrange(256),
            "boluses": [(rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(32), rng.randrange(256)) for _ in range(n)],
        }
    names = m._LAYOUTS[msg_type][1]
    bits = _FIELD_BITS[msg_type]
    fields = {}
    for name, b in zip(names, bits):
        fields[name] = bytes(rng.getrandbits(8) for _ in range(16)) if b is None else rng.getrandbits(b)
    return fields


MESSAGE_TYPES = tuple(sorted(_FIELD_BITS)) + (m.HISTORY,)


def mutate(rng, data, max_len=600):
    """Byte-level mutations: flips, insertions (delimiters too), deletions, splices, junk."""
    b = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(8)
        if op == 0 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b.insert(rng.randrange(len(b) + 1), rng.choice((0, 0xFF, 1, rng.randrange(256))))
        elif op == 2 and b:
            del b[rng.randrange(len(b))]
        elif op == 3 and b:
            i = rng.randrange(len(b))
            del b[i : i + rng.randrange(1, 40)]
        elif op == 4:
            b += bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300)))
        elif op == 5 and b:
            i = rng.randrange(len(b))
            b[i:i] = b[: rng.randrange(len(b) + 1)]
        elif op == 6:
            b += bytes([rng.randrange(1, 256)]) * rng.randrange(190, 520)  # an overlong run
        elif op == 7 and b:
            b[rng.randrange(len(b))] = 0
    return bytes(b[:max_len * 2])


def random_stream(rng):
    """Wire bytes: valid frames of every type (seq, payloads), junk and mutations."""
    parts = []
    for _ in range(rng.randrange(1, 6)):
        kind = rng.randrange(6)
        if kind <= 2:
            t = rng.choice(MESSAGE_TYPES)
            payload = m.encode(t, random_fields(rng, t))
            if kind == 1:  # a payload of the wrong length, still a valid frame
                payload = payload[: rng.randrange(len(payload) + 1)] if payload and rng.random() < 0.5 else payload + bytes(rng.randrange(1, 5))
            parts.append(frame.encode(t, rng.randrange(256), payload[: frame.MAX_PAYLOAD]))
        elif kind == 3:
            parts.append(frame.encode(rng.randrange(256), rng.randrange(256), bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 194)))))
        elif kind == 4:
            parts.append(bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80))))
        else:  # a valid body with another version byte
            body = bytearray([rng.randrange(2, 256), rng.choice(MESSAGE_TYPES), rng.randrange(256)])
            body += struct.pack("<I", binascii.crc32(bytes(body)) & 0xFFFFFFFF)
            parts.append(frame.cobs_encode(bytes(body)) + b"\x00")
    stream = b"".join(parts)
    if rng.random() < 0.6:
        stream = mutate(rng, stream)
    return stream


def chunks(rng, data):
    out = []
    i = 0
    while i < len(data):
        n = rng.choice((1, 2, 3, 7, 64, 256, 1000))
        out.append(data[i : i + n])
        i += n
    return out


# ---- targets -----------------------------------------------------------------------------------
def check_stream(res, stream, pieces):
    """Feed `stream` in `pieces` to a fresh Deframer; compare with the reference receiver."""
    res.inputs += 1
    d = frame.Deframer()
    got = []
    try:
        for p in pieces:
            got.extend(d.feed(p))
    except Exception as e:
        res.bad("escaped", "Deframer.feed %r on %s" % (e, stream[:40].hex()))
        return []
    want = ref_frames(stream)
    mine = [None if f.error is not None else (f.msg_type, f.seq, bytes(f.payload)) for f in got]
    if mine != want:  # accepted what the reference refuses, or the other way round
        res.bad("invalid", "frames %r, reference %r (stream %s)" % (mine[:4], want[:4], stream[:60].hex()))
    for x in mine:
        if x is None:
            res.rejected += 1
        else:
            res.accepted += 1
    return [x for x in mine if x is not None]


def check_message(res, msg_type, payload):
    res.inputs += 1
    try:
        fields = m.decode(msg_type, payload)
    except m.MessageError:
        res.rejected += 1
        return None
    except Exception as e:
        res.bad("escaped", "decode(0x%02x, %s): %r" % (msg_type, bytes(payload).hex(), e))
        return None
    res.accepted += 1
    try:
        again = m.encode(msg_type, fields)
    except Exception as e:
        res.bad("invalid", "decode(0x%02x, %s) gave fields that do not encode: %r" % (msg_type, bytes(payload).hex(), e))
        return fields
    if again != bytes(payload):
        res.bad("invalid", "decode(0x%02x, %s) round trip gives %s" % (msg_type, bytes(payload).hex(), again.hex()))
    return fields


# ---- prescriptions -----------------------------------------------------------------------------
def ref_valid(d):
    """The ranges of plan/CONTRACTS.md, checked independently of firmware/prescription.py."""
    keys = ("version", "dose_ug", "duration_s", "lockout_s", "max_per_24h", "cap_ug", "cap_window_s")
    if sorted(d) != sorted(keys):
        return False
    for k in keys:
        if type(d[k]) is not int:
            return False
    return (
        1 <= d["version"] <= 2**31 - 1
        and 1 <= d["dose_ug"] <= 100000
        and 1 <= d["duration_s"] <= 3600
        and d["duration_s"] <= d["lockout_s"] <= 86400
        and 1 <= d["max_per_24h"] <= 48
        and 0 <= d["cap_ug"] <= 10**7
        and (d["cap_window_s"] == 0 or 3600 <= d["cap_window_s"] <= 86400)
        and (d["cap_ug"] == 0) == (d["cap_window_s"] == 0)
    )


def ref_text(text):
    """An independent reading of the clinic's text form: the dict it states, or None."""
    d = {}
    for line in text.split("\n"):
        line = line.split("#", 1)[0]
        for tok in line.split():
            if tok.count("=") < 1:
                return None
            k, v = tok.split("=", 1)
            if k in d:
                return None
            neg = v.startswith("-")
            digits = v[1:] if neg else v
            if not digits or len(digits) > 12 or any(c not in "0123456789" for c in digits):
                return None
            d[k] = int(v)
    return d


def random_rx_fields(rng, valid_bias=0.7):
    dur = rng.choice((1, 2, 60, 600, 3600, rng.randrange(1, 3601)))
    d = {
        "version": rng.choice((1, 2, 2**31 - 1, rng.randrange(1, 2**31))),
        "dose_ug": rng.choice((1, 100, 100000, rng.randrange(1, 100001))),
        "duration_s": dur,
        "lockout_s": rng.choice((dur, 86400, rng.randrange(dur, 86401))),
        "max_per_24h": rng.choice((1, 4, 48, rng.randrange(1, 49))),
        "cap_ug": 0,
        "cap_window_s": 0,
    }
    if rng.random() < 0.4:
        d["cap_ug"] = rng.randrange(1, 10**7 + 1)
        d["cap_window_s"] = rng.randrange(3600, 86401)
    if rng.random() > valid_bias:  # one field pushed to or over an edge
        k = rng.choice(sorted(d))
        d[k] = rng.choice((0, -1, 1, 3599, 3600, 3601, 86400, 86401, 49, 100001, 10**7 + 1, 2**31, 2**32, 10**12, 10**13))
    return d


_JUNK = (" ", "\t", "\n", "\r", "#", "=", "==", "-", "+", "0", "00", "\x00", "\u00a0", "\u2003", "\x1c", "\x85", "\u0663", "1e3", "0x10", "1_0", "9" * 13, "rx1;", ";")


def random_text(rng):
    d = random_rx_fields(rng)
    keys = list(d)
    rng.shuffle(keys)
    lines = []
    for k in keys:
        v = str(d[k])
        r = rng.random()
        if r < 0.01:
            v = "0" + v
        elif r < 0.02:
            v = "+" + v
        elif r < 0.03:
            continue  # missing
        elif r < 0.04:
            lines.append("%s=%s" % (k, v))  # duplicate
        elif r < 0.05:
            k = k.upper()
        sep = "=" if rng.random() < 0.95 else rng.choice((" = ", "=="))
        lines.append(k + sep + v + rng.choice(("", "", " # note", "\t", "  #x=1")))
    if rng.random() < 0.03:
        lines.append("colour=blue")
    text = rng.choice(("\n", " ", "\r\n", "\t")).join(lines)
    if rng.random() < 0.2:
        t = list(text)
        for _ in range(rng.randrange(1, 4)):
            t.insert(rng.randrange(len(t) + 1), rng.choice(_JUNK))
        text = "".join(t)
    return text


def _parsed(res, parse, data):
    """`parse(data)` counted: the prescription, or None when refused (as it should be, with a
    PrescriptionError) or when anything else escaped (a finding)."""
    res.inputs += 1
    try:
        rx = parse(data)
    except rxmod.PrescriptionError:
        res.rejected += 1
        return None
    except Exception as e:
        res.bad("escaped", "%s(%r): %r" % (parse.__name__, data[:80], e))
        return None
    res.accepted += 1
    return rx


def check_text(res, text):
    rx = _parsed(res, rxmod.parse_text, text)
    if rx is None:
        return None
    ref = ref_text(text)
    if ref is None or not ref_valid(ref) or ref != rx.fields():
        res.bad("invalid", "parse_text(%r) accepted %r (reference reading %r)" % (text[:120], rx, ref))
    return rx


def random_canonical(rng):
    d = random_rx_fields(rng, valid_bias=0.85)
    text = "rx1;" + ";".join("%s=%d" % (k, d[k]) for k in rxmod.FIELDS)
    b = text.encode()
    r = rng.random()
    if r < 0.5:
        b = mutate(rng, b, max_len=300)
    elif r < 0.6:
        b = b.replace(b"=", b"=0", 1)
    elif r < 0.7:
        b = b.replace(b"=", b"=-", 1)
    return b


def check_canonical(res, b):
    rx = _parsed(res, rxmod.parse_canonical, b)
    if rx is None:
        return None
    try:
        text = b.decode("ascii")
        ok = text.startswith("rx1;")
        pairs = [p.split("=", 1) for p in text[4:].split(";")]
        ok = ok and [p[0] for p in pairs] == list(rxmod.FIELDS) and all(len(p) == 2 for p in pairs)
        d = {p[0]: int(p[1]) for p in pairs} if ok else {}
        ok = ok and ref_valid(d) and d == rx.fields() and ";".join("%s=%d" % (k, d[k]) for k in rxmod.FIELDS) == text[4:]
    except (ValueError, UnicodeError):
        ok = False
    if not ok:
        res.bad("invalid", "parse_canonical(%r) accepted %r" % (b[:120], rx))
    return rx


def ref_sign(body, key):
    return bytes(body) + hmac.new(key, bytes(body), hashlib.sha256).digest()


def random_blob(rng):
    """Signed prescriptions, altered ones, ones signed with another key, and bodies that are
    not canonical but carry a valid tag (what a buggy or compromised clinic tool could send)."""
    body = random_canonical(rng) if rng.random() < 0.7 else rxmod.canonical(rxmod.from_fields(_valid_fields(rng)))
    r = rng.random()
    if r < 0.45:
        return ref_sign(body, KEY)
    if r < 0.6:
        return mutate(rng, ref_sign(body, KEY), max_len=400)
    if r < 0.7:
        return ref_sign(body, OTHER_KEY)
    if r < 0.8:
        return body  # unsigned
    if r < 0.9:
        return ref_sign(body, KEY)[: rng.randrange(0, len(body) + 33)]
    return bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))


def _valid_fields(rng):
    while True:
        d = random_rx_fields(rng, valid_bias=1.0)
        if ref_valid(d):
            return d


def check_blob(res, blob, current):
    res.inputs += 1
    try:
        rx = rxstore.verify(blob, KEY, current)
    except rxstore.RxRefused:
        res.rejected += 1
        return None
    except Exception as e:
        res.bad("escaped", "verify(%s): %r" % (bytes(blob)[:60].hex(), e))
        return None
    res.accepted += 1
    body = bytes(blob)[:-32]
    ok = len(blob) > 32 and hmac.compare_digest(ref_sign(body, KEY), bytes(blob))
    ok = ok and rx.version > current and body == rxmod.canonical(rx) and ref_valid(rx.fields())
    if not ok:
        res.bad("invalid", "verify accepted %s as %r (current version %d)" % (bytes(blob)[:60].hex(), rx, current))
    return rx


# ---- the driver --------------------------------------------------------------------------------
def fuzz_link(n, rng, progress=None):
    frames = Result("frame decoder (Deframer)")
    msgs = Result("message decoder (decode)")
    for i in range(n):
        stream = random_stream(rng)
        good = check_stream(frames, stream, chunks(rng, stream))
        for t, _seq, payload in good:
            check_message(msgs, t, payload)
        t = rng.choice(MESSAGE_TYPES + (rng.randrange(256),))
        p = m.encode(t, random_fields(rng, t)) if t in MESSAGE_TYPES and rng.random() < 0.7 else b""
        check_message(msgs, t, mutate(rng, p, max_len=200) if rng.random() < 0.5 else p)
        if progress is not None and (i + 1) % max(1, n // 4) == 0:
            progress("link", i + 1, frames)
    return [frames, msgs]


def fuzz_rx(n, rng, progress=None):
    text = Result("prescription parse_text")
    canon = Result("prescription parse_canonical")
    blobs = Result("rxstore.verify (signed rx)")
    for i in range(n):
        check_text(text, random_text(rng))
        check_canonical(canon, random_canonical(rng))
        check_blob(blobs, random_blob(rng), rng.choice((0, 0, 1, 2, 2**31 - 1)))
        if progress is not None and (i + 1) % max(1, n // 4) == 0:
            progress("rx", i + 1, blobs)
    return [text, canon, blobs]


def run_fuzz(n, seed=1, progress=None):
    rng = random.Random(seed)
    try:
        return fuzz_link(n, rng, progress) + fuzz_rx(n, rng, progress)
    except Exception:  # a bug in the fuzzer itself, not in the targets
        traceback.print_exc()
        raise
