"""firmware/eventlog: the record format (golden bytes, CRC check value), power cuts at every
byte of an append, corrupt records in the middle, torn tails, the two-segment ring, and
decode_all on garbage."""

import binascii
import struct

import pytest

from firmware import eventlog as ev
from hal.fakes import MemStorage, PowerLoss, Rng
from hal.storage import FileStorage

R = ev.RECORD_SIZE


def entries(log):
    return [r.tuple() for r in log.records()]


def fill(log, n, kind=ev.PRESS):
    """Append n records and return their tuples as committed."""
    out = []
    for i in range(n):
        t, a, b, c = 1000 + i, i, 2 * i, 0xFFFFFFFF - i
        seq = log.append(kind, t, a, b, c)
        out.append((seq, kind, t, a, b, c))
    return out


def test_crc_is_crc32_iso_hdlc():
    assert binascii.crc32(b"123456789") == 0xCBF43926


def test_record_bytes_are_the_contract_layout():
    st = MemStorage()
    log = ev.EventLog(st)
    log.open()
    assert log.append(ev.BOOT, -1, 1, 0, 0) == 1
    assert log.append(ev.DENIED, 0x12345678, 1, 0xFFFFFFFF, 0) == 2
    data = st.read("events.0")
    assert data is not None and len(data) == 2 * R == 52
    assert data[:22].hex() == "e5" "01" "01000000" "ffffffff" "01000000" "00000000" "00000000"
    assert data[:26].hex() == "e50101000000ffffffff010000000000000000000000f6f6c09c"
    body = struct.pack("<BBIIIII", 0xE5, 4, 2, 0x12345678, 1, 0xFFFFFFFF, 0)
    assert data[26:] == body + struct.pack("<I", binascii.crc32(body))


def test_kinds_and_faults_are_the_contract_codes():
    kinds = [
        ev.BOOT,
        ev.PRESS,
        ev.GRANTED,
        ev.DENIED,
        ev.DELIVERED,
        ev.UNCERTAIN,
        ev.SETTLED,
        ev.ALARM,
        ev.FAULT,
        ev.RX_CHANGE,
        ev.PUMP_REFUSED,
        ev.SYNCED,
    ]
    assert kinds == list(range(1, 13))
    assert [ev.KIND_NAMES[k] for k in kinds] == [
        "boot",
        "press",
        "granted",
        "denied",
        "delivered",
        "uncertain",
        "settled",
        "alarm",
        "fault",
        "rx_change",
        "pump_refused",
        "synced",
    ]
    faults = [ev.FAULT_TORN_LOG, ev.FAULT_BUTTON_STUCK, ev.FAULT_WATCHDOG, ev.FAULT_STORAGE, ev.FAULT_LINK]
    assert faults == [1, 2, 3, 4, 5]
    assert [ev.FAULT_NAMES[f] for f in faults] == [
        "torn_log_tail",
        "button_stuck",
        "watchdog_reset",
        "storage_error",
        "link_error",
    ]
    assert (ev.RECORD_SIZE, ev.MAGIC, ev.NO_TIME) == (26, 0xE5, -1)


def test_empty_log():
    log = ev.EventLog(MemStorage())
    assert log.open() == {"records": 0, "torn_bytes": 0, "bad_bytes": 0}
    assert entries(log) == []


def test_append_and_reopen_continue_the_sequence():
    st = MemStorage()
    log = ev.EventLog(st)
    log.open()
    first = fill(log, 5)
    assert [e[0] for e in first] == [1, 2, 3, 4, 5]
    assert entries(log) == first
    log2 = ev.EventLog(st)
    assert log2.open() == {"records": 5, "torn_bytes": 0, "bad_bytes": 0}
    assert log2.append(ev.BOOT, -1, 2) == 6
    assert entries(log2) == first + [(6, ev.BOOT, -1, 2, 0, 0)]


def test_records_and_append_open_the_log_if_needed():
    st = MemStorage()
    committed = fill(ev.EventLog(st), 3)
    assert entries(ev.EventLog(st)) == committed
    log = ev.EventLog(st)
    assert log.append(ev.PRESS, 7) == 4


def cut_scenario(n, before=3, after=3, segment_bytes=4096):
    """Commit `before` records, schedule a power cut after n bytes, try `after` more appends."""
    st = MemStorage()
    log = ev.EventLog(st, segment_bytes=segment_bytes)
    log.open()
    committed = fill(log, before)
    st.cut_after(n)
    cut = False
    for i in range(after):
        try:
            seq = log.append(ev.GRANTED, 2000 + i, 100 + i, 250, 300)
        except PowerLoss:
            cut = True
            break
        committed.append((seq, ev.GRANTED, 2000 + i, 100 + i, 250, 300))
    st.cut_after(-1)  # power is back: no cut pending
    return st, committed, cut


