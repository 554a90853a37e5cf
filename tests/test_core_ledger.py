"""firmware/ledger.py: its unit tests (tests/ledger_cases.py, also run in the MicroPython unix
port here) and hypothesis properties:
  - the ledger replayed from the log equals the ledger built live (a model shell that logs as
    App does, and the real App + LinkClient + pump emulator in process),
  - never more doses counted in 24 h than the log shows started,
  - an uncertain request counts as delivered until it is settled,
  - request ids strictly increase across replays (log rotations and pump syncs included),
  - a clock shift preserves the intervals between the starts it moves.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware import eventlog as ev
from firmware.ledger import Ledger
from tests import ledger_cases
from tests.ledger_cases import *  # noqa: F401,F403  (the unit tests, collected here)
from tests.mp import MICROPYTHON, run_mp
from tests.system import System

T0 = ledger_cases.T0
DAY = 86400
FAST = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])


# ---- the unit tests, on MicroPython --------------------------------------------------------
_MP_RUNNER = """
import gc
from firmware import eventlog
gc.collect()
from firmware import messages
gc.collect()
from firmware import ledger
gc.collect()
from tests import ledger_cases as c
gc.collect()
for name in sorted(dir(c)):
    if name.startswith("test_"):
        getattr(c, name)()
        print("ok", name)
