"""The hardware contract: the only things the firmware may ask of a board.

Each class documents one small interface. Implementations (machine-backed, host-backed,
fakes) subclass these or simply provide the same methods; the firmware never constructs
hardware itself, it is handed objects with these methods by `firmware.main`.
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
    `write(buf)` queues bytes and returns how many were taken. Neither blocks."""

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
    """Named byte files on flash. `append` may be torn by a power cut (a prefix of the data
    reaches flash); `replace` is atomic (old or new content, never a mix); `truncate` keeps the
    first `length` bytes (and reads no more than those). `read(name, limit)` returns the whole
    file, None when it does not exist, and raises Oversized when it holds more than `limit`
    bytes. Firmware always passes a limit; `limit=None` (no cap) is for host tools only."""

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
    """Resets the board unless `feed()` is called in time; fed only by a healthy main loop."""

    def feed(self) -> None:
        raise NotImplementedError
