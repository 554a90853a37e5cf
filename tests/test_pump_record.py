"""The pump's persistent record: at-most-once across restarts, restart mid-bolus, atomic writes."""

import json
import os

import pytest

from firmware import messages as m
from firmware import prescription
from tools.pump_emulator import record as record_mod
from tools.pump_emulator.pump import Pump, RecordError

T0 = 1000000


def make_rx(**kw):
    fields = dict(version=1, dose_ug=600, duration_s=60, lockout_s=600, max_per_24h=6, cap_ug=0, cap_window_s=0)
    fields.update(kw)
    return prescription.from_fields(fields)


def req(p, rid, captured=None):
    return p.bolus_request(
        {
            "request_id": rid,
            "dose_ug": p.rx.dose_ug,
            "duration_s": p.rx.duration_s,
            "captured_s": p.pump_time if captured is None else captured,
            "counter": 0,
            "tag": bytes(16),
        }
    )


@pytest.fixture
def record(tmp_path):
    return str(tmp_path / "pump.json")


def test_record_is_json_and_written_before_the_ack(record, monkeypatch):
    p = Pump(rx=make_rx(), start_s=T0, record_path=record)
    written = []
    real_save = p.save

    def spy():
        real_save()
        with open(record) as f:
            written.append(json.load(f))

    monkeypatch.setattr(p, "save", spy)
    ack = req(p, 11)
    assert ack["accepted"]
    first = written[0]["boluses"][0]
    assert first["request_id"] == 11 and first["status"] == m.BOLUS_DELIVERING
    assert first["ack"] == ack
    assert not os.path.exists(record + ".tmp")


def test_record_survives_restart_and_duplicate_gets_the_same_ack(record):
    p = Pump(rx=make_rx(), start_s=T0, record_path=record)
    ack = req(p, 5)
    p.advance_to(120000)
    p.shutdown()
    q = Pump(rx=make_rx(), start_s=T0, record_path=record)  # a new process
    assert q.pump_time >= T0 + 120  # the pump clock continued, it did not restart at start_s
    assert q.boluses[5]["status"] == m.BOLUS_COMPLETE
    assert req(q, 5) == ack
    assert q.starts() == [T0]
    assert q.last_request_id() == 5
    # the limits still see the earlier bolus
    assert req(q, 6)["reason"] == m.R_LOCKOUT


def test_restart_mid_bolus_ends_it_stopped_with_the_partial_amount(record):
    events = []
    p = Pump(rx=make_rx(), start_s=T0, record_path=record, on_event=events.append)
    reservoir = p.reservoir_ug
    req(p, 9)
    p.advance_to(20000)  # a third of 60 s
    p.restart()
    e = p.boluses[9]
    assert e["status"] == m.BOLUS_STOPPED
    assert e["delivered_ug"] == 200
    assert p.active_bolus() is None
    p.advance_to(90000)
    assert p.boluses[9]["delivered_ug"] == 200  # nothing more after the restart
    assert reservoir - p.reservoir_ug == 200
    assert [ev["why"] for ev in events if ev.get("phase") == "stopped"] == ["restart"]
    kind, rec = p.handle(m.RECORD_REQ, {"request_id": 9})
    assert (rec["found"], rec["status"], rec["delivered_ug"], rec["start_s"]) == (1, m.BOLUS_STOPPED, 200, T0)
    # a stopped bolus still counts for the lockout
    assert req(p, 10)["reason"] == m.R_LOCKOUT


def test_crash_mid_bolus_keeps_at_most_what_was_last_saved(record):
    p = Pump(rx=make_rx(), start_s=T0, record_path=record)
    req(p, 9)
    p.advance_to(35000)  # progress is saved every 10 %
    # the process dies here: no shutdown; a new one starts from the file
    q = Pump(rx=make_rx(), start_s=T0, record_path=record)
    e = q.boluses[9]
    assert e["status"] == m.BOLUS_STOPPED
    assert 300 <= e["delivered_ug"] <= 350


def test_restart_without_a_file_keeps_the_record_in_memory():
    p = Pump(rx=make_rx(), start_s=T0)
    ack = req(p, 1)
    p.advance_to(30000)
    p.restart()
    assert p.boluses[1]["status"] == m.BOLUS_STOPPED
    assert req(p, 1) == ack


def test_failed_write_applies_nothing_and_keeps_the_old_record(record, monkeypatch):
    p = Pump(rx=make_rx(), start_s=T0, record_path=record)
    req(p, 1)
    p.advance_to(700000)
    p.save()
    with open(record) as f:
        before = f.read()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(record_mod.os, "replace", broken_replace)
    with pytest.raises(OSError):
        req(p, 2)
    assert 2 not in p.boluses and p.active_bolus() is None
    with open(record) as f:
        assert f.read() == before


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format": 99}', '{"format": 1, "pump_ms": 5}'])
def test_damaged_record_is_an_error_and_is_not_overwritten(record, content):
    with open(record, "w") as f:
        f.write(content)
    with pytest.raises(RecordError) as e:
        Pump(rx=make_rx(), start_s=T0, record_path=record)
    assert record in e.value.reason
    with open(record) as f:
        assert f.read() == content


