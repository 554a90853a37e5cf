"""The hardware watchdog: `Watchdog(timeout_ms)`; `feed()` from the healthy main loop only.

A started watchdog cannot be stopped, and a board at the REPL (a developer, `mpremote`,
`tools.deploy`) does not feed it. `keep_fed()` therefore arms it and feeds it from a timer;
the deployed boot.py calls it on every reset, and constructing `Watchdog` stops that timer so
from then on only `feed()` keeps the board alive. `Watchdog.keep_fed()` hands back to the
timer, e.g. when the firmware is interrupted with Ctrl-C.
"""

import machine

_FEED_PERIOD_MS = 1000
_wdt = None  # the one WDT object of this boot
_timer = None  # the timer feeding it while nobody else does


def _arm(timeout_ms):
    global _wdt
    if _wdt is None:
        _wdt = machine.WDT(timeout=timeout_ms)
    return _wdt


def keep_fed(timeout_ms=5000, timer_id=-1):
    """Arm the watchdog and feed it from timer `timer_id` until `stop_keeping()`."""
    global _timer
    stop_keeping()
    feed = _arm(timeout_ms).feed
    feed()
    timer = machine.Timer(timer_id)
    timer.init(mode=machine.Timer.PERIODIC, period=_FEED_PERIOD_MS, callback=lambda _t: feed())
    _timer = timer


def stop_keeping():
    global _timer
    if _timer is not None:
        _timer.deinit()
        _timer = None


class Watchdog:
    def __init__(self, timeout_ms=5000, timer_id=-1):
        self.timeout_ms = timeout_ms
        self.timer_id = timer_id
        stop_keeping()
        self._wdt = _arm(timeout_ms)
        self._wdt.feed()

    def feed(self):
        self._wdt.feed()

    def caused_last_reset(self):
        try:
            return machine.reset_cause() == machine.WDT_RESET
        except AttributeError:  # a port without reset causes: as after power-on
            return False

    def keep_fed(self):
        keep_fed(self.timeout_ms, self.timer_id)
