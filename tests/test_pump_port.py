"""tools/pump_emulator/port.py: bytes in and out, NAKs, ALARM frames, injected faults, and the
handheld's LinkClient against the emulator (lost replies become uncertain, then settled)."""

import struct
import zlib

from firmware import frame
from firmware import messages as m
from firmware import prescription
from firmware.link import LinkClient
from hal.fakes import FakeClock, FakeSerialPair
from tools.pump_emulator.port import PumpPort
from tools.pump_emulator.pump import Pump

T0 = 1000000


def make(**port_kw):
    rx = prescription.from_fields(
        dict(version=1, dose_ug=500, duration_s=60, lockout_s=600, max_per_24h=6, cap_ug=0, cap_window_s=0)
    )
    events = []
    pump = Pump(rx=rx, start_s=T0)
    port = PumpPort(pump, on_event=events.append, **port_kw)
    return pump, port, events


def frames(data):
    return frame.Deframer().feed(data)


def replies(data):
    out = []
    for fr in frames(data):
        assert fr.error is None
        out.append((fr.msg_type, fr.seq, m.decode(fr.msg_type, fr.payload)))
    return out


def wire(msg_type, seq, fields):
    return frame.encode(msg_type, seq, m.encode(msg_type, fields))


def bolus_wire(seq, rid, captured=T0):
    return wire(
        m.BOLUS_REQ,
        seq,
        {"request_id": rid, "dose_ug": 500, "duration_s": 60, "captured_s": captured, "counter": 0, "tag": bytes(16)},
    )


def test_requests_get_replies_echoing_seq():
    pump, port, events = make()
    out = port.feed(wire(m.SYNC_REQ, 200, {}) + wire(m.STATUS_REQ, 201, {}), 0)
    (t1, s1, sync), (t2, s2, status) = replies(out)
    assert (t1, s1, t2, s2) == (m.SYNC, 200, m.STATUS, 201)
    assert sync["pump_time"] == T0 and sync["pump_id"] == pump.pump_id
    kinds = [e["event"] for e in events]
    assert kinds == ["frame_in", "frame_out", "frame_in", "frame_out"]
    first = wire(m.SYNC, 200, sync)
    assert out.startswith(first)
    assert (events[1]["type"], events[1]["seq"], events[1]["hex"]) == ("sync", 200, first.hex())
    assert events[0]["hex"] == wire(m.SYNC_REQ, 200, {}).hex()


def test_bytes_split_anywhere():
    pump, port, _ = make()
    data = bolus_wire(9, 1)
    out = b""
    for i in range(len(data)):
        out += port.feed(data[i : i + 1], i)
    ((t, seq, ack),) = replies(out)
    assert (t, seq, ack["accepted"]) == (m.BOLUS_ACK, 9, 1)


def test_naks():
    pump, port, _ = make()
    bad_crc = bytearray(frame.cobs_decode(wire(m.SYNC_REQ, 5, {})[:-1]))
    bad_crc[-1] ^= 0xFF
    v2 = b"\x02\x01\x06"
    v2 += struct.pack("<I", zlib.crc32(v2))
    stream = (
        frame.cobs_encode(bytes(bad_crc)) + b"\x00"  # crc -> NAK 1, seq 0
        + frame.encode(0x42, 6, b"")  # unknown type -> NAK 2
        + frame.encode(m.SYNC, 7, bytes(18))  # a reply type sent to the pump -> NAK 2
        + frame.encode(m.RECORD_REQ, 8, b"\x01\x02")  # wrong length -> NAK 3
        + frame.cobs_encode(v2) + b"\x00"  # version 2 -> NAK 4 with its seq
        + b"\x00\x00"  # empty frames: nothing
    )  # fmt: skip
    got = replies(port.feed(stream, 0))
    assert [(t, s, f["reason"]) for t, s, f in got] == [
        (m.NAK, 0, m.NAK_FRAME),
        (m.NAK, 6, m.NAK_UNKNOWN_TYPE),
        (m.NAK, 7, m.NAK_UNKNOWN_TYPE),
        (m.NAK, 8, m.NAK_MALFORMED),
        (m.NAK, 6, m.NAK_VERSION),
    ]
    assert port.stats["naks"] == 5


def test_alarm_frames_on_change_with_their_own_seq():
    pump, port, _ = make()
    assert port.poll(0) == b""
    pump.raise_alarm("battery_eri")
    pump.raise_alarm("motor_stall")  # both before the next poll: one frame with both
    ((t, seq, f),) = replies(port.poll(10))
    assert (t, seq, f["alarms"], f["raised"]) == (m.ALARM, 1, 0x0C, 0x0C)
    assert port.poll(20) == b""
    pump.clear_alarm("motor_stall")
    ((t, seq, f),) = replies(port.poll(30))
    assert (seq, f["alarms"], f["raised"]) == (2, 0x08, 0)


def test_alarm_raised_before_a_request_is_reported_first():
    pump, port, _ = make()
    pump.raise_alarm("motor_stall")
    got = replies(port.feed(wire(m.STATUS_REQ, 3, {}), 0))
    assert [t for t, _, _ in got] == [m.ALARM, m.STATUS]


def test_silent_pump_acts_but_never_answers():
    pump, port, events = make(silent=True)
    assert port.feed(bolus_wire(1, 42), 0) == b""
    assert pump.boluses[42]["status"] == m.BOLUS_DELIVERING
    pump.raise_alarm("motor_stall")
    assert port.poll(10) == b""
    assert any(e.get("fault") == "silent" for e in events)


