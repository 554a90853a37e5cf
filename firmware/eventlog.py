"""The event log: fixed 26-byte CRC-checked records in two flash segments used as a ring.

`log = EventLog(storage); log.open()` scans both segments, drops a torn tail (a power cut
mid-append) and says how much; `log.append(kind, t_s, a, b, c)` commits one record (it is
on flash when append returns) and returns its seq; `log.records()` yields them oldest first.
`decode_all(data)` reads any bytes (tools, dumps) and never raises.
"""

import struct
from binascii import crc32

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# Record: magic u8, kind u8, seq u32, t_s u32 (pump time; 0xFFFFFFFF = unknown, which the API
# shows as NO_TIME = -1), a, b, c u32, then CRC-32/ISO-HDLC (binascii.crc32) of those 22 bytes
# as u32; all little-endian. Pump time is u32 on the link too, so every pump time fits.
_BODY = "<BBIIIII"
_CRC = "<I"
_BODY_SIZE = const(22)
RECORD_SIZE = const(26)
MAGIC = const(0xE5)
NO_TIME = const(-1)
_U32_MAX = const(0xFFFFFFFF)
_T_UNKNOWN = const(0xFFFFFFFF)

BOOT = const(1)  # a=boot number, b=torn bytes dropped at open
PRESS = const(2)  # gesture completed
GRANTED = const(3)  # a=request_id, b=dose_ug, c=duration_s; written before the request is sent
DENIED = const(4)  # a=reason code, b=next_s or 0xFFFFFFFF
DELIVERED = const(5)  # a=request_id, b=dose_ug, c=pump start_s
UNCERTAIN = const(6)  # a=request_id, b=dose_ug
SETTLED = const(7)  # a=request_id, b=1 delivered / 0 not, c=start_s or 0
ALARM = const(8)  # a=alarm bitmask now active, b=bits newly raised
FAULT = const(9)  # a=fault code, b=detail
RX_CHANGE = const(10)  # a=version, b=1 accepted / 0 refused, c=refusal code
PUMP_REFUSED = const(11)  # a=request_id, b=pump reason code
SYNCED = const(12)  # a=pump_id, b=boluses in history
CHECKPOINT = const(13)  # a=next request id, b=open requests re-logged after it (written on rotation)

KIND_NAMES = {
    BOOT: "boot",
    PRESS: "press",
    GRANTED: "granted",
    DENIED: "denied",
    DELIVERED: "delivered",
    UNCERTAIN: "uncertain",
    SETTLED: "settled",
    ALARM: "alarm",
    FAULT: "fault",
    RX_CHANGE: "rx_change",
    PUMP_REFUSED: "pump_refused",
    SYNCED: "synced",
    CHECKPOINT: "checkpoint",
}

FAULT_TORN_LOG = const(1)
FAULT_BUTTON_STUCK = const(2)
FAULT_WATCHDOG = const(3)
FAULT_STORAGE = const(4)
FAULT_LINK = const(5)
FAULT_PUMP_CLOCK = const(6)  # b=|jump| in s, c=1 if backwards
FAULT_PUMP_CHANGED = const(7)  # b=old pump id (0: none yet), c=new pump id
FAULT_HANDHELD = const(8)  # b=exception (HANDHELD_EXCEPTIONS index), c=faults in a row
FAULT_OVERSIZED_FILE = const(9)  # b=file (FILE_IDS), c=its size in bytes (at most 0xFFFFFFFF)

FAULT_NAMES = {
    FAULT_TORN_LOG: "torn_log_tail",
    FAULT_BUTTON_STUCK: "button_stuck",
    FAULT_WATCHDOG: "watchdog_reset",
    FAULT_STORAGE: "storage_error",
    FAULT_LINK: "link_error",
    FAULT_PUMP_CLOCK: "pump_clock_jump",
    FAULT_PUMP_CHANGED: "pump_changed",
    FAULT_HANDHELD: "handheld_fault",
    FAULT_OVERSIZED_FILE: "oversized_file",
}

