"""The HAL clock on a host: the MicroPython unix port or CPython.

`HostClock()` uses MicroPython's own `time.ticks_*` when they exist; otherwise (CPython), or
when `speed` (time acceleration: 10 = ten times faster) or `start` (first tick value, e.g.
just below the wrap) is given, it emulates a 32-bit board's ticks that wrap at 2**30 with
`hal.ticks`. `speed_env` names an environment variable that may hold the speed factor.
"""

import os
import time

from hal import ticks

try:
    _native_ms = time.ticks_ms  # type: ignore[attr-defined]
    _native_diff = time.ticks_diff  # type: ignore[attr-defined]
    _native_add = time.ticks_add  # type: ignore[attr-defined]
    _NATIVE = True
except AttributeError:
    _NATIVE = False


def _host_ms():
    """Milliseconds from an arbitrary origin, never wrapping on the host (64-bit)."""
    if _NATIVE:
        return _native_ms()
    return time.monotonic_ns() // 1000000  # type: ignore[attr-defined]  # CPython only


def _host_elapsed(t0):
    if _NATIVE:
        return _native_diff(_native_ms(), t0)
    return _host_ms() - t0


def _host_sleep(ms):
    if ms <= 0:
        return
    # One sleep call: the unix port's sleep_ms wakes every 0.5 ms (about 1600 wake-ups a
    # second at a 10 ms poll, 6 % of a core idle); time.sleep sleeps once (1.7 %).
    time.sleep(ms / 1000)


def _env_speed(name):
    if not name:
        return None
    text = os.getenv(name)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError("%s=%r is not a number" % (name, text))
    return value


class HostClock:
    """Millisecond ticks for the firmware on a host; see the module docstring."""

    def __init__(self, speed=None, start=None, speed_env=None):
        if speed is None:
            speed = _env_speed(speed_env)
        if speed is not None and speed <= 0:
            raise ValueError("clock speed must be positive, not %r" % (speed,))
        self.speed = speed or 1
        self.emulated = (not _NATIVE) or speed not in (None, 1) or start is not None
        self._t0 = _host_ms()
        self._start = (start or 0) & (ticks.PERIOD - 1)
        if not self.emulated:
            # Straight through to MicroPython's own functions: no wrapper cost.
            self.ticks_ms = _native_ms
            self.ticks_diff = _native_diff  # type: ignore[assignment]  # the same signature, a builtin
            self.ticks_add = _native_add  # type: ignore[assignment]

    def ticks_ms(self):
        elapsed = _host_elapsed(self._t0)
        if self.speed != 1:
            elapsed = int(elapsed * self.speed)
        return ticks.add(self._start, elapsed)

    def ticks_diff(self, a, b):
        return ticks.diff(a, b)

    def ticks_add(self, t, delta):
        return ticks.add(t, delta)

    def sleep_ms(self, ms):
        """Sleep `ms` of this clock's time (ms / speed on the host's clock)."""
        if self.speed != 1:
            ms = int(ms / self.speed)
        _host_sleep(ms)
