"""The patient's button on a GPIO: `Button(pin)`; `pressed()` is the raw level, polled.

Wired to GND with the internal pull-up (active low) by default. With `irq=True` an edge
interrupt also counts edges and sets `changed` (for a loop that sleeps until something
happens); `on_edge(level)` is then called through `micropython.schedule`, never from the
interrupt itself: the handler allocates nothing (a bound method cached in __init__, ints).
"""

import machine
import micropython

_EDGE_MASK = 0x3FFFFFFF  # keep the edge counter a small int: no allocation in the handler


class Button:
    def __init__(self, pin, pull_up=True, active_low=True, irq=False, on_edge=None, hard=True):
        if pull_up:
            self._pin = machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP)
        else:  # an external resistor holds the line
            self._pin = machine.Pin(pin, machine.Pin.IN)
        self._value = self._pin.value  # bound once: pressed() runs every poll
        self._active = 0 if active_low else 1
        self.irq = irq  # edges set `changed`: a sleeping loop can wake on them (hal/machine_wait.py)
        self.edges = 0
        self.changed = False
        self._on_edge = on_edge
        self._scheduled = False
        self._deliver_ref = self._deliver  # allocated here, not in the handler
        if irq:
            trigger = machine.Pin.IRQ_FALLING | machine.Pin.IRQ_RISING
            self._pin.irq(handler=self._irq, trigger=trigger, hard=hard)

    def pressed(self):
        return self._value() == self._active

    def take_changed(self):
        """True once after one or more edges; clears the flag."""
        changed = self.changed
        self.changed = False
        return changed

    def _irq(self, _pin):
        self.changed = True
        self.edges = (self.edges + 1) & _EDGE_MASK
        if self._on_edge is not None and not self._scheduled:
            self._scheduled = True  # at most one pending call: the schedule queue never fills
            micropython.schedule(self._deliver_ref, 0)

    def _deliver(self, _arg):
        self._scheduled = False
        callback = self._on_edge
        if callback is not None:
            callback(self.pressed())
