"""Regression tests for the defects of the second independent review (issue 11, defects 1, 2,
4, 6 and 7), each through the whole handheld + pump where it can be, and through the real
pump emulator process for the over-delivery path. Each failed before its fix."""

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from firmware import eventlog as ev
from firmware import frame
from firmware import link as lk
from firmware import messages as m
from firmware import policy
from hal import fakes
from tests.mp import REPO
from tests.system import System
from tools.pump_emulator.pump import Pump

DAY_MS = 86400 * 1000


def denied(s):
    return [policy.REASON_NAMES.get(r.a) for r in s.log_records(ev.DENIED)]


def judged_press(s):
    """A deliberate press that the handheld judges: it must add a PRESS record."""
    before = len(s.log_records(ev.PRESS))
    s.press()
    assert len(s.log_records(ev.PRESS)) == before + 1, "the press was not judged as a press"


# ---- defect 1: clock set back, then the emulator restarted as a new process ----------------------


class _Emulator:
    """`python -m tools.pump_emulator` as its own process, with an operator console."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.pump_emulator", "--pty", "--console", *args],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        assert ready, "the emulator printed nothing"
        self.path = self.proc.stdout.readline().decode().split()[-1]
        os.set_blocking(self.proc.stdout.fileno(), False)

    def say(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        got, end = b"", time.time() + 10
        while not got.endswith(b"\n") and time.time() < end:
            select.select([self.proc.stdout], [], [], 0.2)
            try:
                got += os.read(self.proc.stdout.fileno(), 4096)
            except BlockingIOError:
                pass
        return got.decode().strip()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            assert self.proc.wait(10) == 0, self.proc.stderr.read().decode()
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def _ask(port, seq, msg_type, fields):
    port.write(frame.encode(msg_type, seq, m.encode(msg_type, fields)))
    d, end = frame.Deframer(), time.time() + 10
    while time.time() < end:
        for fr in d.feed(port.read(256) or b""):
            if fr.error is None and fr.seq == seq and fr.msg_type == m.REPLY_TO[msg_type]:
                return m.decode(fr.msg_type, fr.payload)
    raise AssertionError("no reply to 0x%02x" % msg_type)


def _bolus(port, seq, rid, captured):
    fields = {"request_id": rid, "dose_ug": 500, "duration_s": 5, "captured_s": captured, "counter": 0, "tag": bytes(16)}
    return _ask(port, seq, m.BOLUS_REQ, fields)


def test_clock_set_back_then_a_new_emulator_process_keeps_the_lockout(tmp_path):
    """The review's over-delivery path, through the real CLI: a bolus, `clock -3600` on the
    console, the emulator process stopped and started again on the host's clock (the
    default --start-s). The second bolus must be refused for the lockout."""
    serial = pytest.importorskip("serial")
    record = str(tmp_path / "pump.json")
    args = ("--record", record, "--dose-ug", "500", "--duration-s", "5", "--lockout-s", "1800", "--max-per-24h", "6")
    emu = _Emulator(*args)
    try:
        port = serial.Serial(emu.path, 115200, timeout=0.05)
        now = _ask(port, 1, m.SYNC_REQ, {})["pump_time"]
        assert _bolus(port, 2, 1, now)["accepted"] == 1
        assert emu.say("clock -3600").startswith("ok: clock set -3600 s")
        port.close()
    finally:
        emu.stop()
    emu = _Emulator(*args)  # a new process, same record, --start-s = the host's clock
    try:
        port = serial.Serial(emu.path, 115200, timeout=0.05)
        sync = _ask(port, 1, m.SYNC_REQ, {})
        assert abs(sync["pump_time"] - (now - 3600)) <= 5  # the set-back is kept
        ack = _bolus(port, 2, 2, sync["pump_time"])
        assert (ack["accepted"], m.PUMP_REASONS[ack["reason"]]) == (0, "lockout")
        history = _ask(port, 3, m.HISTORY_REQ, {"offset": 0})["boluses"]
        assert history[0][0] == 1 and abs(history[0][1] - (now - 3600)) <= 5
        port.close()
    finally:
        emu.stop()
    saved = json.loads(open(record).read())
    assert saved["clock_set_ms"] == -3600000 and "source_ms" in saved


def test_clock_set_back_pump_process_restart_and_handheld_reboot_keep_the_lockout(tmp_path):
    """The same path through the whole system: bolus given, the pump's clock set back an
    hour, the handheld rebooted, the pump emulator restarted as a new process (a Pump read
    from the same record file, its source clock the true time). The handheld must refuse a
    press for the lockout itself, and the pump must deliver nothing more."""
    record = str(tmp_path / "pump.json")
    start_s = 1000000
    s = System(rx_fields=dict(lockout_s=3600), pump_kwargs=dict(record_path=record, start_s=start_s))
    s.sync()
    judged_press(s)
    s.run(2000)
    assert len(s.delivered()) == 1
    s.idle(600000)
    s.pump.set_clock(-3600)
    s.run(12000)  # the handheld sees the jump at its next status poll, logs it, shifts its starts
    assert [r.b for r in s.log_records(ev.FAULT) if r.a == ev.FAULT_PUMP_CLOCK] == [3600]
    s.reboot()
    s.pump.shutdown()
    restarted = Pump(rx=s.rx, start_s=start_s + s.clock.elapsed_ms // 1000, now_ms=s.clock.elapsed_ms, record_path=record)
    s.port.restart(restarted)
    s.pump = restarted
    s.sync(5000)
    assert s.link.synced
    judged_press(s)
    s.run(2000)
    assert denied(s)[-1] == "lockout"
    assert s.log_records(ev.PUMP_REFUSED) == []  # the handheld refused; the pump was not asked
    assert len(s.delivered()) == 1


# ---- defect 2: a forged RECORD_REQ must not change pump state ------------------------------------


def test_a_forged_record_req_for_the_largest_id_does_not_stop_therapy():
    s = System()
    s.sync()
    forged = frame.encode(m.RECORD_REQ, 200, m.encode(m.RECORD_REQ, {"request_id": 0xFFFFFFFF}))
    s.port.feed(forged, s.clock.elapsed_ms)
    assert s.pump.last_request_id() == 0
    s.reboot()  # the handheld syncs again, and reads SYNC's last id
    s.sync(5000)
    judged_press(s)
    s.run(3000)
    assert [r.a for r in s.log_records(ev.GRANTED)] == [1]
    assert len(s.delivered()) == 1


def test_a_pump_whose_last_id_is_the_largest_gets_a_named_refusal_not_a_crash():
    """Only a forged id that a pump recorded can use every id up (an unpaired pump takes
    id REQUEST_ID_MAX from anyone): the handheld refuses with a named reason and keeps going."""
    s = System()
    s.sync()
    s.pump.bolus_request(
        {"request_id": m.REQUEST_ID_MAX, "dose_ug": 100, "duration_s": 60, "captured_s": s.pump.pump_time, "counter": 0, "tag": bytes(16)}
    )
    s.reboot()
    s.sync(5000)
    s.idle(3600000)
    judged_press(s)
    s.run(1000)
    assert denied(s)[-1] == policy.IDS_USED_UP
    assert s.log_records(ev.GRANTED) == []
    assert s.display.lines[:2] == ["Not given: call", "clinic (ids)"]
    s.run(10000)  # the loop goes on


# ---- defect 4: a link outage longer than the tick period --------------------------------------


def test_a_link_outage_of_thirteen_days_makes_no_false_clock_jump():
    s = System()
    s.sync()
    judged_press(s)
    s.run(2000)
    s.pair.down = True
    s.idle(13 * DAY_MS, step_ms=60000)  # past 2**30 ms of ticks: they wrapped
    s.pair.down = False
    s.sync(20000)
    assert [r for r in s.log_records(ev.FAULT) if r.a == ev.FAULT_PUMP_CLOCK] == []
    judged_press(s)
    s.run(3000)
    assert [r.a for r in s.log_records(ev.GRANTED)] == [1, 2]
    assert len(s.delivered()) == 2


# ---- defect 6: pump time at the u32 limit ------------------------------------------------------


def test_pump_time_at_the_u32_limit_is_unknown_time_not_a_crash():
    s = System(pump_kwargs=dict(start_s=m.PUMP_TIME_MAX - 20))
    s.sync()
    s.run(30000)  # past the largest pump time the link carries
    judged_press(s)
    s.run(2000)
    assert denied(s)[-1] == policy.NOT_SYNCED
    assert s.log_records(ev.PRESS)[-1].t_s == ev.NO_TIME
    assert s.pump.pump_time == m.PUMP_TIME_MAX  # the pump's clock stops there, never wraps


def test_the_pump_clock_cannot_be_set_past_the_u32_limit():
    p = Pump(start_s=m.PUMP_TIME_MAX - 100)
    with pytest.raises(ValueError):
        p.set_clock(200)
    with pytest.raises(ValueError):
        Pump(start_s=100).set_clock(-200)
    assert p.pump_time == m.PUMP_TIME_MAX - 100


# ---- defect 7: the documented back-off -----------------------------------------------------------


def test_after_a_failed_exchange_nothing_is_sent_for_one_second_even_a_queued_bolus():
    clock = fakes.FakeClock(0)
    pair = fakes.FakeSerialPair(clock, 1)
    link = lk.LinkClient(clock, pair.a)
    heard = frame.Deframer()
    syncs = 0
    while syncs < 4:  # SYNC_REQ sent 4 times (3 resends), nobody answers
        clock.advance(10)
        link.poll(clock.ticks_ms())
        syncs += len([f for f in heard.feed(pair.b.read(4096) or b"") if f.msg_type == m.SYNC_REQ])
    clock.advance(250)
    link.poll(clock.ticks_ms())  # the last resend timed out: the exchange failed
    failed_at = clock.elapsed_ms
    link.request_bolus(5, 100, 60, 1000000)
    sent = []
    while clock.elapsed_ms < failed_at + 990:
        link.send_queued(clock.ticks_ms())
        link.poll(clock.ticks_ms())
        sent.append(pair.b.read(4096))
        clock.advance(10)
    assert not any(sent), "a frame left during the 1 s back-off"
    clock.advance(20)
    link.poll(clock.ticks_ms())
    assert frame.Deframer().feed(pair.b.read(4096))[0].msg_type == m.BOLUS_REQ


def test_an_exchange_pending_across_more_than_half_a_tick_period_times_out_and_the_link_recovers():
    """Found by a review of the ledger work: with a RECORD_REQ pending, a gap between polls of
    over half the 2**30 tick period made every tick difference negative. The reply never timed
    out, the link never resent nor sent anything again, and the uncertain dose kept every
    press denied for good (0 bytes in 10 minutes). Such a tick is now long ago, not "not yet"."""
    s = System()
    s.sync()
    s.port.silent = True
    judged_press(s)
    s.run(5000)  # no answer after the resends: uncertain, a RECORD_REQ pending
    assert s.app.ledger.uncertain == {1}
    s.clock.advance(int(6.5 * 86400 * 1000))  # 6.5 days without a poll: past half the period
    s.port.silent = False
    s.run(600000)
    assert s.app.ledger.uncertain == set() and not s.app.ledger.open
    assert s.link.up and s.link.fresh(s.clock.ticks_ms())


def test_polls_more_than_half_a_tick_period_apart_make_pump_time_unknown():
    """The handheld cannot tell how long such a gap was: it must not guess, but deny until the
    pump states its time again."""
    s = System()
    s.sync()
    assert s.app.now_s() is not None
    s.clock.advance((1 << 29) + 5000)  # one gap past half the 2**30 period: ticks_diff < 0
    s.pair.down = True
    s.step()
    assert s.app.now_s() is None
    judged_press(s)
    assert denied(s)[-1] == policy.NOT_SYNCED
    s.pair.down = False
    s.sync(5000)
    assert s.app.now_s() is not None and s.link.synced
