"""The lockstep HAL: the firmware runs unmodified in a subprocess whose time the host drives.

Used by `boards/lockstep` (`firmware.main.run("lockstep")`) under the MicroPython unix port or
CPython; the host side is `tools/scenario/driver.py`. All HAL objects share one `Hub`. The
firmware yields in `LockstepClock.sleep_ms`: the hub writes one *step report* to stdout and
blocks on stdin for the next *step input*. Time moves only when the host says so.

Step report (firmware -> host), lines ending with the `sleep` line; only what changed:
    tx <hex>                      bytes the firmware wrote to its serial since the last step
    display <l1>|<l2>|<l3>|<l4>   the screen ('|' inside a line is shown as '/')
    indicator <colour> <0|1>      colour off/green/amber/red, 1 when blinking
    buzzer <hz>                   0 when silent
    beep <hz>                     a tone sounded during the step (even if silent again now)
    append <name> <hex>           one Storage.append (event-log records are 26 bytes each)
    sleep <ms> <ticks> <t> <n>    the sleep asked for (until the app's next deadline),
                                  ticks_ms() and t (ms since boot) of the poll just done, and
                                  the polls made since boot: end of the report
  Any other line (a print, a traceback) is the firmware's own output; the host passes it on.
Step input (host -> firmware): 4 hex digits giving the length in bytes of the line that
follows (newline included), a space, then the line: space-separated key=value words
(MicroPython's readline reads byte by byte; with the length it takes two reads), e.g.
`000b t=1010 b=0\n` (the line "t=1010 b=0\n" is 11 = 0x000b bytes); `frame_input(line)`:
    t=<ms> b=<0|1> rx=<hex>       virtual time in ms since this boot began, button level,
                                  bytes arriving from the pump (rx= may be omitted)
    idle=<ms> until=<ms>          optional: after this poll keep polling on your own, on the
                                  grid t+k*<ms>, without reporting, while the firmware neither
                                  writes to its serial nor appends to storage, up to the last
                                  grid time before until (saves a round trip per poll while
                                  nothing happens). Tickless: a poll asks to sleep until its
                                  deadline, so the hub skips the grid times before it (polls
                                  there would change nothing) and polls at the first one at or
                                  after it; the batch still ends at the same poll as if every
                                  grid time had been polled.
    watch=1                       optional, with idle: a change of display, indicator or
                                  buzzer also ends the batch (for a live screen)
  A line `quit`, or the end of input, ends the firmware (SystemExit) between two steps.
Environment: LOCKSTEP_DIR = storage folder (default "lockstep_data"); LOCKSTEP_START = ticks
value at t=0 (default 0; the host picks one just below the 2**30 wrap).
"""

import os
import sys

try:
    from binascii import hexlify, unhexlify
except ImportError:  # pragma: no cover - very old ports
    from ubinascii import hexlify, unhexlify  # type: ignore

from hal import ticks
from hal.storage import FileStorage

_hub = None


def hub():
    """The one hub of this process (created on first use by any lockstep HAL object)."""
    global _hub
    if _hub is None:
        _hub = Hub()
    return _hub


def _env_int(name, default):
    text = os.getenv(name)
    if not text:
        return default
    return int(text)


def read_input():
    """The next step input line (str), or "" at the end of input."""
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    head = stream.read(5)
    if not head or len(head) < 5:
        return ""
    body = stream.read(int(head[:4], 16))
    if not body:
        return ""
    return body.decode() if isinstance(body, bytes) else body


def frame_input(line):
    """The bytes the host writes for one step input line (for hosts written in Python)."""
    data = (line.rstrip("\n") + "\n").encode()
    return b"%04x " % len(data) + data


