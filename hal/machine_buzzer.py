"""The buzzer on a PWM pin (passive piezo): `Buzzer(pin)`; `on(freq_hz)`, `off()`.

The app calls these every poll: the PWM is touched only when the tone changes. A 50 % duty
cycle gives the loudest square wave; off is duty 0 (the pin stays low).
"""

import machine

_HALF = 32768
_SILENT = 0


class Buzzer:
    def __init__(self, pin, freq_hz=1000):
        self._pwm = machine.PWM(machine.Pin(pin))
        self._pwm.freq(freq_hz)
        self._pwm.duty_u16(_SILENT)
        self.freq = 0

    def on(self, freq_hz):
        if freq_hz <= 0:
            self.off()
            return
        if freq_hz == self.freq:
            return
        self._pwm.freq(freq_hz)
        if not self.freq:
            self._pwm.duty_u16(_HALF)
        self.freq = freq_hz

    def off(self):
        if self.freq:
            self._pwm.duty_u16(_SILENT)
            self.freq = 0
