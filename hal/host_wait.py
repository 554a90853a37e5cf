"""The host board's sleep: wait for the app's next deadline or an input, whichever comes first.

`HostWait()` is the `wait` role of `boards/host`; `firmware.main.Superloop` calls `watch(hal)`
once and then `wait(ms)` between polls. It blocks in one `select.poll` on the serial device
(a byte from the pump wakes it at once: no 10 ms poll stands between a reply and the app) and,
when the button is read from stdin, on stdin (a "button down" line wakes it). A button read
from a file has no edge to wait on: `wakes_on_button()` is then False and the superloop
bounds the sleep so it samples the file often enough (firmware/main.py). A device that hung
up (POLLHUP or POLLERR) does not end the wait: the rest of it is slept, not spun.
Runs on the MicroPython unix port and on CPython.
"""

import select
import time

_POLLIN = select.POLLIN
_NO_DATA = select.POLLHUP | select.POLLERR


class HostWait:
    def __init__(self):
        self._poll = select.poll()
        self._button = None  # the stdin button, while its input is open
        self._stream = None  # ... and the stream registered for it
        self._speed = 1

    def watch(self, hal):
        """Register the inputs that end a wait: the serial device, a stdin button."""
        self._speed = getattr(hal.get("clock"), "speed", 1) or 1
        serial = hal.get("serial")
        if serial is not None and hasattr(serial, "fileno") and serial.fileno() >= 0:
            self._poll.register(serial.fileno(), _POLLIN)
        button = hal.get("button")
        stream = button.wake_stream() if button is not None and hasattr(button, "wake_stream") else None
        if stream is not None:
            self._button = button
            self._stream = stream
            self._poll.register(stream, _POLLIN)

    def wakes_on_button(self):
        return self._button is not None

    def wait(self, ms):
        """Sleep up to `ms` ms of the board clock; return early when an input is ready."""
        if ms <= 0:
            return
        if self._speed != 1:
            ms = int(ms / self._speed)
        stream = self._stream
        if stream is not None and self._button is not None and self._button.wake_stream() is None:
            self._poll.unregister(stream)  # stdin ended: the level stays, nothing to wait on
            self._button = self._stream = None
        t0 = _now_ms()
        ready = self._poll.poll(ms)
        if not ready:
            return
        for entry in ready:
            if not entry[1] & _NO_DATA:  # readable, and not hung up
                return
        # Woken by a hang-up only (a pty whose other end closed reports POLLIN|POLLHUP|POLLERR
        # for ever, with nothing to read): sleep what is left instead of waking again at once.
        left = ms - _since(t0)
        if left > 0:
            time.sleep(left / 1000)


def _now_ms():
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()  # type: ignore[attr-defined]  # MicroPython
    return int(time.monotonic() * 1000)  # type: ignore[attr-defined]  # CPython only


def _since(t0):
    if hasattr(time, "ticks_diff"):
        return time.ticks_diff(time.ticks_ms(), t0)  # type: ignore[attr-defined]
    return _now_ms() - t0
