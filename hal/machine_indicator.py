"""The dose-available light on a board, three kinds: `RgbIndicator((r, g, b))` (an RGB LED on
three PWM pins), `LedIndicator(pin)` (one plain LED, e.g. the on-board "LED") and
`NeoPixelIndicator(pin)` (a WS2812 on boards that have one).

`set(colour, blink)` is called by the app on every poll; blinking is worked out on each call
(a `_Phase` measured with ticks_diff, so the 2**30 wrap does not matter) and the pins are
written only when their state changes.
A plain LED cannot show colours, so each colour gets its own pattern (see `_PATTERNS`).
"""

import time

import machine

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_BLINK_ON_MS = const(500)  # blink: 1 Hz, half on
_BLINK_PERIOD_MS = const(1000)
_FULL = const(65535)

# Plain LED: (on_ms, period_ms) per (colour, blink). period 0 means steady (on_ms 1 = on).
_PATTERNS = {
    ("off", False): (0, 0),
    ("off", True): (0, 0),
    ("green", False): (1, 0),  # steady on: a dose is available
    ("green", True): (500, 1000),
    ("amber", False): (100, 2000),  # short blip: waiting
    ("amber", True): (100, 1000),
    ("red", False): (150, 300),  # fast flash: not given, alarm, fault
    ("red", True): (150, 300),
}

# RGB duty (0..65535) per colour; amber is red with a little green.
_RGB = {"off": (0, 0, 0), "green": (0, _FULL, 0), "amber": (_FULL, 20000, 0), "red": (_FULL, 0, 0)}


class _Phase:
    """Where we are in a repeating on/off pattern, restarted whenever the pattern changes."""

    def __init__(self):
        self._t0 = time.ticks_ms()
        self._pattern = (0, 0)

    def lit(self, on_ms, period_ms):
        if period_ms <= 0:
            return on_ms > 0
        now = time.ticks_ms()
        if (on_ms, period_ms) != self._pattern:
            self._pattern = (on_ms, period_ms)
            self._t0 = now
        age = time.ticks_diff(now, self._t0)
        if age >= period_ms or age < 0:
            self._t0 = now  # a new period starts (a late poll only shortens this one)
            age = 0
        return age < on_ms


class RgbIndicator:
    def __init__(self, pins, active_low=False, freq_hz=1000):
        self._pwms = []
        for pin in pins:
            pwm = machine.PWM(machine.Pin(pin))
            pwm.freq(freq_hz)
            self._pwms.append(pwm)
        self._active_low = active_low
        self._phase = _Phase()
        self._shown = _RGB["off"]
        self.colour = "off"
        self.blink = False
        self._write(_RGB["off"])

    def set(self, colour, blink=False):
        self.colour = colour
        self.blink = blink
        lit = self._phase.lit(_BLINK_ON_MS, _BLINK_PERIOD_MS) if blink else True
        rgb = _RGB.get(colour, _RGB["red"]) if lit else _RGB["off"]
        if rgb is not self._shown:
            self._write(rgb)

    def _write(self, rgb):
        self._shown = rgb
        for i in range(len(self._pwms)):
            duty = rgb[i] if i < 3 else 0
            self._pwms[i].duty_u16(_FULL - duty if self._active_low else duty)


class LedIndicator:
    def __init__(self, pin="LED", active_low=False):
        self._pin = machine.Pin(pin, machine.Pin.OUT)
        self._on = 0 if active_low else 1
        self._level = -1
        self._phase = _Phase()
        self.colour = "off"
        self.blink = False
        self._apply(False)

    def set(self, colour, blink=False):
        self.colour = colour
        self.blink = blink
        on_ms, period_ms = _PATTERNS.get((colour, bool(blink)), _PATTERNS[("red", False)])
        self._apply(self._phase.lit(on_ms, period_ms))

    def _apply(self, lit):
        level = self._on if lit else 1 - self._on
        if level != self._level:
            self._level = level
            self._pin.value(level)


class NeoPixelIndicator:
    def __init__(self, pin, count=1, index=0, level=40):
        import neopixel

        self._np = neopixel.NeoPixel(machine.Pin(pin, machine.Pin.OUT), count)
        self._index = index
        half = level * 2 // 5
        self._colours = {"off": (0, 0, 0), "green": (0, level, 0), "amber": (level, half, 0), "red": (level, 0, 0)}
        self._phase = _Phase()
        self._shown = self._colours["off"]
        self.colour = "off"
        self.blink = False
        self._write(self._colours["off"])

    def set(self, colour, blink=False):
        self.colour = colour
        self.blink = blink
        lit = self._phase.lit(_BLINK_ON_MS, _BLINK_PERIOD_MS) if blink else True
        rgb = self._colours.get(colour, self._colours["red"]) if lit else self._colours["off"]
        if rgb is not self._shown:
            self._write(rgb)

    def _write(self, rgb):
        self._shown = rgb
        self._np[self._index] = rgb
        self._np.write()
