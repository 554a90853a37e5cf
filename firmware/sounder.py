"""What the buzzer plays: one sound at a time, the highest priority first.

`Sounder(clock)` is polled with `update(now_ticks, alarms_high, alarms_medium)` and returns the
tone to play now (Hz, 0 for silence). A high-priority alarm pre-empts everything (IEC 60601-1-8
style fast pulses), a medium one sounds slower pulses; short feedback chirps (`chirp(kind)`:
given, denied) play only when no alarm is sounding.
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_HIGH_HZ = const(988)
_HIGH_ON_MS = const(150)
_HIGH_PERIOD_MS = const(400)
_MEDIUM_HZ = const(659)
_MEDIUM_ON_MS = const(300)
_MEDIUM_PERIOD_MS = const(2000)
_MEDIUM_SOUND_MS = const(10000)  # a medium alarm sounds this long after it is raised, then shows only

GIVEN = "given"
DENIED = "denied"
_CHIRPS = {GIVEN: ((1319, 120),), DENIED: ((440, 150), (0, 80), (440, 150))}


class Sounder:
    def __init__(self, clock):
        self.clock = clock
        self._t0 = clock.ticks_ms()
        self._medium_since = None
        self._chirp = None  # remaining [(hz, ms), ...]
        self._chirp_t = 0

    def medium_raised(self, now):
        """A medium-priority alarm was newly raised: sound it (again) for _MEDIUM_SOUND_MS."""
        self._medium_since = now

    def chirp(self, kind):
        self._chirp = list(_CHIRPS.get(kind, ()))
        self._chirp_t = self.clock.ticks_ms()

    def update(self, now, high, medium):
        age = self.clock.ticks_diff(now, self._t0)
        if high:
            self._chirp = None
            return _HIGH_HZ if age % _HIGH_PERIOD_MS < _HIGH_ON_MS else 0
        if medium and self._medium_since is not None:
            since = self.clock.ticks_diff(now, self._medium_since)
            if 0 <= since < _MEDIUM_SOUND_MS:
                return _MEDIUM_HZ if age % _MEDIUM_PERIOD_MS < _MEDIUM_ON_MS else 0
            self._medium_since = None  # sounded its time: shown from now on, until raised again
        elif not medium:
            self._medium_since = None
        return self._chirp_tone(now)

    def _chirp_tone(self, now):
        while self._chirp:
            hz, ms = self._chirp[0]
            if self.clock.ticks_diff(now, self._chirp_t) < ms:
                return hz
            self._chirp_t = self.clock.ticks_add(self._chirp_t, ms)
            self._chirp.pop(0)
        self._chirp = None
        return 0

    def next_change(self, now, high, medium):
        """The ticks at which `update(..., high, medium)` may next return another tone with the
        alarms as they are now: the next edge of an alarm's pulse, the end of a medium
        alarm's sounding time or of a chirp's note; None when the tone holds until something
        else happens."""
        clock = self.clock
        if high:
            return clock.ticks_add(now, _until_edge(clock.ticks_diff(now, self._t0), _HIGH_ON_MS, _HIGH_PERIOD_MS))
        if medium and self._medium_since is not None:
            since = clock.ticks_diff(now, self._medium_since)
            if 0 <= since < _MEDIUM_SOUND_MS:
                edge = _until_edge(clock.ticks_diff(now, self._t0), _MEDIUM_ON_MS, _MEDIUM_PERIOD_MS)
                return clock.ticks_add(now, min(edge, _MEDIUM_SOUND_MS - since))
            return now  # update() ends the sounding time at once
        if self._chirp:
            return clock.ticks_add(self._chirp_t, self._chirp[0][1])
        return None


def _until_edge(age, on_ms, period_ms):
    """ms from `age` (ms into a pulse train) to the next switch on or off."""
    phase = age % period_ms
    return on_ms - phase if phase < on_ms else period_ms - phase
