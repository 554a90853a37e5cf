"""Whole-system stateful property test: hypothesis drives the real handheld (App, LinkClient,
gesture, policy, event log on fakes) against the pump emulator with presses, taps, bounces,
long holds, time jumps, reboots, power cuts at any storage write, ticks across the 2**30 wrap,
link cuts/loss/corruption/duplication/delay, pump restarts and alarms; the safety invariants
of tools/soak/invariants.py are checked after every rule against the pump's own record.
Also: the invariants really catch what they claim to (each broken on purpose), and the soak
CLI runs."""

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from firmware import eventlog as ev
from firmware import policy
from tests.mp import REPO
from tools.pump_emulator import pump as pump_mod
from tools.soak import invariants as inv
from tools.soak import soak
from tools.soak.world import ALARMS, PRESETS, World


class SystemMachine(RuleBasedStateMachine):
    w = None

    @initialize(seed=st.integers(1, 2**31 - 1), preset=st.sampled_from(sorted(PRESETS)))
    def boot(self, seed, preset):
        self.w = World(seed=seed, rx_fields=PRESETS[preset])
        self.w.wait(4000)

    @rule(hold_ms=st.integers(1050, 2500))
    def press(self, hold_ms):
        self.w.push(hold_ms)  # unchecked: a scheduled power cut may interrupt it

    @rule(hold_ms=st.integers(10, 950))
    def tap(self, hold_ms):
        self.w.tap(hold_ms)

    @rule(segments=st.lists(st.integers(1, 60), min_size=1, max_size=14), settle=st.booleans())
    def bounce(self, segments, settle):
        if settle:  # the noise ends in a real hold
            if len(segments) % 2 == 0:
                segments.append(5)
            segments.append(1200)
        self.w.bounce(segments)

    @rule(ms=st.integers(3000, 75000))
    def long_hold(self, ms):
        self.w.hold(ms)

    @rule(ms=st.integers(50, 20000))
    def wait(self, ms):
        self.w.wait(ms)

    @rule(minutes=st.integers(1, 240))
    def time_jump(self, minutes):
        self.w.jump(minutes * 60000)

    @rule(held=st.booleans(), near_wrap=st.booleans())
    def reboot(self, held, near_wrap):
        self.w.reboot(held=held, near_wrap=near_wrap)

    @rule(after_bytes=st.integers(0, 120))
    def power_cut(self, after_bytes):
        self.w.power_cut(after_bytes)

    @rule(down=st.booleans())
    def link_cut(self, down):
        self.w.link_down(down)

    @rule(
        loss=st.sampled_from((0.0, 0.1, 0.3, 0.6)),
        corrupt=st.sampled_from((0.0, 0.1, 0.3)),
        duplicate=st.sampled_from((0.0, 0.2, 0.5)),
        delay_ms=st.sampled_from((0, 20, 150, 600)),
    )
    def link_noise(self, loss, corrupt, duplicate, delay_ms):
        self.w.link_faults(loss, corrupt, duplicate, delay_ms)

    @rule()
    def link_clean(self):
        self.w.link_clean()

    @rule(delta_s=st.sampled_from([-7200, -600, -30, 30, 600, 3600, 86400]))
    def pump_clock(self, delta_s):
        self.w.pump_clock(delta_s)

    @rule()
    def pump_restart(self):
        self.w.pump_restart()

    @rule(alarm=st.sampled_from(ALARMS), on=st.booleans())
    def pump_alarm(self, alarm, on):
        if on:
            self.w.pump_alarm(alarm)
        else:
            self.w.pump_clear(alarm)

    @rule()
    def refill(self):
        self.w.refill()

    @invariant()
    def safe(self):
        if self.w is not None:
            assert self.w.violations == 0, self.w.checker.examples

    def teardown(self):
        if self.w is None:
            return
        self.w.checkpoint()
        self.w.final_log_check()
        assert self.w.violations == 0, self.w.checker.examples