# FAULT_HANDHELD b: the exception's class by name (0: any other, subclasses included).
HANDHELD_EXCEPTIONS = (
    "other",
    "MemoryError",
    "OSError",
    "ValueError",
    "TypeError",
    "KeyError",
    "IndexError",
    "AttributeError",
    "ZeroDivisionError",
    "RuntimeError",
    "NotImplementedError",
)
# FAULT_OVERSIZED_FILE b: which file (0: another). The prescription files are refused as
# RX_CHANGE records instead (rxstore.OVERSIZED).
FILE_IDS = {"events.0": 1, "events.1": 2, "key.bin": 3}


class Record:
    """One decoded record: seq, kind, t_s, a, b, c."""

    def __init__(self, seq, kind, t_s, a, b, c):
        self.seq = seq
        self.kind = kind
        self.t_s = t_s
        self.a = a
        self.b = b
        self.c = c

    def __eq__(self, other):
        return isinstance(other, Record) and self.tuple() == other.tuple()

    def tuple(self):
        return (self.seq, self.kind, self.t_s, self.a, self.b, self.c)

    def __repr__(self):
        return "Record(%d %s t=%d a=%d b=%d c=%d)" % (
            self.seq,
            KIND_NAMES.get(self.kind, str(self.kind)),
            self.t_s,
            self.a,
            self.b,
            self.c,
        )


def _seq_at(mv, off):
    """The seq of the valid record at byte `off` of memoryview `mv` (26 bytes must be
    there), or -1 when the magic or the CRC is wrong."""
    head = struct.unpack_from("<BBI", mv, off)
    if head[0] != MAGIC:
        return -1
    crc = struct.unpack_from(_CRC, mv, off + _BODY_SIZE)[0]
    if crc != crc32(mv[off : off + _BODY_SIZE]) & _U32_MAX:
        return -1
    return head[2]


def _record_at(mv, off):
    f = struct.unpack_from(_BODY, mv, off)
    return Record(f[2], f[1], NO_TIME if f[3] == _T_UNKNOWN else f[3], f[4], f[5], f[6])


def _scan(mv):
    """(valid records, end of the last valid one, bad bytes before that end, highest seq or
    -1) for a segment's bytes, read at 26-byte steps. Allocates no records."""
    count = 0
    end = 0
    bad = 0
    top = -1
    off = 0
    last = len(mv) - RECORD_SIZE
    while off <= last:
        seq = _seq_at(mv, off)
        if seq >= 0:
            count += 1
            bad += off - end
            end = off + RECORD_SIZE
            if seq > top:
                top = seq
        off += RECORD_SIZE
    return count, end, bad, top


def _records_in(data):
    """Yield the valid Records in `data`, in file order."""
    mv = memoryview(data)
    off = 0
    last = len(mv) - RECORD_SIZE
    while off <= last:
        if _seq_at(mv, off) >= 0:
            yield _record_at(mv, off)
        off += RECORD_SIZE


def decode_all(data):
    """(records in file order, bad_bytes) for any bytes: records are read at 26-byte steps;
    bad_bytes counts every byte not part of a valid record (corrupt records, a torn tail).
    Never raises: a tool reading a dump always gets an answer."""
    if data is None:
        return [], 0
    if not isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data)
        except Exception:
            return [], 0
    records = list(_records_in(data))
    return records, len(data) - RECORD_SIZE * len(records)


SEGMENT_BYTES = const(4096)  # each of the two segments at most (the handheld's log)


