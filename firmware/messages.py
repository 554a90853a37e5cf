"""Link messages: type codes, field layouts, alarm bits, reason codes; payload encode/decode.

`encode(msg_type, fields) -> payload bytes` and `decode(msg_type, payload) -> dict` (raises
MessageError on a wrong length, an unknown type or an out-of-range field). All integers are
little-endian (struct "<"); every layout is in docs/protocol.md. Runs on MicroPython and CPython.
"""

import struct

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# ---- message types (request 0x0N, reply 0x8N) ------------------------------------------------
SYNC_REQ = const(0x01)
SYNC = const(0x81)
STATUS_REQ = const(0x02)
STATUS = const(0x82)
BOLUS_REQ = const(0x03)
BOLUS_ACK = const(0x83)
RECORD_REQ = const(0x04)
RECORD = const(0x84)
HISTORY_REQ = const(0x05)
HISTORY = const(0x85)
ALARM = const(0x86)  # unsolicited, pump -> handheld, with the pump's own seq
NAK = const(0xFF)

# ---- alarm bits (priority per IEC 60601-1-8 vocabulary) -------------------------------------
ALARM_LOW_RESERVOIR = const(0x01)  # medium
ALARM_EMPTY_RESERVOIR = const(0x02)  # HIGH
ALARM_MOTOR_STALL = const(0x04)  # HIGH
ALARM_BATTERY_ERI = const(0x08)  # medium (elective replacement indicator)
HIGH_PRIORITY_MASK = const(ALARM_EMPTY_RESERVOIR | ALARM_MOTOR_STALL)
ALARM_NAMES = {
    ALARM_LOW_RESERVOIR: "low_reservoir",
    ALARM_EMPTY_RESERVOIR: "empty_reservoir",
    ALARM_MOTOR_STALL: "motor_stall",
    ALARM_BATTERY_ERI: "battery_eri",
}
# Highest priority first: the order in which alarms pre-empt each other on the handheld.
ALARM_ORDER = (ALARM_EMPTY_RESERVOIR, ALARM_MOTOR_STALL, ALARM_BATTERY_ERI, ALARM_LOW_RESERVOIR)

# ---- bolus status (RECORD.status, HISTORY entries) ------------------------------------------
BOLUS_DELIVERING = const(1)
BOLUS_COMPLETE = const(2)
BOLUS_STOPPED = const(3)  # ended part-way by a high alarm or a pump restart
BOLUS_REFUSED = const(4)
BOLUS_STATUS_NAMES = {
    BOLUS_DELIVERING: "delivering",
    BOLUS_COMPLETE: "complete",
    BOLUS_STOPPED: "stopped",
    BOLUS_REFUSED: "refused",
}

# ---- pump reason codes (BOLUS_ACK.reason) ---------------------------------------------------
R_OK = const(0)
R_LOCKOUT = const(1)
R_MAX_24H = const(2)
R_ALARM = const(3)
R_RESERVOIR = const(4)
R_AMOUNT_CAP = const(5)
R_NO_PRESCRIPTION = const(6)
R_DOSE_MISMATCH = const(7)
R_BUSY = const(8)
R_AUTH = const(9)
R_REPLAY = const(10)
R_STALE = const(11)
R_UNPAIRED = const(12)
R_BAD_ID = const(13)
PUMP_REASONS = {
    R_OK: "ok",
    R_LOCKOUT: "lockout",
    R_MAX_24H: "max_24h",
    R_ALARM: "alarm",
    R_RESERVOIR: "reservoir",
    R_AMOUNT_CAP: "amount_cap",
    R_NO_PRESCRIPTION: "no_prescription",
    R_DOSE_MISMATCH: "dose_mismatch",
    R_BUSY: "busy",
    R_AUTH: "auth",
    R_REPLAY: "replay",
    R_STALE: "stale",
    R_UNPAIRED: "unpaired",
    R_BAD_ID: "bad_id",
}

# Request ids run from 1 to REQUEST_ID_MAX on both sides (a MicroPython small int on every
# port, so no id ever needs the heap): the handheld never picks a larger one, and the pump
# refuses one (bad_id) without recording it.
REQUEST_ID_MAX = const(0x3FFFFFFF)
# The largest pump time either side uses; 0xFFFFFFFF means "unknown" in the handheld's log.
PUMP_TIME_MAX = const(0xFFFFFFFE)

# ---- NAK reasons ----------------------------------------------------------------------------
NAK_FRAME = const(1)  # bad CRC or COBS, short or overlong frame (seq 0: it was not readable)
NAK_UNKNOWN_TYPE = const(2)
NAK_MALFORMED = const(3)  # payload length or a field value is wrong for the type
NAK_VERSION = const(4)
NAK_REASONS = {NAK_FRAME: "frame", NAK_UNKNOWN_TYPE: "unknown_type", NAK_MALFORMED: "malformed", NAK_VERSION: "version"}

HISTORY_MAX = const(8)  # entries per HISTORY reply
_HISTORY_HEAD = "<BBB"  # total, offset, count
_HISTORY_ENTRY = "<IIIB"  # request_id, start_s, dose_ug, status
_HISTORY_ENTRY_SIZE = const(13)

