"""The bolus button gesture: debounce by stable samples, then press-and-hold for one request.

`g = Gesture(clock)`; call `g.update(clock.ticks_ms(), button.pressed())` every few ms. It
returns None or one event: PRESSED, HOLD_COMPLETE (the one request of this gesture), RELEASED,
TAP (let go too early: no request), STUCK (a fault: held too long, or down at boot) and
STUCK_CLEARED. Ticks are only compared with `clock.ticks_diff`, so the wrap does no harm.
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


PRESSED = "pressed"
HOLD_COMPLETE = "hold_complete"
RELEASED = "released"
TAP = "tap"
STUCK = "stuck"
STUCK_CLEARED = "stuck_cleared"

_DEBOUNCE_MS = const(30)  # a level counts once it has been unchanged this long
_HOLD_MS = const(1000)  # press-and-hold needed for a request
_STUCK_MS = const(60000)  # held longer than this: the button is stuck (a fault)
# ticks_diff only measures up to half the tick period (2**29 ms on 32-bit boards); a negative
# difference can only mean that much time passed unseen, so it is read as "very long".
_LONG_MS = const(0x1FFFFFFF)


class Gesture:
    """Turns raw button samples into gesture events (see the module docstring).
    `holding` is True while a press is on its way to HOLD_COMPLETE; `hold_progress(now)`
    (0..1) is for the patient's progress display."""

    def __init__(self, clock, debounce_ms=_DEBOUNCE_MS, hold_ms=_HOLD_MS, stuck_ms=_STUCK_MS, on_sample=None):
        if debounce_ms < 1:
            raise ValueError("debounce_ms must be at least 1")
        if hold_ms <= debounce_ms:
            raise ValueError("hold_ms must be longer than debounce_ms")
        if stuck_ms <= hold_ms or stuck_ms >= _LONG_MS:
            raise ValueError("stuck_ms must be longer than hold_ms and under 2**29")
        self._diff = clock.ticks_diff
        self._add = clock.ticks_add
        self.debounce_ms = debounce_ms
        self.hold_ms = hold_ms
        self.stuck_ms = stuck_ms
        self._started = False  # False until the first sample
        self._raw = False  # the last raw sample
        self._raw_since = 0  # ticks when the raw level last changed
        self._level = False  # the debounced level
        self._pressed_at = 0  # ticks when the current debounced press began
        self._completed = False  # this press has given its HOLD_COMPLETE
        self._stuck = False  # in the STUCK fault until a debounced release
        self.on_sample = on_sample  # observer seam for tools: on_sample(now, raw, event) after each sample

    def _elapsed(self, now, since):
        d = self._diff(now, since)
        return _LONG_MS if d < 0 else d

    @property
    def holding(self):
        return self._level and not self._completed and not self._stuck

    @property
    def stuck(self):
        return self._stuck

    @property
    def down(self):
        """True while the last sample or the debounced level is "pressed": a loop that cannot
        wake on the button's edges samples it finely then."""
        return self._raw or self._level

    def hold_progress(self, now):
        """How far the current hold is towards HOLD_COMPLETE, 0.0 .. 1.0."""
        if self._completed and self._level and not self._stuck:
            return 1.0
        if not self.holding or not self._raw:
            return 0.0
        held = self._elapsed(now, self._raw_since)
        if held >= self.hold_ms:
            return 1.0
        return held / self.hold_ms

    def update(self, now, raw_pressed):
        """Feed one raw sample taken at ticks `now`; returns an event constant or None.
        `on_sample(now, raw, event)`, when set, sees every sample and what it gave (the soak's
        checks watch the gesture through it); the handheld leaves it None."""
        raw = bool(raw_pressed)
        event = self._judge(now, raw)
        if self.on_sample is not None:
            self.on_sample(now, raw, event)
        return event

    def _judge(self, now, raw):
        if not self._started:
            self._started = True
            self._raw = raw
            self._raw_since = now
            self._level = raw
            if raw:  # down before we ever saw it up: never a request, a fault
                self._pressed_at = now
                self._stuck = True
                return STUCK
            return None
        if raw != self._raw:
            self._raw = raw
            self._raw_since = now
        if raw != self._level and self._elapsed(now, self._raw_since) >= self.debounce_ms:
            self._level = raw
            if raw:
                self._pressed_at = self._raw_since
                self._completed = False
                return PRESSED
            if self._stuck:
                self._stuck = False
                return STUCK_CLEARED
            if self._completed:
                return RELEASED
            return TAP
        if not self._level or self._stuck or not raw:
            return None  # (a release still being debounced is neither stuck nor a hold)
        if self._elapsed(now, self._pressed_at) >= self.stuck_ms:
            self._stuck = True
            return STUCK
        # The hold must be unbroken: any raw change, even a bounce too short to release the
        # debounced level, starts the hold time again.
        if not self._completed and self._elapsed(now, self._raw_since) >= self.hold_ms:
            self._completed = True
            return HOLD_COMPLETE
        return None

    def next_deadline(self, now):
        """The ticks at which `update` can next return an event with the button left as it
        was last sampled (a change of the button is an input, not a deadline): the end of
        the debounce, the hold or the stuck time; None when only an input can change
        anything. `now` itself before the first sample."""
        if not self._started:
            return now
        add = self._add
        if self._raw != self._level:
            return add(self._raw_since, self.debounce_ms)
        if not self._level or self._stuck:
            return None
        stuck = add(self._pressed_at, self.stuck_ms)
        if self._completed:
            return stuck
        hold = add(self._raw_since, self.hold_ms)
        return hold if self._diff(hold, stuck) < 0 else stuck

    def progress_change(self, now, steps):
        """The ticks at which `int(hold_progress(now) * steps)` (a progress bar of `steps`
        cells) next grows with the button held as it is; None when it cannot."""
        if not self.holding or not self._raw:
            return None
        held = self._elapsed(now, self._raw_since)
        if held >= self.hold_ms:
            return None
        bar = int(held / self.hold_ms * steps)
        h = max(held + 1, (bar + 1) * self.hold_ms // steps)
        while h < self.hold_ms and int(h / self.hold_ms * steps) <= bar:
            h += 1
        if h >= self.hold_ms:
            return None  # the full bar comes with HOLD_COMPLETE: `next_deadline` has that
        return self._add(self._raw_since, h)
