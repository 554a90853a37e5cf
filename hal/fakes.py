"""Test doubles for every contract in `hal.contract`; they run on CPython and MicroPython.

They behave like the real parts: the clock wraps at 2**30, `Serial.read` returns None when
nothing came, storage can lose power part-way through any write, and the serial pair can
drop, corrupt, duplicate and delay bytes (the link-fault model of `hal.linkfaults`), all
driven by a seeded generator so a run repeats.
"""

from hal import ticks
from hal.contract import OFF, Oversized
from hal.linkfaults import LinkFaults, Rng  # noqa: F401  (Rng: imported from here by the tests)


class FakeClock:
    """A clock you advance by hand. Starts at `start` ticks (choose one just below 2**30 to
    exercise the wrap); `sleep_ms` advances it."""

    def __init__(self, start=0):
        self.now = start & (ticks.PERIOD - 1)
        self.elapsed_ms = 0  # monotonic total, for tests that need absolute time

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, a, b):
        return ticks.diff(a, b)

    def ticks_add(self, t, delta):
        return ticks.add(t, delta)

    def advance(self, ms):
        self.now = ticks.add(self.now, ms)
        self.elapsed_ms += ms

    def sleep_ms(self, ms):
        self.advance(ms)


class ScriptedButton:
    """A button whose level the test sets, or that follows a script of (at_ms, level) steps
    judged against `clock.elapsed_ms`."""

    def __init__(self, clock=None, script=None):
        self.clock = clock
        self.script = list(script or [])
        self.level = False

    def set(self, level):
        self.level = bool(level)

    def pressed(self):
        if self.clock is not None:
            while self.script and self.script[0][0] <= self.clock.elapsed_ms:
                self.level = bool(self.script.pop(0)[1])
        return self.level


class FakeIndicator:
    def __init__(self):
        self.colour = OFF
        self.blink = False
        self.history = []

    def set(self, colour, blink=False):
        if colour != self.colour or blink != self.blink:  # no tuple per call: a poll's garbage is measured
            self.history.append((colour, blink))
        self.colour = colour
        self.blink = blink


class FakeBuzzer:
    def __init__(self):
        self.freq = 0
        self.tones = 0  # how many times a tone was started

    def on(self, freq_hz):
        if not self.freq:
            self.tones += 1
        self.freq = freq_hz

    def off(self):
        self.freq = 0


class FakeDisplay:
    def __init__(self):
        self.lines = []
        self.history = []

    def show(self, lines):
        lines = list(lines)
        if lines != self.lines:
            self.history.append(lines)
        self.lines = lines

    def text(self):
        return " / ".join(self.lines)


class FakeWatchdog:
    """Counts feeds; `reset=True`: this boot follows a reset by the watchdog."""

    def __init__(self, reset=False):
        self.feeds = 0
        self.reset = reset

    def feed(self):
        self.feeds += 1

    def caused_last_reset(self):
        return self.reset


class Faulty:
    """Any HAL object whose methods can be made to raise: `Faulty(FakeDisplay())` behaves like
    the display until `fail("show", ValueError("x"), times=1)`; then the next `times` calls
    of `show` raise (times=-1: every call). `raised` counts the exceptions thrown. For testing
    what the firmware does with an error nobody expected."""

    def __init__(self, inner):
        self.inner = inner
        self.plan = {}  # method name -> [exception, calls left to fail]
        self.raised = 0

    def fail(self, method, exc, times=1):
        self.plan[method] = [exc, times]

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        plan = self.plan.get(name)
        if plan is None:
            return attr

        def call(*args):
            if plan[1] == 0:
                return attr(*args)
            if plan[1] > 0:
                plan[1] -= 1
            self.raised += 1
            raise plan[0]

        return call


class PowerLoss(Exception):
    """Raised by MemStorage when the scheduled power cut happens; the board is now off."""


