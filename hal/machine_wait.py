"""The main loop's sleep on a board: until the app's next deadline, a button edge or a UART byte.

`Wait(slice_ms=5, light=False)` is the `wait` role of the board files; `firmware.main.Superloop`
calls `watch(hal)` once, then `wait(ms)` between polls. It sleeps in `time.sleep_ms` slices of
at most `slice_ms` (the CPU waits for an interrupt, every peripheral runs, so the UART keeps
filling its receive buffer) and returns as soon as the button's edge interrupt has fired
(`hal.machine_button.Button(irq=True)` sets `changed`) or the UART holds a byte (`any()`):
an edge or a reply is seen within `slice_ms`, and a wake-up in between costs two checks, not a
poll of the app. A slice, not one `sleep_ms(ms)`: the port's `sleep_ms` does not return early
on an interrupt, and `machine.idle()` may wait for an interrupt that never comes.

`light=True` sleeps with `machine.lightsleep` instead (the clocks stop; the board wakes on its
timer or on the button pin where the port supports that), but only while no byte is waiting:
the UART cannot receive while its clock is stopped, so a pump frame arriving then is lost (a
reply is resent after the 250 ms timeout; an ALARM frame is repeated by the next status poll,
within 5 s). No shipped board turns it on; docs/benchmarks.md shows what it would save.
"""

import machine
import time


class Wait:
    def __init__(self, slice_ms=5, light=False):
        if slice_ms < 1:
            raise ValueError("slice_ms must be at least 1")
        self.slice_ms = slice_ms
        self.light = light
        self._button = None  # a Button with its edge interrupt on
        self._any = None  # the UART's any()

    def watch(self, hal):
        button = hal.get("button")
        if button is not None and getattr(button, "irq", False):
            self._button = button
        serial = hal.get("serial")
        if serial is not None and hasattr(serial, "any"):
            self._any = serial.any

    def wakes_on_button(self):
        return self._button is not None

    def wait(self, ms):
        if ms <= 0:
            return
        end = time.ticks_add(time.ticks_ms(), ms)
        button = self._button
        any_ = self._any
        while True:
            if button is not None and button.take_changed():
                return
            if any_ is not None and any_():
                return
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                return
            if self.light:
                machine.lightsleep(left)
            else:
                time.sleep_ms(left if left < self.slice_ms else self.slice_ms)
