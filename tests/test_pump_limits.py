"""tools/pump_emulator/pump.py: the pump's own limits (defence in depth) and at-most-once."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware import messages as m
from firmware import prescription
from tools.pump_emulator.pump import DAY_S, Pump

T0 = 1000000  # pump time at virtual 0 ms


def make_rx(**kw):
    fields = dict(version=1, dose_ug=500, duration_s=60, lockout_s=600, max_per_24h=6, cap_ug=0, cap_window_s=0)
    fields.update(kw)
    return prescription.from_fields(fields)


def make_pump(rx=None, **kw):
    kw.setdefault("start_s", T0)
    return Pump(rx=make_rx() if rx is None else rx, **kw)


def bolus(pump, rid, captured=None, dose=None, duration=None):
    rx = pump.rx
    return pump.bolus_request(
        {
            "request_id": rid,
            "dose_ug": (rx.dose_ug if rx else 500) if dose is None else dose,
            "duration_s": (rx.duration_s if rx else 60) if duration is None else duration,
            "captured_s": pump.pump_time if captured is None else captured,
            "counter": 0,
            "tag": bytes(16),
        }
    )


def at(pump, s):
    """Advance the pump to pump time T0 + s seconds."""
    pump.advance_to(s * 1000)


def test_accepted_bolus_is_delivered_over_its_duration():
    p = make_pump()
    before = p.reservoir_ug
    ack = bolus(p, 1)
    assert ack == {"request_id": 1, "accepted": 1, "reason": 0, "start_s": T0, "pump_time": T0}
    at(p, 30)
    running = p.active_bolus()
    assert running is not None and running["delivered_ug"] == 250
    at(p, 60)
    assert p.active_bolus() is None
    e = p.boluses[1]
    assert (e["status"], e["delivered_ug"], e["start_s"]) == (m.BOLUS_COMPLETE, 500, T0)
    assert before - p.reservoir_ug == 500


def test_no_prescription():
    p = Pump(rx=None, start_s=T0)
    assert bolus(p, 1)["reason"] == m.R_NO_PRESCRIPTION
    assert p.active_bolus() is None


@pytest.mark.parametrize("dose,duration", [(499, 60), (501, 60), (500, 59), (500, 61), (5000, 60)])
def test_dose_or_duration_mismatch(dose, duration):
    p = make_pump()
    ack = bolus(p, 1, dose=dose, duration=duration)
    assert (ack["accepted"], ack["reason"]) == (0, m.R_DOSE_MISMATCH)


def test_lockout_counts_from_the_start_of_the_previous_bolus():
    p = make_pump(make_rx(lockout_s=600))
    assert bolus(p, 1)["accepted"]
    at(p, 61)
    assert bolus(p, 2)["reason"] == m.R_LOCKOUT
    at(p, 599)
    assert bolus(p, 3)["reason"] == m.R_LOCKOUT
    at(p, 600)
    ack = bolus(p, 4)
    assert ack["accepted"] and ack["start_s"] == T0 + 600


def test_busy_while_a_bolus_runs():
    p = make_pump(make_rx(lockout_s=60))
    bolus(p, 1)
    at(p, 59)
    assert bolus(p, 2)["reason"] == m.R_BUSY
    at(p, 60)
    assert bolus(p, 3)["accepted"]


def test_max_per_24h_is_a_rolling_window():
    p = make_pump(make_rx(lockout_s=60, max_per_24h=3))
    for i, s in enumerate((0, 100, 200)):
        at(p, s)
        assert bolus(p, i + 1)["accepted"]
    at(p, 300)
    assert bolus(p, 10)["reason"] == m.R_MAX_24H
    at(p, DAY_S - 1)
    assert bolus(p, 11)["reason"] == m.R_MAX_24H
    at(p, DAY_S)  # the first start (T0) leaves the window (now - 86400, now]
    assert bolus(p, 12)["accepted"]
    at(p, DAY_S + 60)
    assert bolus(p, 13)["reason"] == m.R_MAX_24H
    at(p, DAY_S + 100)
    assert bolus(p, 14)["accepted"]


def test_amount_cap_without_basal():
    p = make_pump(make_rx(lockout_s=60, cap_ug=1500, cap_window_s=3600))
    for i in range(3):
        at(p, i * 100)
        assert bolus(p, i + 1)["accepted"]
    at(p, 300)
    assert bolus(p, 4)["reason"] == m.R_AMOUNT_CAP
    # bolus 1 ran [0, 60]: it overlaps the window (now - 3600, now] until now = 3660
    at(p, 3659)
    assert bolus(p, 5)["reason"] == m.R_AMOUNT_CAP
    at(p, 3660)
    assert bolus(p, 6)["accepted"]


def test_amount_cap_counts_basal():
    # basal 600 µg/h over a 1 h window: 600 + 500 + 500 = 1600 <= 2000, a third would be 2100
    p = make_pump(make_rx(lockout_s=60, cap_ug=2000, cap_window_s=3600), basal_ug_per_h=600)
    assert bolus(p, 1)["accepted"]
    at(p, 100)
    assert bolus(p, 2)["accepted"]
    at(p, 200)
    assert bolus(p, 3)["reason"] == m.R_AMOUNT_CAP
    assert p.window_amount_ug(3600) == 600 + 1000


def test_basal_alone_over_the_cap_refuses_every_bolus():
    p = make_pump(make_rx(cap_ug=1000, cap_window_s=3600), basal_ug_per_h=800)
    assert bolus(p, 1)["reason"] == m.R_AMOUNT_CAP


@pytest.mark.parametrize(
    "offset,accepted",
    [(0, True), (-30, True), (-31, False), (30, True), (31, False), (-100000, False)],
)
def test_stale_capture_time(offset, accepted):
    p = make_pump()
    at(p, 200)
    ack = bolus(p, 1, captured=p.pump_time + offset)
    assert bool(ack["accepted"]) is accepted
    if not accepted:
        assert ack["reason"] == m.R_STALE


def test_captured_before_the_last_bolus_start_is_stale():
    # a capture 1 s before the last start, well inside the 30 s tolerance, is still stale
    p2 = make_pump(make_rx(lockout_s=60))
    at(p2, 20)
    captured = p2.pump_time
    at(p2, 21)
    assert bolus(p2, 1)["accepted"]  # starts at T0 + 21
    at(p2, 45)
    assert bolus(p2, 2, captured=captured)["reason"] == m.R_STALE
    at(p2, 50)
    assert bolus(p2, 3, captured=T0 + 50)["reason"] == m.R_BUSY  # not stale: captured after the start


def test_high_alarm_and_reservoir_refuse():
    p = make_pump()
    p.raise_alarm("motor_stall")
    assert bolus(p, 1)["reason"] == m.R_ALARM
    p.clear_alarm("motor_stall")
    p.raise_alarm("battery_eri")  # medium: no effect on delivery
    assert bolus(p, 2)["accepted"]
    q = make_pump(reservoir_ul=400, concentration_ug_per_ml=1000, low_reservoir_ul=0)  # 400 µg < one dose
    assert bolus(q, 1)["reason"] == m.R_RESERVOIR


def test_verify_hook_runs_first_and_its_refusals_do_not_use_up_the_id():
    seen = []

    def verify(fields):
        seen.append(fields["request_id"])
        return m.R_AUTH if fields["counter"] == 0 else 0

    p = make_pump(verify_bolus=verify)
    assert bolus(p, 1, dose=1)["reason"] == m.R_AUTH  # before dose_mismatch
    assert 1 not in p.boluses  # a forged frame does not block request id 1
    f = {"request_id": 1, "dose_ug": 500, "duration_s": 60, "captured_s": p.pump_time, "counter": 7, "tag": bytes(16)}
    first = p.bolus_request(f)
    assert first["accepted"]
    assert bolus(p, 1) == first  # a duplicate is answered from the record, before the hook
    assert seen == [1, 1]
    q = Pump(rx=None, start_s=T0, verify_bolus=verify)
    assert bolus(q, 5)["reason"] == m.R_AUTH  # even before no_prescription


def test_duplicate_request_id_is_applied_once_with_the_identical_ack():
    p = make_pump(make_rx(lockout_s=60))
    first = bolus(p, 7)
    at(p, 5)
    assert bolus(p, 7) == first  # same pump_time and start_s as the first time
    at(p, 500)  # lockout long over: still not applied again
    again = bolus(p, 7, dose=1, captured=p.pump_time)
    assert again == first
    assert p.starts() == [T0]
    # a refused id stays refused, even once it would be allowed
    r = bolus(p, 8, dose=1)
    assert r["reason"] == m.R_DOSE_MISMATCH
    assert bolus(p, 8) == r


# ---- a hostile handheld ---------------------------------------------------------------------
@pytest.mark.parametrize("delta_s", [3600, -3600, 86400])
def test_setting_the_pump_clock_opens_no_limit(delta_s):
    """The limits count on the pump's monotonic clock; only the reported time moves."""
    p = make_pump(rx=make_rx(lockout_s=600, max_per_24h=2))
    assert bolus(p, 1)["accepted"]
    at(p, 120)
    p.set_clock(delta_s)
    ack = bolus(p, 2)  # captured in the new clock: not stale, but two minutes after bolus 1
    assert (ack["accepted"], m.PUMP_REASONS[ack["reason"]]) == (0, "lockout")
    at(p, 700)
    assert bolus(p, 3)["accepted"]  # real time past the lockout, whatever the clock says
    at(p, 1400)
    ack = bolus(p, 4)
    assert (ack["accepted"], m.PUMP_REASONS[ack["reason"]]) == (0, "max_24h")


