"""The pump's persistent record: at-most-once across restarts, restart mid-bolus, atomic writes."""

import json
import os

import pytest

from firmware import messages as m
from firmware import prescription
from tools.pump_emulator import pump as pump_mod
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

    monkeypatch.setattr(pump_mod.os, "replace", broken_replace)
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


def test_record_req_closes_an_unknown_id_for_good(record):
    p = Pump(rx=make_rx(), start_s=T0, record_path=record)
    kind, rec = p.handle(m.RECORD_REQ, {"request_id": 77})
    assert kind == m.RECORD and rec["found"] == 0
    ack = req(p, 77)  # the lost request turns up late
    assert (ack["accepted"], ack["reason"]) == (0, m.R_STALE)
    assert p.handle(m.RECORD_REQ, {"request_id": 77})[1]["found"] == 0
    assert p.starts() == []
    q = Pump(rx=make_rx(), start_s=T0, record_path=record)
    assert req(q, 77)["accepted"] == 0
    assert q.last_request_id() == 77


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
    assert q.pump_time == T0 + 50000
