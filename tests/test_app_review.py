"""Regression tests for the defects an independent safety review found in the app and link
(each test failed before its fix)."""

from firmware import eventlog as ev
from firmware import messages as m
from firmware.sounder import Sounder
from hal import fakes
from firmware import prescription
from tests.system import RX, FrameFilter, System
from tools.pump_emulator.port import PumpPort
from tools.pump_emulator.pump import Pump


def ready(**kw):
    s = System(**kw)
    s.sync()
    return s


def test_replaced_pump_with_a_jumped_clock_cannot_open_the_lockout():
    s = ready()
    s.press()
    s.run(60_000)
    # another pump (new id, empty record, clock 10 h ahead) answers on the same link
    p2 = Pump(rx=s.rx, pump_id=0x1234, start_s=s.pump.pump_time + 36000, now_ms=s.clock.elapsed_ms)
    s.pump, s.port = p2, PumpPort(p2, seed=2)
    s.run(6000)
    s.press()
    assert p2.boluses == {}  # the lockout still rests on the real time since the first bolus
    faults = [r.a for r in s.log_records(ev.FAULT)]
    assert ev.FAULT_PUMP_CLOCK in faults and ev.FAULT_PUMP_CHANGED in faults
    s.run(600_000)
    s.press()
    assert len(p2.boluses) == 1  # and ends when it should


def test_pump_clock_set_back_keeps_the_lockout():
    s = ready()
    s.press()
    s.run(30_000)
    s.pump.set_clock(-3600)  # someone sets the pump's clock an hour back
    s.run(6000)
    s.press()
    assert len(s.delivered()) == 1
    assert s.log_records(ev.FAULT)[-1].c == 1  # logged as a backwards jump


def test_uncertain_is_settled_even_after_six_days_without_one():
    """The last settle request went out 6.5 days before the next request is lost: over half a
    tick period, which ticks_diff cannot measure on a board (it comes out negative). The new
    uncertain request is asked about at once all the same."""
    s = ready()
    s.port.silent = True
    s.press()
    s.run(1500)
    s.port.silent = False
    s.run(5000)
    s.run(700_000)
    s.idle(int(6.5 * 86400 * 1000))  # a status exchange every 5 s, as the idle firmware does
    assert s.link.up and s.app.now_s() is not None
    s.port.silent = True
    s.press()
    s.run(1500)
    s.port.silent = False
    s.run(10_000)
    assert s.app.ledger.uncertain == set()
    assert [r.a for r in s.log_records(ev.SETTLED)] == [1, 2]


def test_an_ack_for_another_request_id_is_not_taken_as_the_answer():
    s = ready()

    def confused(msg_type, seq, fields):
        if msg_type == m.BOLUS_ACK:
            fields["request_id"] += 1000
        return fields

    s.pump_end = FrameFilter(s.pair.b, confused)  # the pump names another request in its acks
    s.press()
    s.run(5000)
    assert s.log_records(ev.DELIVERED) == []  # never believed
    assert [r.a for r in s.log_records(ev.UNCERTAIN)] == [1]  # so the request is uncertain...
    s.pump_end = s.pair.b
    s.run(5000)
    assert [(r.a, r.b) for r in s.log_records(ev.SETTLED)] == [(1, 1)]  # ...and settled from the record


def test_pump_time_beyond_two_to_the_31_is_logged():
    s = System(pump_kwargs={"start_s": 2**31 + 100})
    s.sync()
    s.press()
    assert s.display.lines[0] == "Dose given"
    assert s.log_records(ev.DELIVERED)[0].t_s > 2**31


def test_memory_stays_bounded_over_weeks():
    s = ready(rx_fields=dict(lockout_s=3600, duration_s=60, max_per_24h=24))
    for _ in range(24 * 4):  # four days of hourly doses
        s.press()
        s.idle(3_600_000)
    assert len(s.pump.boluses) == 96
    # what the handheld holds is bounded by two days of doses, not by its uptime
    ledger = s.app.ledger
    assert len(ledger.pump) <= 50 and len(ledger.delivered) <= 50 and len(ledger.open) <= 2


def test_open_request_and_ids_survive_log_rotation():
    s = ready()
    s.pair.down = True  # the line is cut just after a status exchange: the link still looks fresh
    s.press()
    assert [r.a for r in s.log_records(ev.GRANTED)] == [1]  # granted and sent into the cut
    s.run(2000)
    assert list(s.app.ledger.uncertain) == [1]
    for _ in range(170):  # enough denied presses to rotate the log past the GRANTED record
        s.press()
    assert 1 not in [r.a for r in s.log_records(ev.GRANTED)]
    s.reboot()
    assert 1 in s.app.ledger.uncertain and s.app.ledger.next_id == 2
    s.pair.down = False
    s.run(8000)
    s.press()
    assert 2 in s.delivered() and 2 in [r.a for r in s.log_records(ev.GRANTED)]


def test_bolus_stopped_part_way_is_not_reported_as_given():
    s = ready()
    s.port.silent = True
    s.press()
    s.run(1500)
    s.run(3000)
    s.port.restart()  # the pump restarts 5 s into the 60 s bolus
    s.port.silent = False
    s.run(6000)
    shown = [lines for lines in s.display.history if lines and lines[0] == "Last dose was"][-1]
    assert shown[1] == "stopped part-way" and shown[2].endswith("of 100 ug")


def test_refusal_by_the_pump_for_lockout_says_when():
    """The pump holds a longer lockout than the handheld knows of (its prescription was changed
    at the clinic, the handheld's not yet): the handheld grants, the pump refuses for lockout,
    and the handheld shows the refusal as "too soon"."""
    strict = dict(RX, lockout_s=3600)
    s = ready(pump_kwargs={"rx": prescription.from_fields(strict)})
    s.press()
    s.run(60_000)
    s.idle(600_000)  # the handheld's lockout is over, the pump's is not
    s.run(3000)
    s.press()
    assert [r.a for r in s.log_records(ev.GRANTED)] == [1, 2]
    assert [(r.a, r.b) for r in s.log_records(ev.PUMP_REFUSED)] == [(2, m.R_LOCKOUT)]
    assert s.display.lines[:2] == ["Not given:", "too soon"]
    assert list(s.delivered()) == [1]


def test_medium_alarm_sounds_when_newly_raised_and_not_again_days_later():
    c = fakes.FakeClock(0)
    snd = Sounder(c)

    def tones(ms):
        n = 0
        for _ in range(ms // 10):
            c.advance(10)
            n += 1 if snd.update(c.ticks_ms(), False, True) else 0
        return n

    snd.medium_raised(c.ticks_ms())
    assert tones(3000) > 0
    tones(8000)
    assert tones(20000) == 0  # sounded its 10 s, now shown only
    snd.medium_raised(c.ticks_ms())  # a second medium alarm is raised
    assert tones(3000) > 0
    tones(20000)
    for _ in range(int(6.3 * 86400)):
        c.advance(1000)
        snd.update(c.ticks_ms(), False, True)
    assert tones(5000) == 0


def test_clock_jump_seen_before_a_reboot_still_holds_the_lockout_after_it():
    s = ready()
    s.press()
    s.run(30_000)
    s.pump.set_clock(3600)  # the pump's clock is set an hour forward
    s.run(6000)  # the handheld sees the jump and logs it
    assert s.log_records(ev.FAULT)[-1].a == ev.FAULT_PUMP_CLOCK
    s.reboot()
    s.run(5000)
    s.press()  # a minute after the first bolus, in real time
    assert len(s.delivered()) == 1