MSG_NAMES = {
    SYNC_REQ: "sync_req",
    SYNC: "sync",
    STATUS_REQ: "status_req",
    STATUS: "status",
    BOLUS_REQ: "bolus_req",
    BOLUS_ACK: "bolus_ack",
    RECORD_REQ: "record_req",
    RECORD: "record",
    HISTORY_REQ: "history_req",
    HISTORY: "history",
    ALARM: "alarm",
    NAK: "nak",
}

# type -> (struct format, field names). HISTORY is variable-length, handled apart.
_LAYOUTS = {
    SYNC_REQ: ("<", ()),
    SYNC: ("<IIBIIB", ("pump_id", "pump_time", "alarms", "reservoir_ug", "last_request_id", "history_count")),
    STATUS_REQ: ("<", ()),
    STATUS: ("<IBIIII", ("pump_time", "alarms", "reservoir_ug", "bolus_id", "bolus_delivered_ug", "bolus_dose_ug")),
    BOLUS_REQ: ("<IIHII16s", ("request_id", "dose_ug", "duration_s", "captured_s", "counter", "tag")),
    BOLUS_ACK: ("<IBBII", ("request_id", "accepted", "reason", "start_s", "pump_time")),
    RECORD_REQ: ("<I", ("request_id",)),
    RECORD: ("<IBBIIII", ("request_id", "found", "status", "start_s", "dose_ug", "delivered_ug", "pump_time")),
    HISTORY_REQ: ("<B", ("offset",)),
    HISTORY: None,
    ALARM: ("<BBI", ("alarms", "raised", "pump_time")),
    NAK: ("<B", ("reason",)),
}

# The reply a request expects (stop-and-wait).
REPLY_TO = {SYNC_REQ: SYNC, STATUS_REQ: STATUS, BOLUS_REQ: BOLUS_ACK, RECORD_REQ: RECORD, HISTORY_REQ: HISTORY}
REQUESTS = (SYNC_REQ, STATUS_REQ, BOLUS_REQ, RECORD_REQ, HISTORY_REQ)


class MessageError(Exception):
    """A payload does not fit its message type; `.reason` is a short sentence."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def alarm_names(mask):
    """Names of the alarm bits set in `mask`, highest priority first."""
    return [ALARM_NAMES[bit] for bit in ALARM_ORDER if mask & bit]


def _layout(msg_type):
    if msg_type not in _LAYOUTS:
        raise MessageError("unknown message type 0x%02x" % msg_type)
    return _LAYOUTS[msg_type]


def _pack(fmt, values, what):
    """struct.pack that refuses what it would silently truncate (MicroPython does not check
    ranges): the packed bytes must unpack to exactly the values given."""
    data = b""
    try:
        data = struct.pack(fmt, *values)
        ok = struct.unpack(fmt, data) == tuple(values)
    except Exception:
        ok = False
    if not ok:
        raise MessageError("%s has a field out of range or of the wrong type" % what)
    return data


def encode(msg_type, fields=None):
    """Payload bytes for a message of `msg_type` from the dict `fields` (extra keys ignored)."""
    layout = _layout(msg_type)
    if fields is None:
        fields = {}
    name = MSG_NAMES[msg_type]
    if layout is None:
        return _encode_history(fields)
    values = []
    for key in layout[1]:
        if key not in fields:
            raise MessageError("%s needs field %s" % (name, key))
        values.append(fields[key])
    return _pack(layout[0], values, name)


def decode(msg_type, payload):
    """Dict of fields from a payload; MessageError if the type or the length is wrong."""
    layout = _layout(msg_type)
    if layout is None:
        return _decode_history(payload)
    fmt, names = layout
    size = struct.calcsize(fmt)
    if len(payload) != size:
        raise MessageError("%s payload is %d bytes, expected %d" % (MSG_NAMES[msg_type], len(payload), size))
    vals = struct.unpack(fmt, payload)
    out = {}
    for i in range(len(names)):
        out[names[i]] = vals[i]
    return out


def _encode_history(fields):
    for key in ("total", "offset", "boluses"):
        if key not in fields:
            raise MessageError("history needs field %s" % key)
    boluses = fields["boluses"]
    if len(boluses) > HISTORY_MAX:
        raise MessageError("history holds at most %d boluses" % HISTORY_MAX)
    out = bytearray(_pack(_HISTORY_HEAD, (fields["total"], fields["offset"], len(boluses)), "history"))
    for entry in boluses:
        if len(entry) != 4:
            raise MessageError("history entries are (request_id, start_s, dose_ug, status)")
        out.extend(_pack(_HISTORY_ENTRY, entry, "history entry"))
    return bytes(out)


def _decode_history(payload):
    n = len(payload)
    count = payload[2] if n >= 3 else 0
    if n < 3 or count > HISTORY_MAX or n != 3 + count * _HISTORY_ENTRY_SIZE:
        raise MessageError("history payload of %d bytes does not hold 3 + 13 * count bytes" % n)
    total, offset, count = struct.unpack_from(_HISTORY_HEAD, payload, 0)
    boluses = []
    for i in range(count):
        boluses.append(struct.unpack_from(_HISTORY_ENTRY, payload, 3 + i * _HISTORY_ENTRY_SIZE))
    return {"total": total, "offset": offset, "boluses": boluses}