class EventLog:
    """The log on `storage` in files name+".0" and name+".1", each at most `segment_bytes`.
    When the active segment is full the other is emptied and becomes active, so the newest
    segment_bytes // 26 records always survive (older ones go: flash is bounded)."""

    def __init__(self, storage, name="events", segment_bytes=SEGMENT_BYTES):
        if segment_bytes < RECORD_SIZE:
            raise ValueError("segment_bytes must hold at least one 26-byte record")
        self.storage = storage
        self.names = (name + ".0", name + ".1")
        self.segment_bytes = segment_bytes
        self.capacity = segment_bytes // RECORD_SIZE  # records per segment
        self._buf = bytearray(RECORD_SIZE)  # reused for every append
        self.on_rotate = None  # called after a rotation erased the older segment
        self._opened = False
        self._active = 0  # index into names
        self._active_size = 0
        self._next_seq = 1
        self._order = (1, 0)  # segment indexes, oldest first
        self._seg_count = [0, 0]  # valid records per segment
        self.torn_bytes = 0  # dropped from the tail(s) by the last open()
        self.bad_bytes = 0  # corrupt records skipped inside segments at the last open()
        self.oversized = []  # (name, size) of segments cut to segment_bytes at the last open()

    def open(self):
        """Scan both segments, cut torn or corrupt tails off (so appends stay record-aligned)
        and find where to append. Returns dict(records, torn_bytes, bad_bytes).

        A segment longer than `segment_bytes` was not written by this log (nothing is appended
        past that size): before it is read it is cut to `segment_bytes` (a read that reads no
        further, so it cannot exhaust the heap), which keeps the records committed at its
        start, and then scanned like any other; `self.oversized` lists (name, size it had) for
        each such segment. Every read passes `segment_bytes` as its cap."""
        tops = [-1, -1]
        torn = 0
        bad = 0
        oversized = []
        for i in (0, 1):
            name = self.names[i]
            size = self.storage.size(name)
            if size > self.segment_bytes:
                oversized.append((name, size))
                self.storage.truncate(name, self.segment_bytes)
            data = self.storage.read(name, self.segment_bytes)
            if data is None:
                self._seg_count[i] = 0
                continue
            scan = _scan(memoryview(data))
            end = scan[1]
            if end < len(data):
                torn += len(data) - end
                self.storage.truncate(name, end)
            self._seg_count[i] = scan[0]
            bad += scan[2]
            tops[i] = scan[3]
            data = None
        active = 1 if tops[1] > tops[0] else 0
        top = tops[active]
        self._active = active
        self._order = (1 - active, active)
        self._active_size = self.storage.size(self.names[active])
        self._next_seq = (top + 1) & _U32_MAX if top >= 0 else 1
        self.torn_bytes = torn
        self.bad_bytes = bad
        self._opened = True
        self.oversized = oversized
        return {"records": self.count, "torn_bytes": torn, "bad_bytes": bad}

    @property
    def count(self):
        """Valid records in the log now."""
        return self._seg_count[0] + self._seg_count[1]

    def append(self, kind, t_s, a=0, b=0, c=0):
        """Commit one record and return its seq. A storage failure (power cut, full flash)
        propagates; the next append re-opens the log first so it stays aligned."""
        if not 0 < kind <= 0xFF:
            raise ValueError("event kind must be 1..255")
        if t_s == NO_TIME:
            t_s = _T_UNKNOWN
        elif not 0 <= t_s < _T_UNKNOWN:
            raise ValueError("event t_s must be a pump time 0..0xFFFFFFFE or NO_TIME")
        if not (0 <= a <= _U32_MAX and 0 <= b <= _U32_MAX and 0 <= c <= _U32_MAX):
            raise ValueError("event a, b and c must be 0..0xFFFFFFFF")
        if not self._opened:
            self.open()
        seq = self._next_seq
        buf = self._buf
        struct.pack_into(_BODY, buf, 0, MAGIC, kind, seq, t_s, a, b, c)
        struct.pack_into(_CRC, buf, _BODY_SIZE, crc32(memoryview(buf)[:_BODY_SIZE]) & _U32_MAX)
        done = False
        rotated = False
        try:
            if self._active_size + RECORD_SIZE > self.segment_bytes:
                self._rotate()
                rotated = True
            self.storage.append(self.names[self._active], buf)
            done = True
        finally:
            if not done:
                self._opened = False  # unknown how much reached flash: rescan before the next
        self._active_size += RECORD_SIZE
        self._next_seq = (seq + 1) & _U32_MAX
        self._seg_count[self._active] += 1
        if rotated and self.on_rotate is not None:
            self.on_rotate()  # the owner re-logs what must outlive the segment just erased
        return seq

    def _rotate(self):
        other = 1 - self._active
        # Atomic: the other segment is either intact or empty, never half-cleared.
        self.storage.replace(self.names[other], b"")
        self._seg_count[other] = 0
        self._order = (self._active, other)
        self._active = other
        self._active_size = 0

    def records(self):
        """Yield every valid Record, oldest first (one segment in memory at a time)."""
        if not self._opened:
            self.open()
        for i in self._order:
            data = self.storage.read(self.names[i], self.segment_bytes)
            if data:
                for r in _records_in(data):
                    yield r
