"""Modular tick arithmetic exactly as MicroPython's `time.ticks_*` does it.

Used by the fake clock and by host clocks that must behave like a 32-bit board: ticks live in
[0, PERIOD), `diff` is signed and only meaningful for intervals under half a period.
"""

PERIOD = 1 << 30  # TICKS_PERIOD on 32-bit MicroPython boards
_MASK = PERIOD - 1
_HALF = PERIOD >> 1


def add(t, delta):
    return (t + delta) & _MASK


def diff(a, b):
    return ((a - b + _HALF) & _MASK) - _HALF