class MemStorage:
    """In-memory flash. `cut_after(n)` makes power fail after n more bytes have been written:
    the write in progress keeps its first bytes and raises PowerLoss. `replace` is atomic,
    as on a file system that renames (it writes nothing before the cut point). Reads never
    fail (wrap it in `Faulty` to make them). Observer seams for tools that watch the
    firmware's writes: `on_write(op, name, data or length)`, when given, is called as each
    append, replace, truncate or remove begins (a power cut may then tear it);
    `on_append(name, data)` after each append that completed (committed), not after a torn one."""

    def __init__(self, on_append=None, on_write=None):
        self.on_append = on_append
        self.on_write = on_write
        self.files = {}
        self.budget = -1  # bytes that may still be written; -1 means no cut scheduled
        self.bytes_written = 0
        self.writes = 0

    def cut_after(self, n):
        self.budget = n

    def _spend(self, n):
        if self.budget < 0 or n <= self.budget:
            if self.budget >= 0:
                self.budget -= n
            return n
        kept = self.budget
        self.budget = -1
        return kept

    def read(self, name, limit=None):
        data = self.files.get(name)
        if data is not None and limit is not None and len(data) > limit:
            raise Oversized(name, len(data), limit)
        return None if data is None else bytes(data)

    def append(self, name, data):
        if self.on_write is not None:
            self.on_write("append", name, data)
        self.writes += 1
        n = self._spend(len(data))
        buf = self.files.setdefault(name, bytearray())
        buf.extend(data[:n])
        self.bytes_written += n
        if n < len(data):
            raise PowerLoss()
        if self.on_append is not None:
            self.on_append(name, data)

    def replace(self, name, data):
        if self.on_write is not None:
            self.on_write("replace", name, data)
        self.writes += 1
        n = self._spend(len(data))
        if n < len(data):
            raise PowerLoss()
        self.files[name] = bytearray(data)
        self.bytes_written += n

    def size(self, name):
        data = self.files.get(name)
        return 0 if data is None else len(data)

    def truncate(self, name, length):
        if self.on_write is not None:
            self.on_write("truncate", name, length)
        if name in self.files:
            self.files[name] = self.files[name][:length]

    def remove(self, name):
        if self.on_write is not None:
            self.on_write("remove", name, None)
        self.files.pop(name, None)


class _Inbox:
    """Bytes waiting to be read at one end (MicroPython's bytearray cannot delete a slice)."""

    def __init__(self):
        self.data = bytearray()


class _End:
    """One end of a FakeSerialPair; the contract's Serial."""

    def __init__(self, pair, inbox, outbox):
        self.pair = pair
        self.inbox = inbox
        self.outbox = outbox

    def read(self, n):
        self.pair.deliver()
        box = self.inbox
        if not box.data:
            return None
        data = bytes(box.data[:n])
        box.data = box.data[n:]
        return data

    def write(self, buf):
        self.pair.send(self.outbox, bytes(buf))
        return len(buf)

    def pending(self):
        self.pair.deliver()
        return len(self.inbox.data)


class FakeSerialPair(LinkFaults):
    """Two connected Serial ends, `a` and `b`, with the faults of `hal.linkfaults.LinkFaults`
    applied per write (a write is one frame in practice): `loss`, `corrupt` (one random bit
    flipped), `duplicate` (sent twice), `delay_ms` (each copy held back that long on `clock`),
    and `down` (everything dropped). `faults` counts them by kind."""

    def __init__(self, clock=None, seed=1):
        LinkFaults.__init__(self, seed)
        self.clock = clock
        self.faults = self.counts
        self._a_in = _Inbox()
        self._b_in = _Inbox()
        self.a = _End(self, self._a_in, self._b_in)
        self.b = _End(self, self._b_in, self._a_in)

    def send(self, inbox, data):
        if not data:
            return
        data, copies = self.frame(data)
        for _ in range(copies):
            if self.delay_ms and self.clock is not None:
                self.hold(self.clock.elapsed_ms, (inbox, data))
            else:
                inbox.data.extend(data)

    def deliver(self):
        if not self.held:
            return
        for inbox, data in self.due(self.clock.elapsed_ms):
            inbox.data.extend(data)
