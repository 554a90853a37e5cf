"""firmware/policy: the order of checks, the lockout and rolling 24 h boundaries to the second,
next_s (the earliest time both limits allow), fail-safe handling of future starts."""

import pytest

from firmware import policy as pol
from firmware.prescription import from_fields

DAY = 86400
T0 = 1_000_000  # an arbitrary pump time


def rx(lockout_s=3600, max_per_24h=4, dose_ug=100, duration_s=60):
    return from_fields(
        {
            "version": 1,
            "dose_ug": dose_ug,
            "duration_s": duration_s,
            "lockout_s": lockout_s,
            "max_per_24h": max_per_24h,
            "cap_ug": 0,
            "cap_window_s": 0,
        }
    )


def ok_view(**changes):
    v = pol.PumpView(synced=True, link_up=True, reservoir_ug=10000)
    for k in changes:
        setattr(v, k, changes[k])
    return v


def denied(d, reason, next_s=None):
    return (d.granted, d.reason, d.next_s) == (False, reason, next_s)


def test_reason_codes_are_the_contract_codes():
    assert pol.REASON_CODES == {
        "lockout": 1,
        "max_24h": 2,
        "alarm": 3,
        "uncertain": 4,
        "not_synced": 5,
        "no_prescription": 6,
        "no_link": 7,
        "reservoir": 8,
        "stale": 9,
        "busy": 10,
        "amount_cap": 11,
        "pump_refused": 12,
        "ids_used_up": 13,
    }
    for name in pol.REASON_CODES:
        assert pol.REASON_NAMES[pol.REASON_CODES[name]] == name
    assert (pol.LOCKOUT, pol.MAX_24H, pol.ALARM, pol.UNCERTAIN) == ("lockout", "max_24h", "alarm", "uncertain")
    assert (pol.NOT_SYNCED, pol.NO_PRESCRIPTION, pol.NO_LINK, pol.RESERVOIR) == (
        "not_synced",
        "no_prescription",
        "no_link",
        "reservoir",
    )
    assert (pol.STALE, pol.BUSY, pol.AMOUNT_CAP, pol.PUMP_REFUSED) == ("stale", "busy", "amount_cap", "pump_refused")


def test_a_default_pump_view_denies():
    v = pol.PumpView()
    assert (v.synced, v.link_up, v.alarm_high, v.uncertain, v.reservoir_ug, v.bolus_active) == (
        False,
        False,
        False,
        False,
        None,
        False,
    )
    assert denied(pol.decide(T0, [], rx(), v), pol.NOT_SYNCED)


def test_grant_with_no_history():
    d = pol.decide(T0, [], rx(), ok_view())
    assert (d.granted, d.reason, d.next_s) == (True, None, None)


def test_checks_run_in_the_contract_order():
    """Every condition fails at once; fixing them one by one shows the order."""
    starts = [T0 - 10] * 4  # locked out and at the maximum
    view = pol.PumpView(synced=False, link_up=False, alarm_high=True, uncertain=True, reservoir_ug=0, bolus_active=True)
    r = rx()
    seen = [pol.decide(T0, starts, None, view).reason]
    steps = [
        ("synced", True),
        ("link_up", True),
        ("uncertain", False),
        ("alarm_high", False),
        ("reservoir_ug", 100),
    ]
    seen.append(pol.decide(T0, starts, r, view).reason)
    for attr, value in steps:
        setattr(view, attr, value)
        seen.append(pol.decide(T0, starts, r, view).reason)
    seen.append(pol.decide(T0, [T0 - 3600 - k for k in range(4)], r, view).reason)
    seen.append(pol.decide(T0, [T0 - 3600], r, view).reason)
    view.bolus_active = False
    seen.append(pol.decide(T0, [T0 - 3600], r, view).reason)
    assert seen == [
        pol.NO_PRESCRIPTION,
        pol.NOT_SYNCED,
        pol.NO_LINK,
        pol.UNCERTAIN,
        pol.ALARM,
        pol.RESERVOIR,
        pol.LOCKOUT,
        pol.MAX_24H,
        pol.BUSY,
        None,
    ]


def test_unknown_time_is_not_synced():
    assert denied(pol.decide(None, [], rx(), ok_view()), pol.NOT_SYNCED)


def test_non_time_reasons_have_no_next_s():
    for view in (ok_view(link_up=False), ok_view(uncertain=True), ok_view(alarm_high=True), ok_view(bolus_active=True)):
        d = pol.decide(T0, [T0 - 7200], rx(), view)
        assert d.next_s is None and not d.granted


def test_reservoir_unknown_is_not_checked_here_and_exact_dose_is_enough():
    assert pol.decide(T0, [], rx(dose_ug=100), ok_view(reservoir_ug=None)).granted
    assert pol.decide(T0, [], rx(dose_ug=100), ok_view(reservoir_ug=100)).granted
    assert denied(pol.decide(T0, [], rx(dose_ug=100), ok_view(reservoir_ug=99)), pol.RESERVOIR)


def test_lockout_ends_exactly_at_last_start_plus_lockout():
    r = rx(lockout_s=3600)
    last = T0 - 3600
    assert pol.decide(T0, [last], r, ok_view()).granted
    assert denied(pol.decide(T0 - 1, [last], r, ok_view()), pol.LOCKOUT, T0)


