"""The pump's reservoir, basal drain and alarms: priorities, a high alarm stops a bolus."""

from firmware import messages as m
from firmware import prescription
from tools.pump_emulator.pump import Pump

T0 = 1000000


def make_pump(**kw):
    rx = prescription.from_fields(
        dict(version=1, dose_ug=1000, duration_s=100, lockout_s=600, max_per_24h=6, cap_ug=0, cap_window_s=0)
    )
    kw.setdefault("start_s", T0)
    return Pump(rx=rx, **kw)


def req(p, rid):
    return p.bolus_request(
        {"request_id": rid, "dose_ug": 1000, "duration_s": 100, "captured_s": p.pump_time, "counter": 0, "tag": bytes(16)}
    )


def test_reservoir_units_and_basal_drain():
    # 10 mL of 2000 µg/mL = 20000 µg; 3600 µg/h drains 1 µg/s
    p = make_pump(reservoir_ul=10000, concentration_ug_per_ml=2000, basal_ug_per_h=3600)
    assert p.reservoir_ug == 20000
    p.advance_to(1000 * 1000)
    assert p.reservoir_ug == 19000
    for _ in range(1000):  # drains the same in small steps (no rounding loss per step)
        p.advance(7)
    assert p.reservoir_ug == 19000 - 7


def test_low_then_empty_reservoir_from_basal():
    events = []
    # 3 mL of 1000 µg/mL = 3000 µg, low below 2 mL, basal 3600 µg/h = 1 µg/s
    p = make_pump(reservoir_ul=3000, basal_ug_per_h=3600, low_reservoir_ul=2000, on_event=events.append)
    assert p.alarms == 0
    p.advance_to(999 * 1000)
    assert p.alarms == 0
    p.advance_to(1001 * 1000)
    assert p.alarms == m.ALARM_LOW_RESERVOIR
    p.advance_to(4000 * 1000)
    assert p.reservoir_ug == 0
    assert p.alarms == m.ALARM_LOW_RESERVOIR | m.ALARM_EMPTY_RESERVOIR
    alarm_events = [e for e in events if e["event"] == "alarm"]
    assert [e["raised_names"] for e in alarm_events] == [["low_reservoir"], ["empty_reservoir"]]
    assert alarm_events[1]["pump_time"] == T0 + 3000  # raised at the instant it ran dry
    assert req(p, 1)["reason"] == m.R_ALARM
    p.refill(20000)
    assert p.alarms == 0 and p.reservoir_ug == 20000
    assert req(p, 2)["accepted"]


def test_empty_reservoir_stops_a_bolus_with_what_was_left():
    events = []
    p = make_pump(reservoir_ul=1500, low_reservoir_ul=0, on_event=events.append)  # 1500 µg
    p.advance_to(1000)
    p.raise_alarm("battery_eri")  # medium: no effect
    assert req(p, 1)["accepted"]
    p.advance_to(1000 + 50000)
    running = p.active_bolus()
    assert running is not None and running["delivered_ug"] == 500
    p.refill(300)  # the level is set to 300 µg mid-bolus (a contrived way to run dry)
    p.advance_to(1000 + 200000)
    e = p.boluses[1]
    assert e["status"] == m.BOLUS_STOPPED
    assert e["delivered_ug"] == 500 + 300
    assert p.reservoir_ug == 0
    assert p.alarms & m.ALARM_EMPTY_RESERVOIR
    stopped = [ev for ev in events if ev.get("phase") == "stopped"]
    assert stopped and stopped[0]["why"] == "alarm" and stopped[0]["pump_time"] == T0 + 1 + 50 + 30


def test_motor_stall_stops_the_bolus_and_the_basal():
    p = make_pump(basal_ug_per_h=3600)
    start = p.reservoir_ug
    assert req(p, 1)["accepted"]
    p.advance_to(30000)
    p.raise_alarm("motor_stall")
    e = p.boluses[1]
    assert (e["status"], e["delivered_ug"]) == (m.BOLUS_STOPPED, 300)
    level = p.reservoir_ug
    assert start - level == 300 + 30
    p.advance_to(130000)
    assert p.reservoir_ug == level  # no basal while the motor is stalled
    _, status = p.handle(m.STATUS_REQ, {})
    assert (status["alarms"], status["bolus_id"]) == (m.ALARM_MOTOR_STALL, 0)
    p.clear_alarm("motor_stall")
    p.advance_to(230000)
    assert level - p.reservoir_ug == 100  # basal again
    # the stopped bolus counts for the lockout
    assert req(p, 2)["reason"] == m.R_LOCKOUT


def test_medium_alarms_do_not_stop_delivery():
    p = make_pump(reservoir_ul=2500, low_reservoir_ul=2000)
    assert req(p, 1)["accepted"]
    p.raise_alarm("battery_eri")
    p.advance_to(50000)
    assert p.alarms == m.ALARM_BATTERY_ERI
    p.advance_to(100000)
    assert p.boluses[1]["status"] == m.BOLUS_COMPLETE
    assert p.alarms == m.ALARM_BATTERY_ERI | m.ALARM_LOW_RESERVOIR
    assert m.alarm_names(p.alarms) == ["battery_eri", "low_reservoir"]


def test_alarm_state_survives_restart(tmp_path):
    path = str(tmp_path / "r.json")
    p = make_pump(record_path=path)
    p.raise_alarm("motor_stall")
    p.shutdown()
    q = make_pump(record_path=path)
    assert q.alarms == m.ALARM_MOTOR_STALL
