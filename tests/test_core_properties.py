"""Property tests (hypothesis) of the safety invariants of gesture + policy + event log.

A tiny in-test handheld wires Gesture -> policy.decide -> EventLog exactly as the device does
(PRESS, then GRANTED or DENIED written before anything is sent; the history is rebuilt from the
log at every boot) and random sequences of presses, bounces, stuck buttons, time jumps,
reboots and power cuts are thrown at it. Invariants:
  - no two granted boluses closer than the lockout (in pump time),
  - never more than max_per_24h in any rolling 24 h window,
  - no grant without a completed gesture: HOLD_COMPLETE only after the raw button was held,
    unbroken, for hold_ms, and at most one grant per physical press,
  - nothing committed to the log is ever lost (power cut at any byte, reboots).
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware import eventlog as ev
from firmware import gesture as g
from firmware import policy as pol
from firmware.prescription import from_fields
from hal.fakes import FakeClock, MemStorage, PowerLoss, Rng

DAY = 86400
HOLD_MS = 1000
DEBOUNCE_MS = 30
POLL_MS = 10
OK_VIEW = pol.PumpView(synced=True, link_up=True, reservoir_ug=None)
FAST = settings(deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow])


def make_rx(lockout_s, max_per_24h):
    return from_fields(
        {
            "version": 1,
            "dose_ug": 100,
            "duration_s": 60,
            "lockout_s": lockout_s,
            "max_per_24h": max_per_24h,
            "cap_ug": 0,
            "cap_window_s": 0,
        }
    )


class Handheld:
    """Gesture + policy + log, as the firmware wires them; rebuilt from storage at boot."""

    def __init__(self, world):
        self.world = world
        self.log = ev.EventLog(world.storage)
        self.opened = self.log.open()
        self.gesture = g.Gesture(world.clock, debounce_ms=DEBOUNCE_MS, hold_ms=HOLD_MS)
        self.starts = []
        self.next_id = 1
        for r in self.log.records():
            if r.kind == ev.GRANTED:
                self.starts.append(r.t_s)
                self.next_id = r.a + 1

    def poll(self, raw):
        world = self.world
        e = self.gesture.update(world.clock.ticks_ms(), raw)
        if e == g.HOLD_COMPLETE:
            world.on_hold_complete()
            now_s = world.now_s()
            world.commit(self.log, ev.PRESS, now_s)
            d = pol.decide(now_s, self.starts, world.rx, OK_VIEW)
            if d.granted:
                rid = self.next_id
                # The grant is committed before the request would be sent.
                world.commit(self.log, ev.GRANTED, now_s, rid, 100, 60)
                self.next_id = rid + 1
                self.starts.append(now_s)
                world.on_grant(now_s)
            else:
                code = pol.REASON_CODES[str(d.reason)]
                world.commit(self.log, ev.DENIED, now_s, code, 0xFFFFFFFF if d.next_s is None else d.next_s)
        return e


class World:
    """The patient, the pump's clock, the flash, and the checks."""

    def __init__(self, rx, clock_start):
        self.rx = rx
        self.clock = FakeClock(start=clock_start)
        self.storage = MemStorage()
        self.pump_ms = 1_000_000 * 1000
        self.raw = False
        self.raw_since = 0  # clock.elapsed_ms of the last raw change
        self.committed = []  # every record whose append returned
        self.grants = []  # pump seconds of every bolus that would have been sent
        self.grants_this_press = 0
        self.holds = 0
        self.cuts = 0
        self.boots = 0
        self.boot()

    def now_s(self):
        return self.pump_ms // 1000

    def boot(self):
        self.hh = Handheld(self)
        # Nothing committed is lost, nothing uncommitted appears.
        assert [r.tuple() for r in self.hh.log.records()] == self.committed
        assert self.hh.opened["bad_bytes"] == 0
        self.boots += 1
        self.commit(self.hh.log, ev.BOOT, -1, self.boots, self.hh.opened["torn_bytes"])

    def commit(self, log, kind, t, a=0, b=0, c=0):
        seq = log.append(kind, t, a, b, c)
        self.committed.append((seq, kind, t, a, b, c))

    def on_hold_complete(self):
        held = self.clock.elapsed_ms - self.raw_since
        assert self.raw and held >= HOLD_MS, "HOLD_COMPLETE without an unbroken %d ms hold" % HOLD_MS
        self.holds += 1

    def on_grant(self, now_s):
        self.grants_this_press += 1
        assert self.grants_this_press == 1, "two requests from one press"
        for t in self.grants:
            assert now_s >= t + self.rx.lockout_s, "lockout violated"
        in_window = [t for t in self.grants if t > now_s - DAY] + [now_s]
        assert len(in_window) <= self.rx.max_per_24h, "max_per_24h violated"
        self.grants.append(now_s)

    def set_raw(self, level):
        if level != self.raw:
            self.raw = level
            self.raw_since = self.clock.elapsed_ms

    def run(self, ms, level, dt=POLL_MS):
        """Hold the button at `level` for ms, polling every dt ms."""
        self.set_raw(level)
        for _ in range(0, ms, dt):
            self.hh.poll(self.raw)
            self.clock.advance(dt)
            self.pump_ms += dt

    def reboot(self):
        self.storage.cut_after(-1)
        self.boot()

    # ---- actions -------------------------------------------------------------------------
    def act(self, action):
        self.grants_this_press = 0
        try:
            self._act(action)
        except PowerLoss:
            self.cuts += 1
            self.reboot()
            self.run(100, False)

    def _act(self, action):
        kind = action[0]
        if kind == "press":  # bouncy contact, a stable hold, bouncy release
            _, bounce_in, hold, bounce_out, seed = action
            rng = Rng(seed)
            self.run(100, False)
            self.bounce(rng, bounce_in)
            self.run(hold, True)
            self.bounce(rng, bounce_out)
            self.run(100, False)
        elif kind == "storm":  # flapping faster than the debounce from rest: nothing at all
            _, ms, seed = action
            before = self.holds
            self.run(100, False)
            self.bounce(Rng(seed), ms, dt=1)
            self.run(100, False, dt=1)
            assert self.holds == before
        elif kind == "stuck":  # held for longer than the stuck limit
            _, seconds = action
            self.run(seconds * 1000, True, dt=250)
            self.run(200, False)
        elif kind == "wait":  # time passes with the button at rest
            self.run(20, False)
            ms = action[1] * 1000
            self.clock.advance(ms)
            self.pump_ms += ms
        elif kind == "jump":  # the pump's clock is corrected (either way); ticks unaffected
            self.pump_ms = max(0, self.pump_ms + action[1] * 1000)
        elif kind == "reboot":
            self.reboot()
        elif kind == "reboot_held":  # power cycle while the button is down
            self.set_raw(True)
            self.reboot()
            before = self.holds
            self.run(action[1], True)
            self.run(100, False)
            assert self.holds == before, "a button down at boot made a request"
        elif kind == "burst":  # presses spaced about one lockout apart: the limits' edges
            _, n, extra = action
            for _ in range(n):
                self.grants_this_press = 0
                self.run(100, False)
                self.run(1100, True)
                self.run(100, False)
                ms = max(0, self.rx.lockout_s * 1000 + extra - 1300)
                self.clock.advance(ms)
                self.pump_ms += ms
        elif kind == "cut":
            self.storage.cut_after(action[1])

    def bounce(self, rng, ms, dt=POLL_MS):
        """Contact chatter: the level flaps in runs shorter than the debounce time."""
        level = True
        left = ms
        while left > 0:
            d = min(left, 1 + rng.below(DEBOUNCE_MS - 1))
            self.run(d, level, dt=min(dt, d))
            level = not level
            left -= d

    def check_log(self):
        log = ev.EventLog(self.storage)
        assert [r.tuple() for r in log.records()] == self.committed