def test_lockout_counts_from_the_start_of_the_newest_bolus():
    r = rx(lockout_s=3600)
    starts = [T0 - 5000, T0 - 100, T0 - 7000]  # unsorted on purpose
    assert denied(pol.decide(T0, starts, r, ok_view()), pol.LOCKOUT, T0 - 100 + 3600)
    assert denied(pol.decide(T0, tuple(starts), r, ok_view()), pol.LOCKOUT, T0 - 100 + 3600)


def test_rolling_window_is_open_at_now_minus_a_day():
    """Window (now - 86400, now]: a start exactly a day ago has left it."""
    r = rx(lockout_s=60, max_per_24h=2)
    starts = [T0 - DAY, T0 - 100]
    assert pol.decide(T0, starts, r, ok_view()).granted
    assert denied(pol.decide(T0 - 1, starts, r, ok_view()), pol.MAX_24H, T0)


def test_max_reached_waits_for_the_oldest_start_that_must_leave():
    r = rx(lockout_s=600, max_per_24h=3)
    starts = [T0 - 20000, T0 - 10000, T0 - 5000, T0 - 90000]
    # three in the window; the oldest of them (T0-20000) leaves at T0-20000+86400
    assert denied(pol.decide(T0, starts, r, ok_view()), pol.MAX_24H, T0 - 20000 + DAY)


def test_more_than_max_in_window_waits_for_enough_to_leave():
    """Five in the window with max 3 (e.g. after a prescription change): three must leave."""
    r = rx(lockout_s=60, max_per_24h=3)
    starts = [T0 - 50000, T0 - 40000, T0 - 30000, T0 - 20000, T0 - 10000]
    assert denied(pol.decide(T0, starts, r, ok_view()), pol.MAX_24H, T0 - 30000 + DAY)


def test_lockout_reason_with_next_s_after_the_max_too():
    """Both limits deny: the reason is lockout (checked first), next_s is when BOTH allow."""
    r = rx(lockout_s=3600, max_per_24h=1)
    d = pol.decide(T0, [T0 - 100], r, ok_view())
    assert denied(d, pol.LOCKOUT, T0 - 100 + DAY)


def test_next_s_takes_the_later_of_the_two_limits():
    r = rx(lockout_s=20000, max_per_24h=2)
    # lockout over long ago: the window alone decides
    starts = [T0 - DAY + 10, T0 - 30000]
    assert denied(pol.decide(T0, starts, r, ok_view()), pol.MAX_24H, T0 + 10)
    # lockout ends at T0+5, the oldest leaves the window at T0+3: lockout decides
    starts = [T0 - DAY + 3, T0 - 19995]
    assert denied(pol.decide(T0, starts, r, ok_view()), pol.LOCKOUT, T0 + 5)
    # lockout ends at T0+5, the oldest leaves at T0+10: the window decides
    starts = [T0 - DAY + 10, T0 - 19995]
    assert denied(pol.decide(T0, starts, r, ok_view()), pol.LOCKOUT, T0 + 10)


def test_future_starts_lock_out_and_count_fail_safe():
    r = rx(lockout_s=60, max_per_24h=2)
    d = pol.decide(T0, [T0 + 500], r, ok_view())
    assert denied(d, pol.LOCKOUT, T0 + 560)
    d = pol.decide(T0, [T0 - 100, T0 + 50], r, ok_view())
    assert denied(d, pol.LOCKOUT, T0 - 100 + DAY)


def test_uncertain_start_passed_by_the_caller_counts():
    r = rx(lockout_s=3600, max_per_24h=4)
    assert denied(pol.decide(T0, [T0 - 30], r, ok_view(uncertain=False)), pol.LOCKOUT, T0 + 3570)
    assert denied(pol.decide(T0, [T0 - 30], r, ok_view(uncertain=True)), pol.UNCERTAIN)


def test_next_s_is_the_first_second_that_is_granted():
    r = rx(lockout_s=1800, max_per_24h=3)
    starts = [T0 - 80000, T0 - 60000, T0 - 1000]
    d = pol.decide(T0, starts, r, ok_view())
    assert not d.granted and d.next_s is not None
    assert not pol.decide(d.next_s - 1, starts, r, ok_view()).granted
    assert pol.decide(d.next_s, starts, r, ok_view()).granted


def test_next_available():
    r = rx(lockout_s=3600, max_per_24h=4)
    assert pol.next_available(T0, [], r) == T0
    assert pol.next_available(T0, [T0 - 4000], r) == T0
    assert pol.next_available(T0, [T0 - 100], r) == T0 + 3500
    assert pol.next_available(None, [T0], r) is None
    assert pol.next_available(T0, [T0], None) is None
    starts = [T0 - 100, T0 - 9000, T0 - 20000, T0 - 30000]
    assert pol.next_available(T0, starts, r) == pol.decide(T0, starts, r, ok_view()).next_s == T0 - 30000 + DAY


def test_decide_does_not_touch_its_inputs():
    r = rx()
    starts = [T0 - 5, T0 - 50000, T0 - 100]
    copy = list(starts)
    pol.decide(T0, starts, r, ok_view())
    pol.next_available(T0, starts, r)
    assert starts == copy


@pytest.mark.parametrize("n", [0, 1, 47, 48, 100])
def test_many_starts(n):
    r = rx(lockout_s=60, max_per_24h=48)
    starts = [T0 - 61 - 120 * k for k in range(n)]
    d = pol.decide(T0, starts, r, ok_view())
    assert d.granted == (n < 48)