def test_record_req_is_read_only_and_a_late_request_is_refused_stale(record):
    p = Pump(rx=make_rx(), start_s=T0, record_path=record)
    captured = p.pump_time
    p.save()
    with open(record) as f:
        before = f.read()
    for rid in (77, 0xFFFFFFFF):  # the handheld's question, and a forged one
        kind, rec = p.handle(m.RECORD_REQ, {"request_id": rid})
        assert kind == m.RECORD and rec["found"] == 0
    with open(record) as f:
        assert f.read() == before  # nothing recorded
    assert p.handle(m.SYNC_REQ, {})[1]["last_request_id"] == 0
    # the handheld takes found=0 as final only once pump time is past captured + 30 s: a
    # BOLUS_REQ with id 77 that turns up after that is refused as stale, and recorded
    p.advance_to(31000)
    ack = req(p, 77, captured=captured)
    assert (ack["accepted"], ack["reason"]) == (0, m.R_STALE)
    assert p.handle(m.RECORD_REQ, {"request_id": 77})[1]["status"] == m.BOLUS_REFUSED
    assert p.starts() == []
    q = Pump(rx=make_rx(), start_s=T0 + 31, record_path=record)
    assert req(q, 77)["accepted"] == 0
    assert q.last_request_id() == 77


def test_a_flood_of_forged_record_reqs_changes_nothing(record):
    p = Pump(rx=make_rx(), start_s=T0, record_path=record)
    for rid in range(1, 5001):
        p.handle(m.RECORD_REQ, {"request_id": rid * 214013 & 0xFFFFFFFF})
    assert p.boluses == {} and p.last_request_id() == 0
    assert req(p, 1)["accepted"] == 1


@pytest.mark.parametrize("rid", [0, m.REQUEST_ID_MAX + 1, 0xFFFFFFFF])
def test_a_request_id_out_of_range_is_refused_and_not_recorded(record, rid):
    p = Pump(rx=make_rx(), start_s=T0, record_path=record)
    ack = req(p, rid)
    assert (ack["accepted"], ack["reason"]) == (0, m.R_BAD_ID)
    assert p.last_request_id() == 0 and p.starts() == []
    assert req(p, m.REQUEST_ID_MAX)["accepted"] == 1  # the largest id is still a good one


def test_history_sync_and_status(record):
    rx = make_rx(lockout_s=600, max_per_24h=20)
    p = Pump(rx=rx, start_s=T0, record_path=record)
    for i in range(10):
        p.advance_to(i * 600000)
        assert req(p, 100 + i)["accepted"]
    p.bolus_request({"request_id": 999, "dose_ug": 1, "duration_s": 60, "captured_s": p.pump_time, "counter": 0, "tag": bytes(16)})
    p.advance_to(9 * 600000 + 30000)
    kind, sync = p.handle(m.SYNC_REQ, {})
    assert (sync["history_count"], sync["last_request_id"]) == (10, 999)
    kind, page = p.handle(m.HISTORY_REQ, {"offset": 0})
    assert page["total"] == 10 and len(page["boluses"]) == 8
    assert page["boluses"][0] == (109, T0 + 5400, 600, m.BOLUS_DELIVERING)
    assert [b[0] for b in page["boluses"]] == list(range(109, 101, -1))
    kind, page2 = p.handle(m.HISTORY_REQ, {"offset": 8})
    assert [b[0] for b in page2["boluses"]] == [101, 100]
    kind, status = p.handle(m.STATUS_REQ, {})
    assert (status["bolus_id"], status["bolus_delivered_ug"], status["bolus_dose_ug"]) == (109, 300, 600)
    # entries older than 24 h + one lockout drop out of the history
    p.advance_to(86400 * 1000 + 600000 + 1000)
    assert [b[0] for b in p.history()] == list(range(109, 100, -1))
    for kind, fields in (p.handle(m.SYNC_REQ, {}), p.handle(m.STATUS_REQ, {}), (m.HISTORY, page)):
        assert m.decode(kind, m.encode(kind, fields)) == fields


def test_clock_never_runs_backwards_across_restarts(record):
    p = Pump(rx=make_rx(), start_s=T0 + 5000, record_path=record)
    p.advance_to(1000)
    p.shutdown()
    q = Pump(rx=make_rx(), start_s=T0, record_path=record)  # asked to start earlier: refused
    assert q.pump_time == T0 + 5001


def test_a_set_clock_and_the_real_time_since_each_bolus_survive_a_restart(record):
    p = Pump(rx=make_rx(lockout_s=600), start_s=T0, record_path=record)
    assert req(p, 1)["accepted"]
    p.advance_to(120000)
    p.set_clock(3600)
    p.shutdown()
    # a new process started with an earlier clock: it takes the record's (set) clock and
    # counts the lockout from the real time since bolus 1
    q = Pump(rx=make_rx(lockout_s=600), start_s=T0, record_path=record)
    assert q.pump_time == T0 + 120 + 3600
    assert q.history()[0][:2] == (1, T0 + 3600)
    ack = req(q, 2)
    assert (ack["accepted"], m.PUMP_REASONS[ack["reason"]]) == (0, "lockout")
    q.advance_to(480000)  # 600 s of real time since bolus 1
    assert req(q, 3)["accepted"]