def test_starts_are_reported_in_the_clock_as_it_reads_now():
    p = make_pump()
    bolus(p, 1)
    at(p, 100)
    p.set_clock(3600)
    assert p.history() == [(1, T0 + 3600, 500, m.BOLUS_COMPLETE)]
    _, record = p.handle(m.RECORD_REQ, {"request_id": 1})
    assert (record["start_s"], record["pump_time"]) == (T0 + 3600, T0 + 100 + 3600)
    # a late duplicate: the same answer, its times (the start, and the time it was first
    # judged) restated in the clock as it reads now (docs/protocol.md, "At most once")
    dup = bolus(p, 1)
    assert (dup["accepted"], dup["start_s"], dup["pump_time"]) == (1, T0 + 3600, T0 + 3600)
    assert p.boluses[1]["start_s"] == T0  # the record keeps what the clock said at the start


def _window_amount(boluses, t, w):
    """µg of bolus delivered in (t - w, t], deliveries taken as linear over their duration and
    cut at what each actually delivered."""
    total = 0.0
    for start, dur, dose, delivered in boluses:
        lo, hi = max(start, t - w), min(start + dur, t)
        if hi > lo:
            total += min(dose * (hi - lo) / dur, delivered)
    return total


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, 4000),  # seconds to wait before the request
            st.integers(1, 30),  # request id (small range: many duplicates)
            st.sampled_from(["ok", "ok", "ok", "old", "dose", "alarm"]),
        ),
        min_size=5,
        max_size=60,
    ),
    st.sampled_from([0, 300]),
)
def test_hostile_requests_never_over_deliver(script, basal):
    rx = make_rx(dose_ug=500, duration_s=120, lockout_s=900, max_per_24h=5, cap_ug=2000, cap_window_s=3600)
    p = make_pump(rx, basal_ug_per_h=basal, reservoir_ul=20000)
    acks = {}
    t = 0
    for wait, rid, kind in script:
        t += wait
        at(p, t)
        if kind == "alarm":
            p.raise_alarm("motor_stall")
            at(p, t + 1)
            p.clear_alarm("motor_stall")
            continue
        captured = p.pump_time - 3 if kind != "old" else p.pump_time - 3000
        ack = bolus(p, rid, captured=captured, dose=(rx.dose_ug if kind != "dose" else 5000))
        if rid in acks:
            assert ack == acks[rid]
        acks[rid] = ack
    at(p, t + 200)
    started = sorted((e["start_s"], e["duration_s"], e["dose_ug"], e["delivered_ug"]) for e in p.boluses.values() if e["status"] in (m.BOLUS_DELIVERING, m.BOLUS_COMPLETE, m.BOLUS_STOPPED))
    starts = [s[0] for s in started]
    # each id at most once; every started dose is the prescribed one
    assert len({e["request_id"] for e in p.boluses.values()}) == len(p.boluses)
    assert all(s[2] == rx.dose_ug and s[3] <= s[2] for s in started)
    for a, b in zip(starts, starts[1:]):
        assert b - a >= rx.lockout_s
    for s in starts:
        assert len([x for x in starts if s - DAY_S < x <= s]) <= rx.max_per_24h
    points = set()
    for s, d, _, _ in started:
        points.update((s, s + d, s + rx.cap_window_s, s + d + rx.cap_window_s))
    basal_window = basal * rx.cap_window_s / 3600
    for pt in points:
        assert _window_amount(started, pt, rx.cap_window_s) + basal_window <= rx.cap_ug + 1e-6
    # the reservoir agrees with what was delivered (basal stops while a high alarm is active)
    delivered = sum(s[3] for s in started)
    drained = 20000 - p.reservoir_ug
    assert delivered <= drained <= delivered + basal * (t + 200) / 3600 + 2
