"""The random soak: a million cheap steps of patient actions and injected faults.

`run_soak(steps, seed, progress=print_fn)` returns a `Totals`; each step is one action drawn
from `ACTIONS` (a press, a wait, a power cut, a link fault, ...) on a `World`. Every
`episode_steps` a fresh world starts with the next prescription preset; every
`checkpoint_every` steps the link is made clean and every request must settle.
"""

import time

from hal import fakes
from tools.soak.world import ALARMS, PRESETS, World

JUMP_MINUTES = (1, 2, 5, 10, 30, 60, 120, 240)

# (weight, action name); the names are World methods driven by `perform`.
ACTIONS = (
    (12, "press"),
    (4, "tap"),
    (3, "bounce"),
    (0.5, "long_hold"),
    (24, "wait"),
    (5, "jump"),
    (1.5, "reboot"),
    (2, "power_cut"),
    (1.5, "link_cut"),
    (2.5, "link_restore"),
    (3, "link_noise"),
    (3, "link_clean"),
    (0.7, "pump_restart"),
    (0.4, "alarm_raise"),
    (1.6, "alarm_clear"),
)
# The pump's clock being set (forward or back, `Pump.set_clock`). On by default since the pump
# counts its limits on a monotonic clock; `clock_sets=False` leaves it out.
CLOCK_ACTIONS = ((0.3, "pump_clock"),)


def pick(rng, actions=ACTIONS):
    total = sum(w for w, _ in actions)
    x = rng.below(1 << 24) * total / float(1 << 24)
    for w, name in actions:
        if x < w:
            return name
        x -= w
    return actions[-1][1]


def _between(rng, lo, hi):
    return lo + rng.below(hi - lo + 1)


def _choice(rng, seq):
    return seq[rng.below(len(seq))]


def bounce_segments(rng):
    segs = [_between(rng, 2, 60) for _ in range(_between(rng, 2, 12))]
    if rng.chance(0.3):  # the contact settles down: a real hold after the noise
        if len(segs) % 2 == 0:
            segs.append(_between(rng, 2, 20))
        segs.append(_between(rng, 1000, 1600))
    return segs


def perform(world, name, rng):
    """Carry out action `name` with parameters drawn from `rng`."""
    if name == "press":
        world.push(_between(rng, 1050, 2500))  # a scheduled power cut may interrupt it
    elif name == "tap":
        world.tap(_between(rng, 20, 950))
    elif name == "bounce":
        world.bounce(bounce_segments(rng))
    elif name == "long_hold":
        world.hold(_between(rng, 3000, 90000))
    elif name == "wait":
        world.wait(_between(rng, 100, 10000))
    elif name == "jump":
        minutes = _choice(rng, JUMP_MINUTES)
        world.jump(_between(rng, minutes * 30000, minutes * 60000))
    elif name == "reboot":
        world.reboot(held=rng.chance(0.1), near_wrap=rng.chance(0.2))
    elif name == "power_cut":
        world.power_cut(rng.below(80))
    elif name == "link_cut":
        world.link_down(True)
    elif name == "link_restore":
        world.link_down(False)
    elif name == "link_noise":
        world.link_faults(
            loss=_choice(rng, (0.0, 0.05, 0.2, 0.5)),
            corrupt=_choice(rng, (0.0, 0.05, 0.2)),
            duplicate=_choice(rng, (0.0, 0.1, 0.3)),
            delay_ms=_choice(rng, (0, 0, 30, 100, 400)),
        )
    elif name == "link_clean":
        world.link_clean()
    elif name == "pump_restart":
        world.pump_restart()
    elif name == "alarm_raise":
        world.pump_alarm(_choice(rng, ALARMS))
    elif name == "alarm_clear":
        world.pump_clear(_choice(rng, ALARMS))
    elif name == "pump_clock":
        world.pump_clock(_choice(rng, (-1, 1)) * _choice(rng, (30, 600, 3600, 7200)))
    else:
        raise ValueError("unknown action %r" % name)
    if world.pump.reservoir_ug < 20 * world.rx.dose_ug:  # the clinic refills in time
        world.refill()


class Totals:
    """What a soak did, summed over its episodes."""

    def __init__(self):
        self.steps = 0
        self.sim_ms = 0
        self.polls = 0
        self.wall_s = 0.0
        self.episodes = 0
        self.faults = {}
        self.actions = {}
        self.link_faults = {}
        self.denied = {}
        self.pump_refused = {}
        self.pump_outcomes = {}
        self.kinds = {}
        self.hold_completes = 0
        self.granted = 0
        self.delivered = 0
        self.torn_tails = 0
        self.torn_bytes = 0
        self.log_checks = 0
        self.committed = 0
        self.refills = 0
        self.violations = {}
        self.examples = []

    @property
    def violation_count(self):
        return sum(self.violations.values())

    def add(self, world):
        c = world.checker
        self.episodes += 1
        self.sim_ms += world.elapsed_ms
        self.polls += world.polls
        _merge(self.faults, world.faults)
        _merge(self.link_faults, {k: v for k, v in world.pair.faults.items() if v})
        _merge(self.denied, c.denied)
        _merge(self.pump_refused, c.pump_refused)
        _merge(self.pump_outcomes, c.pump_outcomes)
        _merge(self.kinds, c.kinds)
        _merge(self.violations, c.violations)
        self.examples += ["episode %d (seed %d): %s" % (self.episodes, world.seed, x) for x in c.examples]
        self.hold_completes += c.hold_completes
        self.granted += len(c.granted)
        self.delivered += len(c.starts)
        self.torn_tails += c.torn_tails
        self.torn_bytes += c.torn_bytes
        self.log_checks += c.log_checks
        self.committed += c.committed
        self.refills += world.refills


def _merge(into, d):
    for k in d:
        into[k] = into.get(k, 0) + d[k]


def run_soak(steps, seed=1, episode_steps=50000, checkpoint_every=2000, presets=None, progress=None, progress_every=10000, clock_sets=True):
    """Run `steps` steps; returns Totals. `progress(done, totals, world, wall_s)` is called
    every `progress_every` steps; `clock_sets` adds the pump-clock action (CLOCK_ACTIONS)."""
    actions = ACTIONS + CLOCK_ACTIONS if clock_sets else ACTIONS
    names = list(presets or sorted(PRESETS))
    totals = Totals()
    rng = fakes.Rng(seed)
    t0 = time.perf_counter()
    done = 0
    episode = 0
    while done < steps:
        n = min(episode_steps, steps - done)
        preset = names[episode % len(names)]
        world = World(seed=seed * 1000003 + episode, rx_fields=PRESETS[preset])
        world.preset = preset
        for i in range(n):
            name = pick(rng, actions)
            totals.actions[name] = totals.actions.get(name, 0) + 1
            perform(world, name, rng)
            done += 1
            if (i + 1) % checkpoint_every == 0 or i + 1 == n:
                world.checkpoint()
            if progress is not None and done % progress_every == 0:
                progress(done, totals, world, time.perf_counter() - t0)
        world.final_log_check()
        totals.add(world)
        episode += 1
    totals.steps = done
    totals.wall_s = time.perf_counter() - t0
    return totals