actions = st.one_of(
    st.tuples(
        st.just("press"),
        st.integers(0, 200),
        st.integers(0, 2500),
        st.integers(0, 200),
        st.integers(1, 2**31),
    ),
    st.tuples(st.just("storm"), st.integers(50, 1500), st.integers(1, 2**31)),
    st.tuples(st.just("stuck"), st.integers(61, 120)),
    st.tuples(st.just("wait"), st.integers(1, 2 * DAY)),
    st.tuples(st.just("jump"), st.integers(-DAY, DAY)),
    st.tuples(st.just("reboot")),
    st.tuples(st.just("reboot_held"), st.integers(0, 3000)),
    st.tuples(st.just("cut"), st.integers(0, 60)),
)

# Weighted towards presses and short waits, where the limits bite.
scenario = st.lists(
    st.one_of(
        actions,
        st.tuples(st.just("press"), st.just(0), st.integers(1000, 1600), st.just(0), st.just(1)),
        st.tuples(st.just("press"), st.just(0), st.integers(1000, 1600), st.just(0), st.just(1)),
        st.tuples(st.just("wait"), st.integers(1, 7200)),
        st.tuples(st.just("wait"), st.sampled_from([59, 60, 61, 600, 3599, 3600, 14400, DAY - 1, DAY])),
        st.tuples(st.just("burst"), st.integers(1, 8), st.integers(-2000, 2000)),
    ),
    min_size=1,
    max_size=40,
)


