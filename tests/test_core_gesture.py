"""firmware/gesture: stable-sample debounce, press-and-hold, one request per gesture however
long the hold, stuck buttons (at boot and held too long), bounce storms, tick wrap."""

import pytest

from firmware import gesture as g
from hal.fakes import FakeClock, Rng

WRAP = 2**30


def drive(gest, clock, steps, dt=1):
    """Feed (ms, level) steps sampled every dt ms; returns [(elapsed_ms, event)]."""
    events = []
    for ms, level in steps:
        for _ in range(0, ms, dt):
            e = gest.update(clock.ticks_ms(), level)
            if e is not None:
                events.append((clock.elapsed_ms, e))
            clock.advance(dt)
    return events


def names(events):
    return [e for _, e in events]


def fresh(start=0, **kw):
    clock = FakeClock(start=start)
    return g.Gesture(clock, **kw), clock


def test_event_constants_are_distinct():
    events = [g.PRESSED, g.HOLD_COMPLETE, g.RELEASED, g.TAP, g.STUCK, g.STUCK_CLEARED]
    assert len(set(events)) == 6


def test_idle_button_gives_nothing():
    gest, clock = fresh()
    assert drive(gest, clock, [(5000, False)]) == []


def test_press_and_hold_gives_one_request_at_exactly_hold_ms():
    gest, clock = fresh()
    ev = drive(gest, clock, [(100, False), (1500, True), (200, False)])
    # the press edge is seen at 100; stable for 30 ms -> PRESSED; 1000 ms unbroken -> request
    assert ev == [(130, g.PRESSED), (1100, g.HOLD_COMPLETE), (1630, g.RELEASED)]


def test_released_one_ms_early_is_a_tap():
    gest, clock = fresh()
    ev = drive(gest, clock, [(100, False), (1000, True), (200, False)])
    assert names(ev) == [g.PRESSED, g.TAP]
    gest, clock = fresh()
    ev = drive(gest, clock, [(100, False), (1001, True), (200, False)])
    assert names(ev) == [g.PRESSED, g.HOLD_COMPLETE, g.RELEASED]


def test_short_tap():
    gest, clock = fresh()
    assert names(drive(gest, clock, [(100, False), (300, True), (200, False)])) == [g.PRESSED, g.TAP]


def test_a_pulse_shorter_than_debounce_is_ignored():
    gest, clock = fresh()
    assert drive(gest, clock, [(100, False), (30, True), (200, False)]) == []
    assert names(drive(gest, clock, [(31, True), (200, False)])) == [g.PRESSED, g.TAP]


def test_release_must_also_be_stable():
    """A dropout shorter than debounce does not end the press."""
    gest, clock = fresh()
    ev = drive(gest, clock, [(100, False), (400, True), (20, False), (1100, True), (100, False)])
    assert names(ev) == [g.PRESSED, g.HOLD_COMPLETE, g.RELEASED]


def test_a_dropout_restarts_the_hold_time():
    """The hold must be unbroken: 600 ms + glitch + 600 ms is not a request."""
    gest, clock = fresh()
    ev = drive(gest, clock, [(100, False), (600, True), (5, False), (600, True), (100, False)])
    assert names(ev) == [g.PRESSED, g.TAP]


def storm(rng, ms, max_ms=29, start=True):
    """Levels flapping faster than the debounce time."""
    steps = []
    level = start
    total = 0
    while total < ms:
        d = 1 + rng.below(max_ms)
        steps.append((d, level))
        level = not level
        total += d
    return steps


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_bounce_storm_from_rest_gives_nothing(seed):
    gest, clock = fresh()
    ev = drive(gest, clock, [(100, False)] + storm(Rng(seed), 10000) + [(100, False)])
    assert ev == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bounce_storm_while_pressed_never_completes_a_hold(seed):
    gest, clock = fresh()
    steps = [(100, False), (100, True)] + storm(Rng(seed), 20000) + [(100, False)]
    assert names(drive(gest, clock, steps)) == [g.PRESSED, g.TAP]


def test_mostly_pressed_with_short_dropouts_never_completes():
    """A scratchy contact (900 ms down, 10 ms up, repeated) is not a deliberate hold."""
    gest, clock = fresh()
    steps = [(100, False)] + [(900, True), (10, False)] * 30 + [(100, False)]
    assert names(drive(gest, clock, steps)) == [g.PRESSED, g.TAP]


def test_bouncy_press_then_stable_hold_gives_one_request():
    gest, clock = fresh()
    rng = Rng(7)
    steps = [(100, False)] + storm(rng, 200) + [(1200, True)] + storm(rng, 200, start=False) + [(100, False)]
    assert names(drive(gest, clock, steps)) == [g.PRESSED, g.HOLD_COMPLETE, g.RELEASED]


def test_hold_for_minutes_gives_exactly_one_request_then_stuck():
    gest, clock = fresh()
    ev = drive(gest, clock, [(100, False), (5 * 60000, True), (100, False)], dt=10)
    assert ev == [(130, g.PRESSED), (1100, g.HOLD_COMPLETE), (60100, g.STUCK), (300130, g.STUCK_CLEARED)]