SystemMachine.TestCase.settings = settings(
    max_examples=120,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
TestWholeSystem = SystemMachine.TestCase


# ---- the checks are not vacuous: break each guarantee on purpose ----------------------------
def _ready(preset="tight", seed=3):
    w = World(seed=seed, rx_fields=PRESETS[preset], reservoir_ul=10**6)
    w.wait(4000)
    return w


def test_a_handheld_and_pump_without_limits_are_caught(monkeypatch):
    monkeypatch.setattr(policy, "decide", lambda *a, **k: policy.Decision(True))
    monkeypatch.setattr(pump_mod.Pump, "check_bolus", lambda self, fields, now_s=None: 0)
    w = _ready()
    for _ in range(60):
        w.press(1100)
        w.wait(6000)
    assert w.checker.violations.get(inv.V_LOCKOUT)
    assert w.checker.violations.get(inv.V_MAX_24H)


def test_a_pump_applying_a_request_twice_is_caught(monkeypatch):
    real = pump_mod.Pump.bolus_request

    def forgetful(self, fields):
        self.boluses.pop(fields["request_id"], None)  # at-most-once table gone
        self._active = None
        return real(self, fields)

    monkeypatch.setattr(pump_mod.Pump, "bolus_request", forgetful)
    w = _ready()
    w.link_faults(duplicate=1.0)  # every frame arrives twice
    w.press()
    w.wait(3000)
    assert w.checker.violations.get(inv.V_DELIVERED_TWICE)


def test_a_hold_shorter_than_the_gesture_needs_is_caught(monkeypatch):
    from firmware import app as app_mod

    real = app_mod.g.Gesture.__init__

    def quick(self, clock, debounce_ms=30, hold_ms=1000, stuck_ms=60000):
        real(self, clock, debounce_ms, 200, stuck_ms)

    monkeypatch.setattr(app_mod.g.Gesture, "__init__", quick)
    w = _ready()
    w.tap(400)
    assert w.checker.violations.get(inv.V_GESTURE_SHORT)


def test_a_lost_log_record_is_caught():
    w = _ready()
    w.press()
    name = w.sys.log.names[w.sys.log._active]
    data = w.storage.files[name]
    w.storage.files[name] = data[: len(data) - 2 * ev.RECORD_SIZE] + data[len(data) - ev.RECORD_SIZE :]
    w.reboot()
    assert w.checker.violations.get(inv.V_LOG_LOST)


def test_a_pump_record_that_forgets_a_bolus_is_caught():
    w = _ready()
    w.press()
    w.wait(2000)
    rid = next(iter(w.checker.starts))
    w.pump.boluses.pop(rid)
    w.pump._order.remove(rid)
    w.pump_restart()
    assert w.checker.violations.get(inv.V_PUMP_LOST)


def test_a_request_never_settled_is_caught(monkeypatch):
    from firmware import link as link_mod

    monkeypatch.setattr(link_mod.LinkClient, "_on_record", lambda self, f, events: None)
    w = _ready()
    w.link_down(True)
    w.press()
    w.wait(3000)
    w.checkpoint()
    assert w.checker.violations.get(inv.V_OPEN)


# ---- the soak itself ----------------------------------------------------------------------------
def test_soak_runs_clean_for_a_few_thousand_steps():
    totals = soak.run_soak(3000, seed=11, episode_steps=1000, checkpoint_every=500)
    assert totals.violation_count == 0, totals.examples
    assert totals.delivered > 5 and totals.faults.get("power_cut", 0) > 5
    assert totals.faults.get("ticks_wrap", 0) > 0 and totals.faults.get("pump_restart", 0) > 0
    assert sum(totals.denied.values()) > 0


def test_soak_cli_prints_the_summary():
    out = subprocess.run(
        [sys.executable, "-m", "tools.soak", "--steps", "400", "--seed", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    for text in ("steps run:", "simulated time:", "faults injected:", "requests granted:", "requests denied:",
                 "boluses delivered:", "invariant violations: 0"):
        assert text in out.stdout


def test_soak_cli_refuses_bad_arguments_in_one_sentence():
    out = subprocess.run([sys.executable, "-m", "tools.soak", "--steps", "zero"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.startswith("soak: ") and "Traceback" not in out.stderr