@pytest.mark.parametrize("n", range(0, 3 * R + 1))
def test_power_cut_at_every_byte_of_an_append_loses_nothing_committed(n):
    st, committed, cut = cut_scenario(n)
    assert cut == (n < 3 * R)
    log = ev.EventLog(st)
    opened = log.open()
    assert entries(log) == committed  # every committed record, the torn one gone
    assert opened["records"] == len(committed)
    assert opened["torn_bytes"] == (n % R if cut else 0)
    assert opened["bad_bytes"] == 0
    assert st.size("events.0") % R == 0  # truncated: the next append is aligned
    seq = log.append(ev.BOOT, -1, 2, opened["torn_bytes"])
    assert seq == committed[-1][0] + 1
    assert entries(ev.EventLog(st))[-1] == (seq, ev.BOOT, -1, 2, opened["torn_bytes"], 0)


@pytest.mark.parametrize("n", range(0, 4 * R + 1))
def test_power_cut_around_a_rotation_keeps_the_newest(n):
    """Segments of 3 records: the 4th append rotates. Cut at every byte of four appends."""
    st, committed, cut = cut_scenario(n, before=2, after=4, segment_bytes=3 * R)
    log = ev.EventLog(st, segment_bytes=3 * R)
    log.open()
    got = entries(log)
    assert got == committed[-len(got) :]  # a contiguous run ending with the newest committed
    assert len(got) >= min(len(committed), 3)
    follow = log.append(ev.BOOT, -1, 2)
    assert entries(log)[-1][0] == follow == committed[-1][0] + 1


def test_append_after_a_failed_append_on_the_same_object_stays_aligned():
    st = MemStorage()
    log = ev.EventLog(st)
    committed = fill(log, 2)
    st.cut_after(11)
    with pytest.raises(PowerLoss):
        log.append(ev.PRESS, 5)
    # power came back without a reboot (e.g. a flash error): the next append rescans first
    seq = log.append(ev.PRESS, 6)
    assert seq == 3
    assert entries(log) == committed + [(3, ev.PRESS, 6, 0, 0, 0)]
    assert st.size("events.0") == 3 * R
    assert log.torn_bytes == 11


def corrupt(st, name, offset):
    data = bytearray(st.read(name))
    data[offset] ^= 0x40
    st.files[name] = data


@pytest.mark.parametrize("offset", [0, 1, 5, 13, 21, 22, 25])
def test_corrupt_middle_record_is_skipped_and_the_rest_kept(offset):
    st = MemStorage()
    committed = fill(ev.EventLog(st), 5)
    corrupt(st, "events.0", 2 * R + offset)
    log = ev.EventLog(st)
    assert log.open() == {"records": 4, "torn_bytes": 0, "bad_bytes": R}
    assert entries(log) == committed[:2] + committed[3:]
    assert st.size("events.0") == 5 * R  # only a tail is ever cut
    assert log.append(ev.PRESS, 9) == 6
    assert entries(log)[-1][0] == 6


def test_corrupt_last_record_is_a_torn_tail():
    st = MemStorage()
    committed = fill(ev.EventLog(st), 4)
    corrupt(st, "events.0", 3 * R + 7)
    log = ev.EventLog(st)
    assert log.open() == {"records": 3, "torn_bytes": R, "bad_bytes": 0}
    assert entries(log) == committed[:3]
    assert log.append(ev.PRESS, 9) == 4  # seq 4 is reused: it never committed readably


def test_garbage_tail_of_any_length_is_cut():
    for extra in (1, 25, 26, 27, 100):
        st = MemStorage()
        committed = fill(ev.EventLog(st), 3)
        st.files["events.0"].extend(bytes([0xE5]) * extra)
        log = ev.EventLog(st)
        assert log.open() == {"records": 3, "torn_bytes": extra, "bad_bytes": 0}
        assert entries(log) == committed
        assert st.size("events.0") == 3 * R


def test_rotation_keeps_the_newest_records():
    st = MemStorage()
    log = ev.EventLog(st, segment_bytes=4 * R)
    log.open()
    assert log.capacity == 4
    committed = []
    for i in range(50):
        committed += fill(log, 1)
        got = entries(log)
        assert got == committed[-len(got) :]
        assert len(got) >= min(len(committed), 4)
        assert len(got) <= 8
        assert log.count == len(got)
        assert max(st.size("events.0"), st.size("events.1")) <= 4 * R
        again = ev.EventLog(st, segment_bytes=4 * R)
        assert again.open()["records"] == len(got)
        assert entries(again) == got


