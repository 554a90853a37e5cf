"""The link's fuzz inputs and checks: a reference COBS/CRC receiver written from
docs/protocol.md (not from firmware/frame.py), random valid messages of every type, byte-level
mutations, and the checks of the frame decoder (`Deframer`) and the message decoder (`decode`)
against the reference. Used by `tools.soak.fuzz` and the hypothesis tests."""

import binascii
import struct

from firmware import frame
from firmware import messages as m

MAX_BODY = 200
_RAW_CAP = MAX_BODY + MAX_BODY // 254 + 1  # the Deframer's raw buffer


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