def test_a_restart_started_later_counts_the_time_between_as_passed(record):
    p = Pump(rx=make_rx(lockout_s=600), start_s=T0, record_path=record)
    req(p, 1)
    p.shutdown()
    q = Pump(rx=make_rx(lockout_s=600), start_s=T0 + 700, record_path=record)  # 700 s later
    assert q.pump_time == T0 + 700
    assert req(q, 2)["accepted"]


def test_a_record_from_before_the_monotonic_clock_still_loads(record):
    p = Pump(rx=make_rx(lockout_s=600), start_s=T0, record_path=record)
    req(p, 1)
    p.shutdown()
    with open(record) as f:
        data = json.load(f)
    del data["mono_ms"]
    for e in data["boluses"]:
        del e["start_mono_s"]
    with open(record, "w") as f:
        json.dump(data, f)
    q = Pump(rx=make_rx(lockout_s=600), start_s=T0, record_path=record)
    assert q.history()[0][:2] == (1, T0)
    ack = req(q, 2)
    assert (ack["accepted"], m.PUMP_REASONS[ack["reason"]]) == (0, "lockout")
    assert q.clock_set_s() == 0


def test_how_far_the_clock_was_set_is_kept_in_the_record(record):
    p = Pump(rx=make_rx(), start_s=T0, record_path=record)
    p.set_clock(3600)
    p.set_clock(-600)
    p.shutdown()
    q = Pump(rx=make_rx(), start_s=T0 + 50000, record_path=record)  # restarted later
    assert q.clock_set_s() == 3000
    assert q.pump_time == T0 + 3000 + 50000  # the set is kept; the 50000 s off count as passed


@pytest.mark.parametrize(
    "limit,fields",
    [
        ("lockout", dict(lockout_s=7200, max_per_24h=6)),
        ("max_24h", dict(lockout_s=600, max_per_24h=1)),
        ("amount_cap", dict(lockout_s=600, max_per_24h=6, cap_ug=600, cap_window_s=14400)),
    ],
)
def test_a_clock_set_back_then_a_restart_on_the_host_clock_keeps_every_limit(record, limit, fields):
    """Issue 11, defect 1: the clock set back an hour, then the emulator restarted with its
    source clock (the host's) reading the true time. The hour of the set-back is not time
    that passed: the lockout, the rolling 24 h and the amount cap all still count real time."""
    rx = make_rx(**fields)
    p = Pump(rx=rx, start_s=T0, record_path=record)
    assert req(p, 1)["accepted"]
    p.advance_to(600000)  # 10 min of real time
    p.set_clock(-3600)
    p.shutdown()
    q = Pump(rx=rx, start_s=T0 + 605, record_path=record)  # restarted 5 s later (host time)
    assert q.pump_time == T0 + 605 - 3600
    assert q.history()[0][:2] == (1, T0 - 3600)  # the start, in the set-back clock
    ack = req(q, 2)
    assert (ack["accepted"], m.PUMP_REASONS[ack["reason"]]) == (0, limit)


@pytest.mark.parametrize("seed", range(40))
def test_no_sequence_of_clock_sets_and_restarts_opens_a_limit_early(tmp_path, seed):
    """The pump's limits hold in real time across any mix of clock sets, restarts (a new
    Pump from the record file, its source clock, the host's, reading the true time) and
    requests; real time is this test's own count of milliseconds. (The emulator measures the
    time it was off on the host's clock: a host clock that is wrong is outside this claim.)"""
    rng = __import__("random").Random(seed)
    path = str(tmp_path / "pump.json")
    rx = make_rx(lockout_s=600, max_per_24h=3, duration_s=60)
    real_ms = 0
    p = Pump(rx=rx, start_s=T0, record_path=path)
    starts = []  # real ms of every accepted bolus
    for rid in range(1, 80):
        real_ms += rng.choice((1000, 30000, 120000, 300000, 900000))
        p.advance_to(real_ms)
        what = rng.random()
        if what < 0.25:
            p.set_clock(rng.choice((-7200, -3600, -600, 600, 3600, 86400)))
        elif what < 0.45:
            p.shutdown()
            p = Pump(rx=rx, start_s=T0 + real_ms // 1000, now_ms=real_ms, record_path=path)
        if req(p, rid)["accepted"]:
            starts.append(real_ms)
    assert len(starts) >= 3
    for a, b in zip(starts, starts[1:]):
        assert b - a >= 600000, "two boluses %d ms apart in real time" % (b - a)
    for i, s in enumerate(starts):
        assert len([t for t in starts[: i + 1] if t > s - 86400000]) <= 3