def test_segment_size_need_not_be_a_multiple_of_the_record():
    st = MemStorage()
    log = ev.EventLog(st, segment_bytes=100)  # 3 records a segment
    committed = fill(log, 7)
    assert entries(log) == committed[-4:]
    assert st.size("events.0") <= 100 and st.size("events.1") <= 100


def test_newer_segment_is_found_whichever_file_it_is():
    st = MemStorage()
    log = ev.EventLog(st, segment_bytes=2 * R)
    committed = fill(log, 5)  # .0: 1 2 -> .1: 3 4 -> .0: 5
    assert [r.seq for r in ev.decode_all(st.read("events.0"))[0]] == [5]
    log2 = ev.EventLog(st, segment_bytes=2 * R)
    log2.open()
    assert entries(log2) == committed[2:]
    assert log2.append(ev.PRESS, 1) == 6
    assert [r.seq for r in ev.decode_all(st.read("events.0"))[0]] == [5, 6]


def test_values_outside_the_record_are_refused():
    log = ev.EventLog(MemStorage())
    bad = [
        (0, 0, 0, 0, 0),
        (256, 0, 0, 0, 0),
        (ev.PRESS, 0xFFFFFFFF, 0, 0, 0),  # reserved for "unknown": pass NO_TIME
        (ev.PRESS, 2**32, 0, 0, 0),
        (ev.PRESS, -2, 0, 0, 0),
        (ev.PRESS, 0, -1, 0, 0),
        (ev.PRESS, 0, 0, 2**32, 0),
        (ev.PRESS, 0, 0, 0, -5),
    ]
    for args in bad:
        with pytest.raises(ValueError):
            log.append(*args)
    assert entries(log) == []
    log.append(ev.PRESS, ev.NO_TIME, 0xFFFFFFFF, 0, 0)
    log.append(ev.PRESS, 0xFFFFFFFE, 0, 0, 0)  # every u32 pump time the link can carry
    log.append(ev.PRESS, 2**31 + 100, 0, 0, 0)
    assert [e[2] for e in entries(log)] == [ev.NO_TIME, 0xFFFFFFFE, 2**31 + 100]


def test_segment_must_hold_a_record():
    with pytest.raises(ValueError):
        ev.EventLog(MemStorage(), segment_bytes=25)


def test_decode_all_reads_a_segment():
    st = MemStorage()
    committed = fill(ev.EventLog(st), 4)
    data = st.read("events.0")
    assert data is not None
    records, bad = ev.decode_all(data)
    assert [r.tuple() for r in records] == committed and bad == 0
    records, bad = ev.decode_all(bytearray(data[:-3]))
    assert [r.tuple() for r in records] == committed[:3] and bad == R - 3
    records, bad = ev.decode_all(memoryview(data))
    assert len(records) == 4
    assert "press" in repr(records[0])
    assert records[0] == ev.Record(*committed[0]) and records[0] != records[1]


def test_decode_all_never_raises_on_garbage():
    rng = Rng(99)
    for n in range(300):
        data = bytes(rng.below(256) for _ in range(rng.below(200)))
        if n % 3 == 0 and len(data) >= 1:
            data = b"\xe5" + data[1:]
        records, bad = ev.decode_all(data)
        assert bad == len(data) - R * len(records)
    for junk in (None, b"", "text", 12, [1, 2], object()):
        records, bad = ev.decode_all(junk)
        assert isinstance(records, list) and bad >= 0


def test_opening_garbage_files_never_raises():
    rng = Rng(5)
    for _ in range(50):
        st = MemStorage()
        for name in ("events.0", "events.1"):
            st.files[name] = bytearray(rng.below(256) for _ in range(rng.below(300)))
        log = ev.EventLog(st)
        opened = log.open()
        assert opened["records"] == 0
        assert st.size("events.0") == 0 and st.size("events.1") == 0
        assert log.append(ev.BOOT, -1, 1) == 1


def test_works_on_a_file_system(tmp_path):
    st = FileStorage(str(tmp_path / "flash"))
    log = ev.EventLog(st, segment_bytes=5 * R)
    committed = fill(log, 12)
    st.append("events.0", b"\xe5\x03\x0d")  # a torn write as a file system leaves it
    log = ev.EventLog(st, segment_bytes=5 * R)
    opened = log.open()
    assert opened["torn_bytes"] == 3
    assert entries(log) == committed[-opened["records"] :]
    assert opened["records"] >= 5
    assert log.append(ev.PRESS, 1) == 13
