"""Unit tests of firmware/ledger.py in plain asserts, so that the same functions run on CPython
(collected by tests/test_core_ledger.py) and in the MicroPython unix port (run by it too)."""

from firmware import eventlog as ev
from firmware import messages as m
from firmware.ledger import Ledger

T0 = 1000000  # a pump time
DAY = 86400


def _granted(ledger, captured_s=T0, dose_ug=100):
    rid = ledger.new_id()
    ledger.request(rid, captured_s, dose_ug)
    return rid


def _replayed(records):
    ledger = Ledger()
    for kind, t_s, a, b, c in records:
        ledger.replay(kind, t_s, a, b, c)
    ledger.end_replay()
    return ledger


def test_a_new_ledger_counts_nothing_and_starts_at_id_1():
    ledger = Ledger()
    assert ledger.starts() == []
    assert not ledger.unsettled()
    assert ledger.new_id() == 1
    assert ledger.new_id() == 2


def test_a_request_counts_from_its_capture_until_answered():
    ledger = Ledger()
    rid = _granted(ledger, T0, 250)
    assert ledger.starts() == [T0]
    assert ledger.unsettled() and ledger.in_flight == rid
    assert ledger.dose(rid) == 250


def test_accepted_counts_from_the_pumps_start_and_returns_the_dose():
    ledger = Ledger()
    rid = _granted(ledger, T0, 250)
    assert ledger.accepted(rid, T0 + 1) == 250
    assert ledger.starts() == [T0 + 1]
    assert not ledger.unsettled()
    assert ledger.delivered == {rid: T0 + 1} and ledger.pump == {rid: T0 + 1}
    assert ledger.dose(rid) == 0  # no longer open


def test_refused_counts_nothing():
    ledger = Ledger()
    rid = _granted(ledger, T0, 250)
    assert ledger.refused(rid) == 250
    assert ledger.starts() == []
    assert not ledger.unsettled()


def test_a_lost_request_is_uncertain_and_counts_until_settled():
    ledger = Ledger()
    rid = _granted(ledger)
    ledger.lost(rid)
    assert ledger.in_flight is None and ledger.uncertain == {rid}
    assert ledger.unsettled()
    assert ledger.starts() == [T0]
    assert ledger.settle(rid, None) == 100
    assert ledger.starts() == [] and not ledger.unsettled()


def test_settled_as_given_counts_from_the_pumps_start():
    ledger = Ledger()
    rid = _granted(ledger)
    ledger.lost(rid)
    ledger.settle(rid, T0 + 2)
    assert ledger.starts() == [T0 + 2]
    assert ledger.delivered == {rid: T0 + 2}


def test_not_found_settles_only_once_the_request_would_be_stale():
    ledger = Ledger()
    rid = _granted(ledger, T0)
    assert not ledger.settles(rid, True, T0 + 1)  # not uncertain yet: in flight
    ledger.lost(rid)
    assert ledger.settles(rid, True, T0 + 1)
    assert not ledger.settles(rid, False, T0 + 30)
    assert ledger.settles(rid, False, T0 + 31)
    assert not ledger.settles(rid + 1, True, T0 + 1)  # never asked about


def test_not_found_settles_once_the_pumps_clock_reads_past_the_window_before_the_capture():
    # The pump's clock was set back where this handheld could not see it (it rebooted): the
    # pump refuses a request captured more than 30 s after its time as stale too.
    ledger = Ledger()
    rid = _granted(ledger, T0)
    ledger.lost(rid)
    assert not ledger.settles(rid, False, T0 - 30)
    assert ledger.settles(rid, False, T0 - 31)
    assert ledger.settles(rid, False, T0 - 7200)


def test_not_found_settles_at_once_when_the_capture_time_is_unknown():
    ledger = _replayed([(ev.GRANTED, ev.NO_TIME, 4, 100, 60)])
    assert ledger.open[4].captured_s is None
    assert ledger.settles(4, False, T0)


def test_a_lost_request_the_ledger_was_not_told_of_counts_from_an_unknown_time():
    ledger = Ledger()
    ledger.lost(9)
    assert ledger.uncertain == {9} and ledger.starts() == []
    assert ledger.dose(9) == 0


def test_ids_go_past_the_pumps_last_id_and_never_back():
    ledger = Ledger()
    ledger.pump_record(41)
    assert ledger.new_id() == 42
    ledger.saw_id(10)
    assert ledger.new_id() == 43
    ledger.pump_record(5)
    ledger.pump_read()
    assert ledger.next_id == 44


def test_the_pumps_last_id_counts_once_its_whole_record_is_read():
    ledger = Ledger()
    ledger.pump_record(41)
    assert ledger.next_id == 1
    ledger.pump_read()
    assert ledger.next_id == 42


def test_no_id_past_the_limit_and_the_counter_stays():
    ledger = Ledger()
    ledger.pump_record(m.REQUEST_ID_MAX - 1)
    assert ledger.new_id() == m.REQUEST_ID_MAX
    assert ledger.new_id() is None
    assert ledger.next_id == m.REQUEST_ID_MAX + 1
    other = Ledger()
    other.pump_record(m.REQUEST_ID_MAX)
    assert other.new_id() is None
    assert other.next_id == 1


def test_where_the_pump_and_the_log_disagree_the_later_start_counts():
    ledger = Ledger()
    ledger.delivered[3] = T0 + 100
    ledger.pump_entry(3, T0, m.BOLUS_COMPLETE)
    ledger.pump_entry(4, T0 + 50, m.BOLUS_COMPLETE)
    assert sorted(ledger.starts()) == [T0 + 50, T0 + 100]
    ledger.delivered[4] = T0 + 10
    assert sorted(ledger.starts()) == [T0 + 50, T0 + 100]


