"""The pulled-log file and its check.

`pull-log` writes a small container so that each segment keeps its own record alignment:

    PPLOG1\\n
    segment events.0 <length>\\n  <length raw bytes of events.0>  \\n
    segment events.1 <length>\\n  <length raw bytes of events.1>  \\n
    end\\n

(ASCII header lines; a missing segment has length 0.) `read(path)` also accepts a raw
segment file (anything not starting with the magic). `verify(segments)` decodes every
segment with firmware.eventlog.decode_all and locates each bad 26-byte slot by file offset.
"""

import os

from firmware import eventlog
from tools.clinician.errors import EXIT_FAILED, EXIT_NO_DEVICE, ClinicianError

MAGIC = b"PPLOG1\n"
SEGMENTS = ("events.0", "events.1")
RECORD_SIZE = eventlog.RECORD_SIZE
MAX_LOG_BYTES = 4 << 20  # a pulled log is two segments of a few KB; this is a thousand times that


class Segment:
    def __init__(self, name, offset, data):
        self.name = name
        self.offset = offset  # where its bytes start in the file
        self.data = data


def pack(segments):
    """The container bytes for [(name, bytes or None), ...]."""
    out = [MAGIC]
    for name, data in segments:
        data = data or b""
        out.append(b"segment %s %d\n" % (name.encode(), len(data)))
        out.append(bytes(data))
        out.append(b"\n")
    out.append(b"end\n")
    return b"".join(out)


def unpack(blob, source="the log"):
    """[Segment] from container bytes, or one raw segment for bytes without the magic."""
    if not blob.startswith(MAGIC):
        return [Segment(source, 0, blob)]
    segs = []
    pos = len(MAGIC)
    while True:
        nl = blob.find(b"\n", pos)
        if nl < 0:
            raise ClinicianError("The log container %s is cut short at offset %d." % (source, pos), EXIT_FAILED)
        header = blob[pos:nl].split()
        if header == [b"end"]:
            return segs
        if len(header) != 3 or header[0] != b"segment" or not header[2].isdigit():
            raise ClinicianError("The log container %s has a bad header at offset %d." % (source, pos), EXIT_FAILED)
        length = int(header[2])
        start = nl + 1
        if start + length + 1 > len(blob) or blob[start + length : start + length + 1] != b"\n":
            raise ClinicianError("The log container %s is cut short in segment %s." % (source, header[1].decode("ascii", "replace")), EXIT_FAILED)
        segs.append(Segment(header[1].decode("ascii", "replace"), start, blob[start : start + length]))
        pos = start + length + 1


def read(path):
    if os.path.isdir(path):
        raise ClinicianError("The log %s is a folder, not a file from pull-log." % path, EXIT_NO_DEVICE)
    try:
        with open(path, "rb") as f:
            blob = f.read(MAX_LOG_BYTES + 1)
    except OSError as e:
        raise ClinicianError("Cannot read the log %s: %s." % (path, e.strerror), EXIT_NO_DEVICE)
    if len(blob) > MAX_LOG_BYTES:
        raise ClinicianError(
            "The file %s is larger than %d MB, far more than a handheld's event log: it is not one." % (path, MAX_LOG_BYTES >> 20),
            EXIT_FAILED,
        )
    return unpack(blob, path)


def require_log(verified, source):
    """Refuse (ClinicianError) a file that is not an event log: not empty, yet less than half
    of its bytes are intact records (random bytes or another file hold none at all). A log
    damaged in places still passes: the report then says what is damaged."""
    total = verified.bad_bytes + RECORD_SIZE * len(verified.records)
    if total and RECORD_SIZE * len(verified.records) * 2 < total:
        raise ClinicianError(
            "The file %s is not an event log: only %d of its %d bytes are intact records (verify-log lists them)."
            % (source, RECORD_SIZE * len(verified.records), total),
            EXIT_FAILED,
        )


class Verified:
    """Records from every segment (sorted by seq) and where the bad bytes are."""

    def __init__(self):
        self.records = []
        self.per_segment = []  # (name, records, bad_bytes)
        self.bad_ranges = []  # (file_offset, length, segment name, segment offset)
        self.bad_bytes = 0

    def lines(self):
        out = []
        for name, count, bad in self.per_segment:
            out.append("%s: %d intact records, %d bad bytes" % (name, count, bad))
        for off, length, name, seg_off in self.bad_ranges:
            out.append("  bad: %d bytes at file offset %d (%s offset %d)" % (length, off, name, seg_off))
        total = len(self.records)
        if self.bad_bytes:
            out.append("total: %d intact records, %d bad bytes (%d damaged record slots): the log is damaged" % (total, self.bad_bytes, self.damaged_slots()))
        else:
            out.append("total: %d intact records, 0 bad bytes: the log is intact" % total)
        return out

    def damaged_slots(self):
        return sum(-(-length // RECORD_SIZE) for _, length, _, _ in self.bad_ranges)


def verify(segments):
    result = Verified()
    for seg in segments:
        records, bad = eventlog.decode_all(seg.data)
        result.records.extend(records)
        result.per_segment.append((seg.name, len(records), bad))
        result.bad_bytes += bad
        run = None  # [segment offset, length] of the current run of bad slots
        for off in range(0, len(seg.data), RECORD_SIZE):
            chunk = seg.data[off : off + RECORD_SIZE]
            good = len(chunk) == RECORD_SIZE and len(eventlog.decode_all(chunk)[0]) == 1
            if good:
                if run is not None:
                    result.bad_ranges.append((seg.offset + run[0], run[1], seg.name, run[0]))
                    run = None
            elif run is None:
                run = [off, len(chunk)]
            else:
                run[1] += len(chunk)
        if run is not None:
            result.bad_ranges.append((seg.offset + run[0], run[1], seg.name, run[0]))
    result.records.sort(key=lambda r: r.seq)
    return result
