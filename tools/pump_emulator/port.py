"""The pump's end of the serial link: bytes in, bytes out, with optional injected faults.

`PumpPort(pump)`; `feed(data, now_ms) -> bytes to send` (or `receive` + `poll` separately, or
`service(serial, now_ms)` with a hal Serial). Replies echo the request's seq; malformed or
unknown frames get a NAK; alarm changes go out as unsolicited ALARM frames with their own seq.
"""

import traceback

from firmware import frame
from firmware import messages as m
from hal.linkfaults import CORRUPT, DELAY, DUPLICATE, LOSS, LinkFaults

_READ_CHUNK = 256
_FAULT_NAMES = {LOSS: "drop", CORRUPT: "corrupt", DUPLICATE: "duplicate"}  # + "_in" / "_out" in events
_FAULT_STATS = {LOSS: "dropped", CORRUPT: "corrupted", DUPLICATE: "duplicated"}


def jsonable(fields):
    """A copy of decoded message fields that json.dumps accepts (bytes -> hex, tuples -> lists)."""
    out = {}
    for k in fields:
        v = fields[k]
        if isinstance(v, (bytes, bytearray)):
            v = bytes(v).hex()
        elif isinstance(v, (list, tuple)):
            v = [list(x) if isinstance(x, (list, tuple)) else x for x in v]
        out[k] = v
    return out


def _fault_setting(name):
    """A port attribute that is the link-fault model's `name`."""
    return property(lambda self: getattr(self.faults, name), lambda self, value: setattr(self.faults, name, value))