class Hub:
    """Collects what the firmware did during a step and applies what the host sends."""

    def __init__(self):
        self.start = _env_int("LOCKSTEP_START", 0) & (ticks.PERIOD - 1)
        self.t_ms = 0  # virtual ms since this boot began
        self.now = self.start  # ticks_ms() value
        self.level = False  # button
        self.inbox = bytearray()  # bytes from the pump not yet read by the firmware
        self.outbox = []  # bytes written by the firmware this step
        self.appends = []  # (name, bytes) appended to storage this step
        self.display = None  # type: list | None
        self.indicator = None  # type: tuple | None
        self.buzzer = 0
        self.beep = 0  # last tone started since the last report
        self._said_display = None  # type: list | None
        self._said_indicator = None  # type: tuple | None
        self._said_buzzer = 0
        self.idle = 0  # batch: poll every `idle` ms on our own ...
        self.until = 0  # ... while t + idle < until
        self.watch = False  # ... and the patient's outputs do not change
        self.steps = 0  # step inputs read
        self.polls = 0  # sleeps, reported or not

    def _changed(self):
        return (
            self.beep
            or self.buzzer != self._said_buzzer
            or self.display != self._said_display
            or self.indicator != self._said_indicator
        )

    def report(self, sleep_ms):
        out = []
        if self.outbox:
            out.append("tx " + hexlify(b"".join(self.outbox)).decode())
            self.outbox = []
        if self.display is not None and self.display != self._said_display:
            self._said_display = self.display
            out.append("display " + "|".join([x.replace("|", "/") for x in self.display]))
        if self.indicator is not None and self.indicator != self._said_indicator:
            self._said_indicator = self.indicator
            out.append("indicator %s %d" % (self.indicator[0], 1 if self.indicator[1] else 0))
        if self.buzzer != self._said_buzzer:
            self._said_buzzer = self.buzzer
            out.append("buzzer %d" % self.buzzer)
        if self.beep:
            out.append("beep %d" % self.beep)
            self.beep = 0
        for name, data in self.appends:
            out.append("append %s %s" % (name, hexlify(data).decode()))
        self.appends = []
        out.append("sleep %d %d %d %d\n" % (sleep_ms, self.now, self.t_ms, self.polls))
        return "\n".join(out)

    def step(self, sleep_ms):
        """Report this step, then wait for the host's next input line and apply it (or, in a
        batch with nothing to report, move time on by `idle` ms without asking)."""
        self.polls += 1
        idle = self.idle
        if idle and not self.outbox and not self.appends and not (self.watch and self._changed()):
            t = self.t_ms
            k = (sleep_ms + idle - 1) // idle if sleep_ms > idle else 1  # the first grid time at or after the deadline
            if t + k * idle >= self.until:
                k = (self.until - 1 - t) // idle  # the last grid time of the batch, if still ahead
            if k > 0:
                t += k * idle
                self.t_ms = t
                self.now = ticks.add(self.start, t)
                return
        text = self.report(sleep_ms)
        sys.stdout.write(text)
        try:
            sys.stdout.flush()
        except (AttributeError, OSError):
            pass
        line = read_input()
        if not line or line.strip() == "quit":
            raise SystemExit(0)
        self.apply(line)
        self.steps += 1

    def apply(self, line):
        self.idle = 0
        self.watch = False
        for word in line.split():
            key, _, value = word.partition("=")
            if key == "t":
                t = int(value)
                if t > self.t_ms:
                    self.t_ms = t
                    self.now = ticks.add(self.start, t)
            elif key == "b":
                self.level = value == "1"
            elif key == "rx":
                if value:
                    self.inbox.extend(unhexlify(value))
            elif key == "idle":
                self.idle = int(value)
            elif key == "until":
                self.until = int(value)
            elif key == "watch":
                self.watch = value == "1"


class LockstepClock:
    """ticks_ms() is the host's virtual time (wrapping at 2**30); sleep_ms() is a step."""

    def __init__(self):
        self.hub = hub()

    def ticks_ms(self):
        return self.hub.now

    def ticks_diff(self, a, b):
        return ticks.diff(a, b)

    def ticks_add(self, t, delta):
        return ticks.add(t, delta)

    def sleep_ms(self, ms):
        self.hub.step(ms)


class LockstepButton:
    def __init__(self):
        self.hub = hub()

    def pressed(self):
        return self.hub.level


class LockstepSerial:
    """Bytes the host delivered are read back; writes are reported at the end of the step."""

    def __init__(self):
        self.hub = hub()

    def read(self, n):
        h = self.hub
        if not h.inbox:
            return None
        data = bytes(h.inbox[:n])
        h.inbox = h.inbox[n:]
        return data

    def write(self, buf):
        self.hub.outbox.append(bytes(buf))
        return len(buf)


class LockstepIndicator:
    def __init__(self):
        self.hub = hub()

    def set(self, colour, blink=False):
        blink = bool(blink)
        shown = self.hub.indicator
        if shown is None or shown[0] != colour or shown[1] != blink:  # no tuple on an idle poll
            self.hub.indicator = (colour, blink)


class LockstepBuzzer:
    def __init__(self):
        self.hub = hub()

    def on(self, freq_hz):
        self.hub.buzzer = int(freq_hz)
        if freq_hz:
            self.hub.beep = int(freq_hz)

    def off(self):
        self.hub.buzzer = 0


class LockstepDisplay:
    def __init__(self):
        self.hub = hub()

    def show(self, lines):
        self.hub.display = [str(x) for x in lines]


class LockstepStorage(FileStorage):
    """FileStorage in $LOCKSTEP_DIR (or `root`) that also reports every append to the host."""

    def __init__(self, root=None, env="LOCKSTEP_DIR"):
        if root is None:
            root = os.getenv(env) or "lockstep_data"
        FileStorage.__init__(self, root)
        self.hub = hub()

    def append(self, name, data):
        FileStorage.append(self, name, data)
        self.hub.appends.append((name, bytes(data)))


class LockstepWatchdog:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1

    def caused_last_reset(self):
        return False  # the host starts the firmware afresh: a power-on