@FAST
@given(
    lockout_s=st.sampled_from([60, 600, 3600, 14400]),
    max_per_24h=st.integers(1, 6),
    clock_start=st.sampled_from([0, 2**30 - 500, 2**30 - 20000, 123456]),
    steps=scenario,
)
def test_safety_invariants_hold_under_any_sequence(lockout_s, max_per_24h, clock_start, steps):
    world = World(make_rx(lockout_s, max_per_24h), clock_start)
    for action in steps:
        world.act(action)
    world.run(100, False)
    world.check_log()
    # no grant without a completed gesture; no rotation dropped anything in this test
    assert len(world.grants) <= world.holds
    assert len(world.committed) < ev.EventLog(MemStorage()).capacity
    grants = sorted(world.grants)
    for i in range(len(grants)):
        window = [t for t in grants if grants[i] - DAY < t <= grants[i]]
        assert len(window) <= max_per_24h


def test_the_driver_really_grants_and_denies():
    """Guard against a vacuous property: a plain scenario exercises every branch."""
    world = World(make_rx(3600, 2), 2**30 - 500)
    press = ("press", 0, 1200, 0, 1)
    for action in [press, press, ("wait", 3600), press, ("wait", 3600), press, ("cut", 30), press, ("reboot",)]:
        world.act(action)
    kinds = [c[1] for c in world.committed]
    assert kinds.count(ev.GRANTED) == 2 and len(world.grants) == 2
    assert kinds.count(ev.DENIED) == 2
    assert world.cuts == 1
    world.check_log()


# ---- the log alone, with rotation ------------------------------------------------------------

log_ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 255), st.integers(-1, 2**32 - 2), st.integers(0, 2**32 - 1)),
        st.tuples(st.just("cut"), st.integers(0, 80)),
        st.tuples(st.just("reopen")),
    ),
    max_size=60,
)


@settings(deadline=None, max_examples=200)
@given(per_segment=st.integers(1, 6), spare=st.integers(0, 25), ops=log_ops)
def test_log_keeps_every_committed_record_it_can_hold(per_segment, spare, ops):
    segment = per_segment * ev.RECORD_SIZE + spare
    storage = MemStorage()
    log = ev.EventLog(storage, segment_bytes=segment)
    log.open()
    committed = []

    def check(log):
        got = [r.tuple() for r in log.records()]
        assert got == committed[len(committed) - len(got) :]  # a run ending at the newest
        assert len(got) >= min(len(committed), per_segment)  # the newest segment's worth
        assert len(got) <= 2 * per_segment

    for op in ops:
        if op[0] == "append":
            try:
                seq = log.append(op[1], op[2], op[3], 7, 9)
            except PowerLoss:
                storage.cut_after(-1)
                log = ev.EventLog(storage, segment_bytes=segment)
                opened = log.open()
                assert opened["torn_bytes"] < ev.RECORD_SIZE and opened["bad_bytes"] == 0
                check(log)
                continue
            assert committed == [] or seq == committed[-1][0] + 1
            committed.append((seq, op[1], op[2], op[3], 7, 9))
        elif op[0] == "cut":
            storage.cut_after(op[1])
        else:
            storage.cut_after(-1)
            log = ev.EventLog(storage, segment_bytes=segment)
            log.open()
        check(log)
    storage.cut_after(-1)
    reopened = ev.EventLog(storage, segment_bytes=segment)
    reopened.open()
    check(reopened)


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=300))
def test_decode_all_never_raises(data):
    records, bad = ev.decode_all(data)
    assert bad == len(data) - ev.RECORD_SIZE * len(records)


