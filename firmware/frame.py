"""Link framing: COBS-encoded bodies delimited by 0x00, each carrying a CRC-32.

`encode(msg_type, seq, payload)` gives the complete wire bytes; `Deframer().feed(data)` turns a
byte stream (any chunking, any noise) into `Frame` objects and never raises. Byte layout and
examples: docs/protocol.md. Runs on MicroPython and CPython.
"""

import binascii
import struct

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


VERSION = const(1)  # protocol version byte, first byte of every body
MAX_BODY = const(200)  # ver + type + seq + payload + crc, before COBS
HEADER = const(3)  # ver u8, type u8, seq u8
CRC_SIZE = const(4)  # CRC-32/ISO-HDLC, little-endian, over ver..payload
MIN_BODY = const(7)  # HEADER + CRC_SIZE: an empty payload
MAX_PAYLOAD = const(193)  # MAX_BODY - MIN_BODY
DELIMITER = const(0)

# Frame.error values
ERR_COBS = "cobs"  # a COBS code byte points past the end of the frame
ERR_CRC = "crc"  # CRC mismatch
ERR_SHORT = "short"  # fewer than MIN_BODY bytes after COBS decoding
ERR_TOO_LONG = "too_long"  # more than max_body bytes before the delimiter: discarded
ERR_VERSION = "version"  # intact frame (CRC good) with another version byte


class FrameError(Exception):
    """A frame could not be built or decoded; `.reason` is a short sentence."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def crc32(data):
    """CRC-32/ISO-HDLC (zlib, Ethernet): check value crc32(b"123456789") == 0xCBF43926."""
    return binascii.crc32(data) & 0xFFFFFFFF


def cobs_encode(data):
    """COBS-encode `data` (no zero bytes in the result, no trailing delimiter added).
    A run of 254 non-zero bytes that ends the data is not followed by an empty block."""
    out = bytearray()
    code_at = 0
    out.append(0)  # placeholder for the first code byte
    code = 1
    n = len(data)
    for i in range(n):
        b = data[i]
        if b == 0:
            out[code_at] = code
            code_at = len(out)
            out.append(0)
            code = 1
        else:
            out.append(b)
            code += 1
            if code == 0xFF and i + 1 < n:
                out[code_at] = code
                code_at = len(out)
                out.append(0)
                code = 1
    out[code_at] = code
    return bytes(out)


def _cobs_decode_into(src, n, dst):
    """Decode src[:n] into dst; returns the decoded length, -1 on a COBS error, -2 when the
    result would not fit in dst. Allocates nothing."""
    i = 0
    o = 0
    cap = len(dst)
    while i < n:
        code = src[i]
        if code == 0:
            return -1
        i += 1
        end = i + code - 1
        if end > n:
            return -1
        while i < end:
            b = src[i]
            if b == 0:
                return -1
            if o >= cap:
                return -2
            dst[o] = b
            o += 1
            i += 1
        if code != 0xFF and i < n:
            if o >= cap:
                return -2
            dst[o] = 0
            o += 1
    return o


def cobs_decode(data):
    """Decode one COBS block (without its 0x00 delimiter); raises FrameError if malformed."""
    n = len(data)
    out = bytearray(n)
    m = _cobs_decode_into(data, n, out)
    if m < 0:
        raise FrameError("malformed COBS data")
    return bytes(out[:m])


def encode(msg_type, seq, payload=b""):
    """Complete wire bytes for one frame: COBS(ver|type|seq|payload|crc32) + 0x00."""
    if not (0 <= msg_type <= 0xFF and 0 <= seq <= 0xFF):
        raise FrameError("message type and sequence number must be 0..255")
    if len(payload) > MAX_PAYLOAD:
        raise FrameError("payload longer than %d bytes" % MAX_PAYLOAD)
    body = bytearray(HEADER + len(payload) + CRC_SIZE)
    body[0] = VERSION
    body[1] = msg_type
    body[2] = seq
    body[HEADER : HEADER + len(payload)] = payload
    end = HEADER + len(payload)
    body[end:] = struct.pack("<I", crc32(memoryview(body)[:end]))
    return cobs_encode(body) + b"\x00"


class Frame:
    """One received frame. `error` is None for a good frame, else one of the ERR_* strings;
    msg_type and seq are None when they could not be trusted (cobs, crc, short, too_long)."""

    def __init__(self, msg_type=None, seq=None, payload=b"", error=None):
        self.msg_type = msg_type
        self.seq = seq
        self.payload = payload
        self.error = error

    def __repr__(self):
        if self.error is not None:
            return "Frame(error=%r, msg_type=%r, seq=%r)" % (self.error, self.msg_type, self.seq)
        return "Frame(msg_type=0x%02x, seq=%d, payload=%r)" % (self.msg_type, self.seq, self.payload)


class Deframer:
    """Stream-to-frames decoder with fixed buffers. `feed(data) -> list of Frame`; partial
    frames are kept across calls. Noise becomes error frames (or nothing, for empty runs
    between delimiters); the decoder resynchronises at the next 0x00 and never raises."""

    def __init__(self, max_body=MAX_BODY):
        if max_body < MIN_BODY:
            max_body = MIN_BODY
        self.max_body = max_body
        self._raw = bytearray(max_body + max_body // 254 + 1)  # COBS adds 1 byte per 254
        self._raw_mv = memoryview(self._raw)
        self._body = bytearray(max_body)
        self._body_mv = memoryview(self._body)
        self._n = 0
        self._overflow = False
        self.frames_ok = 0
        self.frames_bad = 0

    def reset(self):
        """Forget any partial frame (e.g. after the port was reopened)."""
        self._n = 0
        self._overflow = False

    def feed(self, data):
        frames = []
        if not isinstance(data, (bytes, bytearray)):
            try:
                data = bytes(data)
            except Exception:
                return frames
        src = memoryview(data)
        raw = self._raw_mv
        cap = len(self._raw)
        i = 0
        total = len(data)
        while i < total:
            j = data.find(b"\x00", i)
            end = total if j < 0 else j
            k = end - i
            if k and not self._overflow:
                n = self._n
                if n + k <= cap:
                    raw[n : n + k] = src[i:end]
                    self._n = n + k
                else:
                    self._overflow = True
                    self._n = 0
            if j < 0:
                break
            if self._overflow:
                frames.append(Frame(error=ERR_TOO_LONG))
                self.frames_bad += 1
            elif self._n:
                fr = self._finish()
                if fr.error is None:
                    self.frames_ok += 1
                else:
                    self.frames_bad += 1
                frames.append(fr)
            self._n = 0
            self._overflow = False
            i = j + 1
        return frames

    def _finish(self):
        m = _cobs_decode_into(self._raw, self._n, self._body)
        if m == -2:
            return Frame(error=ERR_TOO_LONG)
        if m < 0:
            return Frame(error=ERR_COBS)
        if m < MIN_BODY:
            return Frame(error=ERR_SHORT)
        body = self._body
        end = m - CRC_SIZE
        got = body[end] | (body[end + 1] << 8) | (body[end + 2] << 16) | (body[end + 3] << 24)
        if crc32(self._body_mv[:end]) != got:
            return Frame(error=ERR_CRC)
        if body[0] != VERSION:
            return Frame(body[1], body[2], b"", ERR_VERSION)
        return Frame(body[1], body[2], bytes(self._body_mv[HEADER:end]))