class PumpPort:
    """Speaks the link protocol for `pump`. Faults (all off by default, seeded; the model of
    `hal.linkfaults`, its `loss` named `drop` here), each frame in both directions:
    `drop` P: a frame is lost (incoming: ignored as if never received; outgoing: not sent);
    `corrupt` P: one bit of an outgoing frame flipped, or an incoming frame treated as bad CRC;
    `duplicate` P: an outgoing frame sent twice, an incoming one processed twice;
    `delay_ms`: outgoing frames held back this long; `silent`: requests are processed (and
    boluses delivered) but nothing is ever sent back: the lost-reply case."""

    drop = _fault_setting("loss")
    corrupt = _fault_setting("corrupt")
    duplicate = _fault_setting("duplicate")
    delay_ms = _fault_setting("delay_ms")

    def __init__(self, pump, seed=1, on_event=None, drop=0.0, corrupt=0.0, duplicate=0.0, delay_ms=0, silent=False):
        self.pump = pump
        # its `held`: (due_ms, wire bytes) of every frame out, in order
        self.faults = LinkFaults(seed, on_fault=self._on_fault)
        self._out_fault = None
        self.on_event = on_event if on_event is not None else pump.on_event
        self.drop = drop
        self.corrupt = corrupt
        self.duplicate = duplicate
        self.delay_ms = delay_ms
        self.silent = silent
        self.deframer = frame.Deframer()
        self._alarm_seq = 0
        self._alarms_sent = 0
        self.stats = {
            "frames_in": 0,
            "frames_out": 0,
            "bad_frames": 0,
            "naks": 0,
            "dropped": 0,
            "corrupted": 0,
            "duplicated": 0,
            "delayed": 0,
            "errors": 0,
        }
        pump.on_event = self._pump_event

    # ---- the driving API --------------------------------------------------------------------
    def feed(self, data, now_ms=None):
        """Advance the pump to now_ms (if given), take received bytes, return bytes to send."""
        if now_ms is not None:
            self.pump.advance_to(now_ms)
        self._alarm_frame()  # an alarm raised before these bytes arrived is reported first
        if data:
            self.receive(data)
        return self.poll()

    def receive(self, data):
        """Process received bytes at the pump's current time; replies are queued."""
        faults = self.faults
        for fr in self.deframer.feed(data):
            if faults.lost("in") is not None:
                continue
            if fr.error is None and faults.corrupts("in"):  # decoded already: bad CRC, no bit to flip
                fr = frame.Frame(error=frame.ERR_CRC)
            copies = 2 if faults.duplicates("in") else 1
            for _ in range(copies):
                self._on_frame(fr)

    def poll(self, now_ms=None):
        """Advance the pump to now_ms (if given); return the bytes due now (replies, delayed
        frames, ALARM frames for alarm changes)."""
        pump = self.pump
        if now_ms is not None:
            pump.advance_to(now_ms)
        self._alarm_frame()
        out = bytearray()
        for wire in self.faults.due(pump.now_ms):
            out.extend(wire)
        return bytes(out)

    def next_due_ms(self):
        """Virtual time of the next held-back frame, or None (for a caller's select timeout)."""
        return self.faults.next_due()

    def service(self, serial, now_ms):
        """One step against a hal Serial end (e.g. FakeSerialPair().b): read, answer, write."""
        data = bytearray()
        chunk = serial.read(_READ_CHUNK)
        while chunk:
            data.extend(chunk)
            chunk = serial.read(_READ_CHUNK)
        out = self.feed(bytes(data), now_ms)
        if out:
            serial.write(out)
        return out

    def restart(self, pump=None):
        """Power-cycle the pump: record reloaded, bolus in progress stopped, link state lost.
        With `pump`, a new emulator process took over: a Pump built from the same record
        (its clocks resumed as `Pump` documents), which now serves this line."""
        if pump is None:
            self.pump.restart()
        else:
            if pump.on_event is None:
                pump.on_event = self._pump_event
            self.pump = pump
        self.deframer.reset()
        self.faults.held = []
        self._alarms_sent = 0

    # ---- internals ---------------------------------------------------------------------------
    def _alarm_frame(self):
        pump = self.pump
        alarms = pump.alarms
        if alarms != self._alarms_sent:
            raised = alarms & ~self._alarms_sent
            self._alarms_sent = alarms
            self._alarm_seq = (self._alarm_seq + 1) & 0xFF
            self._send(m.ALARM, self._alarm_seq, {"alarms": alarms, "raised": raised, "pump_time": pump.pump_time})

    def _on_frame(self, fr):
        if fr.error is not None:
            self.stats["bad_frames"] += 1
            self._emit({"event": "bad_frame", "error": fr.error})
            if fr.error == frame.ERR_VERSION:
                self._nak(fr.seq, m.NAK_VERSION)
            else:
                self._nak(0, m.NAK_FRAME)
            return
        self.stats["frames_in"] += 1
        name = m.MSG_NAMES.get(fr.msg_type, "0x%02x" % fr.msg_type)
        wire = frame.encode(fr.msg_type, fr.seq, fr.payload)
        ev = {"event": "frame_in", "type": name, "seq": fr.seq, "hex": wire.hex()}
        if fr.msg_type not in m.REQUESTS:
            self._emit(ev)
            self._nak(fr.seq, m.NAK_UNKNOWN_TYPE)
            return
        try:
            fields = m.decode(fr.msg_type, fr.payload)
        except m.MessageError as e:
            ev["error"] = e.reason
            self._emit(ev)
            self._nak(fr.seq, m.NAK_MALFORMED)
            return
        ev["fields"] = jsonable(fields)
        self._emit(ev)
        try:
            reply_type, reply = self.pump.handle(fr.msg_type, fields)
        except Exception as e:  # the pump could not act (e.g. record not writable): no reply
            self.stats["errors"] += 1
            self._emit({"event": "error", "error": repr(e), "trace": traceback.format_exc()})
            return
        self._send(reply_type, fr.seq, reply)

    def _nak(self, seq, reason):
        self.stats["naks"] += 1
        self._send(m.NAK, seq, {"reason": reason})

    def _send(self, msg_type, seq, fields):
        wire = frame.encode(msg_type, seq, m.encode(msg_type, fields))
        ev = {"event": "frame_out", "type": m.MSG_NAMES.get(msg_type), "seq": seq, "hex": wire.hex()}
        ev["fields"] = jsonable(fields)
        if self.silent:
            ev["fault"] = "silent"
            self._emit(ev)
            return
        self._out_fault = None
        wire, copies = self.faults.frame(wire, "out")
        if self._out_fault is not None:
            ev["fault"] = self._out_fault  # the last one: corrupt_out, then duplicate_out
        if copies == 0:
            self._emit(ev)
            return
        if self.delay_ms:
            self.stats["delayed"] += 1  # once a frame, however many copies
        self.stats["frames_out"] += copies
        self._emit(ev)
        for _ in range(copies):
            self.faults.hold(self.pump.now_ms, wire)

    def _on_fault(self, kind, where):
        if kind == DELAY:  # counted in _send
            return
        self.stats[_FAULT_STATS[kind]] += 1
        name = "%s_%s" % (_FAULT_NAMES[kind], where)
        if where == "in":
            self._emit({"event": "fault", "fault": name})
        else:
            self._out_fault = name

    def _pump_event(self, event):
        self._emit(event, stamped=True)

    def _emit(self, event, stamped=False):
        if self.on_event is None:
            return
        if not stamped:
            event["t_ms"] = self.pump.now_ms
            event["pump_time"] = self.pump.pump_time
        self.on_event(event)