def test_drop_everything():
    pump, port, _ = make(drop=1.0)
    assert port.feed(bolus_wire(1, 42), 0) == b""
    assert pump.boluses == {}


def test_duplicated_request_is_applied_once_and_answered_identically():
    pump, port, _ = make(duplicate=1.0)
    out = port.feed(bolus_wire(3, 42), 0)
    got = frames(out)
    assert len(got) == 4  # two replies, each sent twice
    assert len({(f.seq, f.payload) for f in got}) == 1
    assert pump.starts() == [T0]


def test_corrupted_replies_fail_their_crc():
    pump, port, _ = make(corrupt=1.0, seed=5)
    out = port.feed(wire(m.SYNC_REQ, 1, {}), 0)
    # the incoming frame was "corrupted" too: the pump NAKs (and that NAK is corrupted)
    assert all(f.error is not None or f.msg_type != m.SYNC for f in frames(out))
    assert port.stats["corrupted"] == 2


def test_delayed_replies():
    pump, port, _ = make(delay_ms=300)
    assert port.feed(wire(m.STATUS_REQ, 1, {}), 1000) == b""
    assert port.next_due_ms() == 1300
    assert port.poll(1299) == b""
    ((t, seq, _),) = replies(port.poll(1300))
    assert (t, seq) == (m.STATUS, 1)


def test_faults_repeat_with_the_same_seed():
    def run(seed):
        pump, port, _ = make(drop=0.3, corrupt=0.2, duplicate=0.2, seed=seed)
        out = b""
        for i in range(40):
            out += port.feed(wire(m.STATUS_REQ, i, {}), i * 100)
        return out

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_restart_through_the_port():
    pump, port, events = make()
    port.feed(bolus_wire(1, 42), 0)
    port.feed(b"\x05\x01\x02", 30000)  # half a frame in the deframer
    port.restart()
    assert pump.boluses[42]["status"] == m.BOLUS_STOPPED
    assert pump.boluses[42]["delivered_ug"] == 250
    got = replies(port.feed(wire(m.RECORD_REQ, 2, {"request_id": 42}), 31000))
    (t, seq, rec) = got[-1]
    assert (rec["found"], rec["status"], rec["delivered_ug"]) == (1, m.BOLUS_STOPPED, 250)
    assert "restart" in [e["event"] for e in events]


# ---- against the handheld's link client ---------------------------------------------------
class Bench:
    """LinkClient <-> FakeSerialPair <-> PumpPort, 10 ms steps, clock just below the wrap."""

    def __init__(self):
        self.clock = FakeClock(start=(1 << 30) - 3000)
        self.pair = FakeSerialPair(self.clock, seed=3)
        self.pump, self.port, self.pump_events = make()
        self.link = LinkClient(self.clock, self.pair.a)
        self.events = []

    def run(self, ms):
        for _ in range(ms // 10):
            self.clock.advance(10)
            self.port.service(self.pair.b, self.clock.elapsed_ms)
            self.events += self.link.poll(self.clock.ticks_ms())

    def kinds(self, kind):
        return [e for e in self.events if e[0] == kind]


def test_link_client_syncs_with_the_emulator():
    b = Bench()
    b.run(1000)
    assert b.kinds("synced")
    assert b.link.now_s(b.clock.ticks_ms()) == T0  # a second has not passed on the pump since SYNC


def test_lost_replies_become_uncertain_then_settle_as_delivered():
    b = Bench()
    b.run(1000)
    b.port.silent = True
    b.link.request_bolus(7, 500, 60, b.link.now_s(b.clock.ticks_ms()))
    b.run(1500)
    assert b.kinds("uncertain") == [("uncertain", 7)]
    assert b.pump.starts() == [b.pump.boluses[7]["start_s"]]  # four copies, one bolus
    frames_in = [e for e in b.pump_events if e["event"] == "frame_in" and e["type"] == "bolus_req"]
    assert len(frames_in) == 4
    b.port.silent = False
    b.run(4000)
    ((_, rid, delivered, start_s, _amount, _partial, _dose),) = b.kinds("settled")
    assert (rid, delivered, start_s) == (7, True, b.pump.boluses[7]["start_s"])


def test_request_lost_on_the_way_settles_as_not_delivered_and_stays_closed():
    b = Bench()
    b.run(1000)
    b.port.drop = 1.0
    captured = b.link.now_s(b.clock.ticks_ms())
    b.link.request_bolus(8, 500, 60, captured)
    b.run(1500)
    assert b.kinds("uncertain") == [("uncertain", 8)]
    assert b.pump.boluses == {}
    b.port.drop = 0.0
    b.run(4000)
    # RECORD says found=0, but the frame could still arrive and be applied: not final yet
    assert b.kinds("settled") == [] and 8 in b.link.ledger.uncertain
    assert b.pump.boluses == {}  # asking changed nothing on the pump
    b.run(30000)
    assert [e[1:3] for e in b.kinds("settled")] == [(8, False)]
    assert b.pump.pump_time > captured + 30
    # the lost frame turns up after all, the very bytes sent: the pump refuses it as stale
    got = replies(b.port.feed(bolus_wire(99, 8, captured=captured), b.clock.elapsed_ms))
    assert (got[-1][2]["accepted"], got[-1][2]["reason"]) == (0, m.R_STALE)
    assert b.pump.starts() == []
