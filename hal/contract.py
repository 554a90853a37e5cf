"""The hardware contract: the only things the firmware may ask of a board.

Each class documents one small interface. Implementations (machine-backed, host-backed,
fakes) subclass these or simply provide the same methods with the same parameters
(`tests/test_hal_contract.py` checks every one); the firmware never constructs hardware
itself, it is handed objects with these methods by `firmware.main`. Errors: each interface
says what a failure looks like; an exception nobody handles (OSError from storage, say) ends
in the handheld's fault state (`firmware.main.Superloop`: no dose, "Handheld fault").
"""

# Indicator colours the app may ask for; a board with one plain LED maps them to on/off/blink.
OFF = "off"
GREEN = "green"  # a dose is available
AMBER = "amber"  # waiting: request in flight, lockout, not yet synchronised
RED = "red"  # not given, alarm, fault


class Button:
    """One push button. `pressed()` is the raw, undebounced level: True while held down."""

    def pressed(self) -> bool:
        raise NotImplementedError


class Indicator:
    """The dose-available light: `set(colour, blink)` with a colour from this module."""

    def set(self, colour: str, blink: bool = False) -> None:
        raise NotImplementedError


class Buzzer:
    """A tone generator: `on(freq_hz)` starts a tone, `off()` stops it. Never blocks."""

    def on(self, freq_hz: int) -> None:
        raise NotImplementedError

    def off(self) -> None:
        raise NotImplementedError


class Display:
    """A small text display: `show(lines)` replaces the screen with up to 4 lines of 16 chars."""

    def show(self, lines) -> None:
        raise NotImplementedError


class Serial:
    """A byte stream to the pump. `read(n)` returns up to n bytes, or None when nothing came;
    `write(buf)` queues bytes and returns how many were taken (0 when the port cannot take
    any). Neither blocks. Bytes not taken are lost, as on a noisy line: the link's CRC,
    timeouts and resends handle a frame that went out short."""

    def read(self, n: int):
        raise NotImplementedError

    def write(self, buf) -> int:
        raise NotImplementedError


class Clock:
    """Millisecond ticks with MicroPython semantics: `ticks_ms()` wraps (at 2**30 on boards),
    so intervals are only ever taken with `ticks_diff(a, b)` (signed a - b) and moved with
    `ticks_add(t, delta)`. `sleep_ms(ms)` yields the CPU (fakes advance time instead)."""

    def ticks_ms(self) -> int:
        raise NotImplementedError

    def ticks_diff(self, a: int, b: int) -> int:
        raise NotImplementedError

    def ticks_add(self, t: int, delta: int) -> int:
        raise NotImplementedError

    def sleep_ms(self, ms: int) -> None:
        raise NotImplementedError


class Oversized(Exception):
    """Raised by `Storage.read(name, limit)` for a file longer than `limit` bytes, before any
    of it is read (a 300 KB file must not cost 300 KB of heap): `.name`, `.size`, `.limit`."""

    def __init__(self, name, size, limit):
        super().__init__("%s is %d bytes, more than %d" % (name, size, limit))
        self.name = name
        self.size = size
        self.limit = limit


class Storage:
    """Named byte files on flash.

    `read(name, limit)` returns the whole file, None when it does not exist, and raises
    Oversized when it holds more than `limit` bytes (checked before anything is read). Firmware
    always passes a limit; `limit=None` (no cap) is for host tools only.
    `append` adds every byte of `data` or raises: a short write is continued, never silently
    truncated; a power cut may still leave a prefix on flash (a torn record, which the event
    log drops at its next open). `replace` is atomic (old or new content, never a mix).
    `size(name)` is 0 for a missing file. `truncate` keeps the first `length` bytes (and reads
    no more than those). `remove` of a missing file does nothing.

    Errors: only a missing file is "empty". Any other failure (an I/O error, a file that exists
    but cannot be opened or read, a full or failing flash) raises OSError to the caller, from
    every method: a log that cannot be read is a fault, not a fresh device (the handheld then
    stops in its fault state and grants nothing, `firmware.main.Superloop`), and a write that
    did not complete must not look committed."""

    def read(self, name: str, limit=None):
        raise NotImplementedError

    def append(self, name: str, data) -> None:
        raise NotImplementedError

    def replace(self, name: str, data) -> None:
        raise NotImplementedError

    def size(self, name: str) -> int:
        raise NotImplementedError

    def truncate(self, name: str, length: int) -> None:
        raise NotImplementedError

    def remove(self, name: str) -> None:
        raise NotImplementedError


class Watchdog:
    """Resets the board unless `feed()` is called in time; fed only by a healthy main loop.
    `caused_last_reset()` is True when this boot follows a reset by the watchdog (False after
    power-on, or where the port cannot tell)."""

    def feed(self) -> None:
        raise NotImplementedError

    def caused_last_reset(self) -> bool:
        raise NotImplementedError


class Wait:
    """The main loop's sleep (optional; without one the loop uses `Clock.sleep_ms`):
    `watch(hal)` is called once with the dict of HAL objects by role; `wait(ms)` sleeps up to
    `ms` ms and returns early when an input is ready (a byte from the pump, and a button edge
    when `wakes_on_button()` is True). Returning early is always allowed; sleeping past `ms`
    is not."""

    def watch(self, hal) -> None:
        raise NotImplementedError

    def wakes_on_button(self) -> bool:
        raise NotImplementedError

    def wait(self, ms: int) -> None:
        raise NotImplementedError