def test_hold_just_under_the_stuck_limit_is_a_normal_release():
    gest, clock = fresh()
    ev = drive(gest, clock, [(100, False), (59990, True), (100, False)], dt=10)
    assert names(ev) == [g.PRESSED, g.HOLD_COMPLETE, g.RELEASED]


def test_stuck_limit_is_configurable():
    gest, clock = fresh(stuck_ms=5000)
    ev = drive(gest, clock, [(100, False), (6000, True), (100, False)], dt=10)
    assert ev == [(130, g.PRESSED), (1100, g.HOLD_COMPLETE), (5100, g.STUCK), (6130, g.STUCK_CLEARED)]


def test_down_at_boot_is_stuck_and_never_a_request():
    gest, clock = fresh()
    ev = drive(gest, clock, [(120000, True), (100, False)], dt=10)
    assert ev == [(0, g.STUCK), (120030, g.STUCK_CLEARED)]
    # after a clean release the button works again
    ev = drive(gest, clock, [(1200, True), (100, False)], dt=10)
    assert names(ev) == [g.PRESSED, g.HOLD_COMPLETE, g.RELEASED]


def test_stuck_at_boot_needs_a_debounced_release():
    gest, clock = fresh()
    steps = [(500, True)] + storm(Rng(3), 3000) + [(500, True), (100, False)]
    assert names(drive(gest, clock, steps)) == [g.STUCK, g.STUCK_CLEARED]


def test_stuck_reported_once_however_long():
    gest, clock = fresh(stuck_ms=5000)
    ev = drive(gest, clock, [(100, False), (3600 * 1000, True)], dt=500)
    assert names(ev) == [g.PRESSED, g.HOLD_COMPLETE, g.STUCK]


@pytest.mark.parametrize("start", [0, WRAP - 500, WRAP - 1, WRAP - 1100, (WRAP >> 1) - 600])
def test_tick_wrap_changes_nothing(start):
    steps = [(100, False), (1500, True), (300, False), (300, True), (100, False), (70000, True), (100, False)]
    reference = drive(*fresh(0), steps, dt=1)
    assert drive(*fresh(start), steps, dt=1) == reference
    assert names(reference) == [
        g.PRESSED,
        g.HOLD_COMPLETE,
        g.RELEASED,
        g.PRESSED,
        g.TAP,
        g.PRESSED,
        g.HOLD_COMPLETE,
        g.STUCK,
        g.STUCK_CLEARED,
    ]


def test_hold_across_the_wrap():
    gest, clock = fresh(WRAP - 500)
    ev = drive(gest, clock, [(100, False), (1200, True), (100, False)])
    assert ev == [(130, g.PRESSED), (1100, g.HOLD_COMPLETE), (1330, g.RELEASED)]
    assert clock.now < 1000  # the ticks really wrapped during the hold


def test_sparse_sampling_still_gives_one_request():
    gest, clock = fresh()
    ev = drive(gest, clock, [(500, False), (3000, True), (1000, False)], dt=250)
    assert names(ev) == [g.PRESSED, g.HOLD_COMPLETE, g.RELEASED]


def test_long_unseen_idle_then_press():
    """Days without a sample (more than half the tick period) do not confuse the next press."""
    gest, clock = fresh(WRAP - 50)
    drive(gest, clock, [(100, False)])
    clock.advance((WRAP >> 1) + 12345)
    ev = drive(gest, clock, [(100, False), (1200, True), (100, False)])
    assert names(ev) == [g.PRESSED, g.HOLD_COMPLETE, g.RELEASED]


def test_a_hold_that_spans_an_unseen_half_period_is_stuck_not_a_request():
    gest, clock = fresh()
    drive(gest, clock, [(100, False), (50, True)])
    clock.advance((WRAP >> 1) + 10)  # the loop stalled for days with the button down
    assert names(drive(gest, clock, [(20, True)])) == [g.STUCK]


def test_holding_and_progress():
    gest, clock = fresh()
    drive(gest, clock, [(100, False), (20, True)])
    assert not gest.holding and gest.hold_progress(clock.ticks_ms()) == 0.0
    drive(gest, clock, [(480, True)])
    assert gest.holding
    assert gest.hold_progress(clock.ticks_ms()) == pytest.approx(0.5)
    drive(gest, clock, [(501, True)])
    assert not gest.holding and gest.hold_progress(clock.ticks_ms()) == 1.0
    drive(gest, clock, [(100, False)])
    assert not gest.holding and gest.hold_progress(clock.ticks_ms()) == 0.0


def test_progress_restarts_after_a_dropout():
    gest, clock = fresh()
    drive(gest, clock, [(100, False), (600, True), (5, False)])
    assert gest.holding and gest.hold_progress(clock.ticks_ms()) == 0.0
    drive(gest, clock, [(100, True)])
    assert gest.hold_progress(clock.ticks_ms()) == pytest.approx(0.1)


def test_stuck_is_visible():
    gest, clock = fresh()
    drive(gest, clock, [(10, True)])
    assert gest.stuck and not gest.holding and gest.hold_progress(clock.ticks_ms()) == 0.0


@pytest.mark.parametrize(
    "kw",
    [{"debounce_ms": 0}, {"hold_ms": 30}, {"stuck_ms": 1000}, {"stuck_ms": 2**29}],
)
def test_bad_timing_is_refused(kw):
    with pytest.raises(ValueError):
        fresh(**kw)