def test_entries_the_pump_refused_never_count():
    ledger = Ledger()
    ledger.pump_entry(1, T0, m.BOLUS_REFUSED)
    ledger.pump_entry(2, T0 + 5, m.BOLUS_STOPPED)
    assert ledger.starts() == [T0 + 5]
    assert len(ledger.pump) == 2


def test_reading_the_pumps_record_again_forgets_the_old_one_not_the_log():
    ledger = Ledger()
    rid = _granted(ledger)
    ledger.accepted(rid, T0)
    ledger.pump_record(rid)
    assert ledger.pump == {}
    assert ledger.starts() == [T0]


def test_a_clock_shift_moves_own_starts_and_captures_not_the_pumps_record():
    ledger = Ledger()
    a = _granted(ledger, T0)
    ledger.accepted(a, T0)
    b = _granted(ledger, T0 + 600)
    ledger.lost(b)
    ledger.shift(-3600)
    assert ledger.delivered == {a: T0 - 3600}
    assert ledger.open[b].captured_s == T0 + 600 - 3600
    assert ledger.pump == {a: T0}  # read again before any grant
    ledger.shift(-2 * T0)
    assert ledger.delivered == {a: 0} and ledger.open[b].captured_s == 0  # never below 0


def test_starts_older_than_two_days_are_forgotten_the_newest_kept():
    ledger = Ledger()
    for i in range(5):
        rid = _granted(ledger, T0 + i * DAY)
        ledger.accepted(rid, T0 + i * DAY)
    # at the last start, the starts 2 days old or older go: 0, 1 and 2 days after T0
    assert sorted(ledger.delivered.values()) == [T0 + 3 * DAY, T0 + 4 * DAY]
    assert sorted(ledger.pump.values()) == [T0 + 3 * DAY, T0 + 4 * DAY]
    ledger.prune(T0 + 100 * DAY)
    assert list(ledger.delivered.values()) == [T0 + 4 * DAY]
    assert list(ledger.pump.values()) == [T0 + 4 * DAY]


def test_the_24_h_count_is_a_window_open_at_a_day_ago():
    ledger = Ledger()
    for start in (T0, T0 + 3600, T0 + 7200):
        rid = _granted(ledger, start)
        ledger.accepted(rid, start)
    assert ledger.used_24h(T0 + 7200) == 3
    assert ledger.used_24h(T0 + DAY) == 2
    assert ledger.used_24h(T0 + DAY - 1) == 3


def test_replay_rebuilds_deliveries_ids_and_open_requests():
    ledger = _replayed(
        [
            (ev.BOOT, ev.NO_TIME, 1, 0, 0),
            (ev.GRANTED, T0, 1, 100, 60),
            (ev.DELIVERED, T0 + 1, 1, 100, T0 + 1),
            (ev.GRANTED, T0 + 600, 2, 100, 60),
            (ev.PUMP_REFUSED, T0 + 600, 2, 1, 0),
            (ev.GRANTED, T0 + 700, 3, 100, 60),
            (ev.UNCERTAIN, T0 + 701, 3, 100, 0),
            (ev.SETTLED, T0 + 760, 3, 0, 0),
            (ev.GRANTED, T0 + 800, 4, 100, 60),
            (ev.UNCERTAIN, T0 + 801, 4, 100, 0),
            (ev.SETTLED, T0 + 900, 4, 1, T0 + 802),
            (ev.GRANTED, T0 + 4000, 5, 150, 60),
        ]
    )
    assert ledger.delivered == {1: T0 + 1, 4: T0 + 802}
    assert list(ledger.open) == [5] and ledger.uncertain == {5}
    assert (ledger.open[5].captured_s, ledger.open[5].dose_ug) == (T0 + 4000, 150)
    assert sorted(ledger.starts()) == [T0 + 1, T0 + 802, T0 + 4000]
    assert ledger.next_id == 6 and ledger.in_flight is None


def test_replay_takes_the_next_id_from_a_checkpoint_and_reopens_relogged_requests():
    ledger = _replayed([(ev.CHECKPOINT, ev.NO_TIME, 12, 1, 0), (ev.UNCERTAIN, ev.NO_TIME, 7, 100, 0)])
    assert ledger.next_id == 12
    assert ledger.uncertain == {7} and ledger.open[7].captured_s is None and ledger.dose(7) == 100


def test_replay_does_not_reopen_a_closed_request():
    ledger = _replayed(
        [(ev.GRANTED, T0, 1, 100, 60), (ev.SETTLED, T0 + 40, 1, 0, 0), (ev.UNCERTAIN, T0, 1, 100, 0)]
    )
    assert ledger.open == {} and not ledger.unsettled()
    assert ledger.next_id == 2


def test_replay_keeps_the_first_uncertain_capture_time():
    ledger = _replayed([(ev.GRANTED, T0, 1, 100, 60), (ev.UNCERTAIN, T0 + 5, 1, 100, 0)])
    assert ledger.open[1].captured_s == T0


def test_replay_moves_the_starts_logged_before_a_clock_shift():
    ledger = _replayed(
        [
            (ev.GRANTED, T0, 1, 100, 60),
            (ev.DELIVERED, T0, 1, 100, T0),
            (ev.GRANTED, T0 + 900, 2, 100, 60),
            (ev.FAULT, T0 + 950, ev.FAULT_PUMP_CLOCK, 3600, 1),  # set back an hour
            (ev.FAULT, T0 + 950, ev.FAULT_PUMP_CLOCK, 60, 0),  # then forward a minute
            (ev.FAULT, T0 + 950, ev.FAULT_BUTTON_STUCK, 3600, 1),  # not a clock shift
        ]
    )
    assert ledger.delivered == {1: T0 - 3540}
    assert ledger.open[2].captured_s == T0 + 900 - 3540