"""


def test_not_found_is_final_only_where_the_pump_would_refuse_the_request_as_stale():
    # Safety row D2 names this test: both sides of the stale window, as the pump reads it.
    ledger_cases.test_not_found_settles_only_once_the_request_would_be_stale()
    ledger_cases.test_not_found_settles_once_the_pumps_clock_reads_past_the_window_before_the_capture()


@pytest.mark.micropython
@pytest.mark.skipif(MICROPYTHON is None, reason="the MicroPython unix port is not installed")
def test_the_unit_tests_pass_on_micropython():
    res = run_mp(_MP_RUNNER, heap="96K")
    assert res.returncode == 0, res.stderr + res.stdout
    names = sorted(n for n in dir(ledger_cases) if n.startswith("test_"))
    assert res.stdout.split() == [w for n in names for w in ("ok", n)]


# ---- a shell that feeds a ledger and logs as App does ----------------------------------------
class Shell:
    """Feeds one Ledger live and writes the records App writes for the same outcomes
    (App._request, App._on_link; LinkClient feeds the ledger in the same order)."""

    def __init__(self, records=()):
        self.log = list(records)
        self.ledger = Ledger()
        for r in self.log:
            self.ledger.replay(*r)
        self.ledger.end_replay()
        self._relog()  # App._recover logs every open request again
        self.now = T0
        self.issued = []

    def _relog(self):
        for rid in self.ledger.open:
            req = self.ledger.open[rid]
            self.log.append((ev.UNCERTAIN, ev.NO_TIME if req.captured_s is None else req.captured_s, rid, req.dose_ug, 0))

    def grant(self, dose):
        led = self.ledger
        if led.unsettled():
            return
        rid = led.new_id()
        self.issued.append(rid)
        self.log.append((ev.GRANTED, self.now, rid, dose, 60))
        led.request(rid, self.now, dose)

    def accept(self, after):
        rid = self.ledger.in_flight
        if rid is not None:
            start = self.now + after
            dose = self.ledger.accepted(rid, start)
            self.log.append((ev.DELIVERED, start, rid, dose, start))

    def refuse(self):
        rid = self.ledger.in_flight
        if rid is not None:
            self.ledger.refused(rid)
            self.log.append((ev.PUMP_REFUSED, self.now, rid, 1, 0))

    def lose(self):
        rid = self.ledger.in_flight
        if rid is not None:
            self.ledger.lost(rid)
            self.log.append((ev.UNCERTAIN, self.now, rid, self.ledger.dose(rid), 0))

    def settle(self, found, after):
        led = self.ledger
        if not led.uncertain:
            return
        rid = min(led.uncertain)
        if led.settles(rid, found, self.now):
            start = self.now - after if found else None
            led.settle(rid, start)
            self.log.append((ev.SETTLED, self.now, rid, 1 if found else 0, 0 if start is None else start))

    def shift(self, delta):
        self.ledger.shift(delta)
        self.log.append((ev.FAULT, self.now, ev.FAULT_PUMP_CLOCK, abs(delta), 1 if delta < 0 else 0))

    def sync(self, last_id):
        self.ledger.pump_record(last_id)
        self.ledger.pump_read()

    def rotate(self, keep):
        """The log erased its older records: App._checkpoint writes the next id and the open
        requests again."""
        self.log = self.log[len(self.log) - keep :] if keep else []
        led = self.ledger
        self.log.append((ev.CHECKPOINT, ev.NO_TIME, led.next_id, len(led.open), 0))
        self._relog()

    def wait(self, s):
        self.now += s


_OPS = st.one_of(
    st.tuples(st.just("grant"), st.integers(1, 500)),
    st.tuples(st.just("accept"), st.integers(0, 30)),
    st.tuples(st.just("refuse")),
    st.tuples(st.just("lose")),
    st.tuples(st.just("settle"), st.booleans(), st.integers(0, 60)),
    st.tuples(st.just("shift"), st.integers(-3 * DAY, 3 * DAY)),
    st.tuples(st.just("wait"), st.integers(1, 2 * DAY)),
)


def _run(shell, ops):
    for op in ops:
        getattr(shell, op[0])(*op[1:])


def _own(ledger):
    """What the ledger holds from this handheld's own doing (not the pump's record)."""
    opened = {rid: (r.captured_s, r.dose_ug) for rid, r in ledger.open.items()}
    return ledger.delivered, opened, ledger.next_id


def _replay(records):
    led = Ledger()
    for r in records:
        led.replay(*r)
    led.end_replay()
    return led


@FAST
@given(st.lists(_OPS, max_size=40))
def test_the_ledger_replayed_from_the_log_equals_the_ledger_built_live(ops):
    shell = Shell()
    _run(shell, ops)
    replayed = _replay(shell.log)
    assert _own(replayed) == _own(shell.ledger)
    assert replayed.uncertain == set(shell.ledger.open)  # after a boot every open one is uncertain
    shell.ledger.pump_record(0)  # the pump's record is read again after a boot anyway
    assert sorted(replayed.starts()) == sorted(shell.ledger.starts())


@FAST
@given(st.lists(_OPS, max_size=40), st.integers(0, 3 * DAY))
def test_never_more_doses_counted_in_24_h_than_the_log_shows_started(ops, later):
    shell = Shell()
    _run(shell, ops)
    replayed = _replay(shell.log)
    now = shell.now + later
    started = {}  # request id -> every time the log gives for its (possible) start
    for kind, t_s, a, b, c in shell.log:
        if kind in (ev.GRANTED, ev.UNCERTAIN):
            started.setdefault(a, set()).add(t_s)
        elif kind == ev.DELIVERED or (kind == ev.SETTLED and b):
            started.setdefault(a, set()).add(c)
        elif kind in (ev.PUMP_REFUSED, ev.SETTLED):
            started.pop(a, None)
    assert len(replayed.starts()) <= len(started)
    assert replayed.used_24h(now) <= len(started)
    assert shell.ledger.used_24h(now) <= len(started)


@FAST
@given(st.lists(_OPS, max_size=30), st.integers(1, 500), st.lists(_OPS, max_size=30))
def test_an_uncertain_request_counts_as_delivered_until_it_is_settled(before, dose, after):
    shell = Shell()
    _run(shell, before)
    if shell.ledger.unsettled():
        return
    shell.grant(dose)
    rid = shell.ledger.in_flight
    shell.lose()
    for op in after:
        if rid not in shell.ledger.uncertain:
            break
        led = shell.ledger
        assert led.unsettled()
        assert led.open[rid].captured_s in led.starts()
        assert led.dose(rid) == dose
        for boot in (shell.ledger, _replay(shell.log)):
            assert rid in boot.uncertain
            assert boot.open[rid].captured_s in boot.starts()
        getattr(shell, op[0])(*op[1:])


@FAST
@given(
    st.lists(
        st.tuples(
            st.lists(_OPS, max_size=12),
            st.integers(0, 30),  # records kept at a rotation (0: no rotation)
            st.integers(0, 80),  # the pump's last id at a sync (0: no sync)
        ),
        max_size=8,
    )
)
def test_ids_strictly_increase_across_replays(sessions):
    log = []
    issued = []
    for ops, keep, pump_last in sessions:
        shell = Shell(log)  # a boot: the ledger is what the log says
        if pump_last:
            shell.sync(pump_last)
        _run(shell, ops)
        if keep:
            shell.rotate(keep)
        issued += shell.issued
        log = shell.log
    assert issued == sorted(set(issued))


@FAST
@given(
    st.lists(st.integers(0, 10 * DAY), min_size=1, max_size=12),
    st.lists(st.integers(0, DAY), max_size=3),
    st.integers(-5 * DAY, 5 * DAY),
)
def test_a_clock_shift_preserves_intervals(starts, captures, delta):
    base = T0 + 6 * DAY  # every time stays above 0 after the shift: nothing is clamped
    led = Ledger()
    for i, s in enumerate(starts):
        led.delivered[100 + i] = base + s
    for i, c in enumerate(captures):
        led.request(200 + i, base + c, 100)
    before = {**led.delivered, **{rid: r.captured_s for rid, r in led.open.items()}}
    led.shift(delta)
    after = {**led.delivered, **{rid: r.captured_s for rid, r in led.open.items()}}
    assert after == {rid: t + delta for rid, t in before.items()}
    for a in before:
        for b in before:
            assert after[a] - after[b] == before[a] - before[b]


# ---- the real handheld: its ledger equals the one its log rebuilds --------------------------
_SYSTEM_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("press")),
        st.tuples(st.just("run"), st.integers(1, 60).map(lambda s: s * 1000)),
        st.tuples(st.just("idle"), st.integers(1, 48).map(lambda h: h * 3_600_000)),
        st.tuples(st.just("silent"), st.booleans()),
        st.tuples(st.just("drop"), st.sampled_from([0.0, 1.0])),
        st.tuples(st.just("reboot")),
    ),
    max_size=12,
)


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(_SYSTEM_OPS)
def test_the_running_apps_ledger_equals_the_one_its_log_rebuilds(ops):
    s = System(rx_fields=dict(lockout_s=600, duration_s=60, max_per_24h=6))
    s.sync()
    for op in ops:
        if op[0] == "press":
            if not s.button.level:
                s.press()
        elif op[0] == "run":
            s.run(op[1])
        elif op[0] == "idle":
            s.idle(op[1])
        elif op[0] == "silent":
            s.port.silent = op[1]
        elif op[0] == "drop":
            s.port.drop = op[1]
        else:
            s.reboot()
    live = s.app.ledger
    replayed = _replay([(r.kind, r.t_s, r.a, r.b, r.c) for r in s.log.records()])
    delivered, opened, next_id = _own(live)
    assert _own(replayed) == (delivered, opened, next_id)
    assert replayed.uncertain == set(opened)