# ---- policy alone -----------------------------------------------------------------------------


@settings(deadline=None, max_examples=400)
@given(
    lockout_s=st.integers(60, DAY),
    max_per_24h=st.integers(1, 8),
    offsets=st.lists(st.integers(-2 * DAY, 600), max_size=12),
)
def test_next_s_is_exactly_the_first_allowed_second(lockout_s, max_per_24h, offsets):
    rx = make_rx(lockout_s, max_per_24h)
    now = 10 * DAY
    starts = [now + o for o in offsets]
    d = pol.decide(now, starts, rx, OK_VIEW)
    last = max(starts) if starts else None
    in_window = len([s for s in starts if s > now - DAY])
    if d.granted:
        assert last is None or now >= last + lockout_s
        assert in_window < max_per_24h
        assert pol.next_available(now, starts, rx) == now
        return
    assert d.reason in (pol.LOCKOUT, pol.MAX_24H)
    if d.reason == pol.LOCKOUT:
        assert now < last + lockout_s
    else:
        assert now >= last + lockout_s and in_window >= max_per_24h
    assert d.next_s is not None and d.next_s > now
    assert pol.next_available(now, starts, rx) == d.next_s
    assert pol.decide(d.next_s, starts, rx, OK_VIEW).granted
    assert not pol.decide(d.next_s - 1, starts, rx, OK_VIEW).granted


# ---- gesture alone ----------------------------------------------------------------------------

_NEXT = {
    None: (g.PRESSED, g.STUCK),
    g.PRESSED: (g.HOLD_COMPLETE, g.TAP, g.STUCK),
    g.HOLD_COMPLETE: (g.RELEASED, g.STUCK),
    g.TAP: (g.PRESSED,),
    g.RELEASED: (g.PRESSED,),
    g.STUCK: (g.STUCK_CLEARED,),
    g.STUCK_CLEARED: (g.PRESSED,),
}


@settings(deadline=None, max_examples=300)
@given(
    clock_start=st.sampled_from([0, 2**30 - 1, 2**30 - 700, 2**29 - 300]),
    runs=st.lists(st.tuples(st.integers(1, 2500), st.booleans()), min_size=1, max_size=30),
    dt=st.sampled_from([1, 5, 10, 25]),
)
def test_gesture_grammar_and_one_request_per_press(clock_start, runs, dt):
    clock = FakeClock(start=clock_start)
    gest = g.Gesture(clock, debounce_ms=DEBOUNCE_MS, hold_ms=HOLD_MS, stuck_ms=5000)
    state = None
    raw_prev = None
    raw_since = 0
    for ms, level in runs:
        for _ in range(max(1, ms // dt)):
            if level != raw_prev:
                raw_prev = level
                raw_since = clock.elapsed_ms
            e = gest.update(clock.ticks_ms(), level)
            if e is not None:
                assert e in _NEXT[state], "%s after %s" % (e, state)
                if e == g.HOLD_COMPLETE:
                    assert level and clock.elapsed_ms - raw_since >= HOLD_MS
                if e == g.STUCK and state is None:
                    assert clock.elapsed_ms == 0  # only the very first sample
                state = e
            clock.advance(dt)
