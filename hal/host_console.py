"""Console HAL for a host board: button, indicator, buzzer and display as text lines.

A supervising program (simulator, test, person) drives the button and reads the outputs:
  output (stdout), one line per state change, nothing while the state stays the same:
    display: <line1>|<line2>|...   trailing empty lines dropped, '|' in text shown as '/'
    indicator: <off|green|amber|red>[ blink]
    buzzer: <freq_hz>|off
  input, `ConsoleButton(path)`: the file at `path` holds "1" (pressed) or "0"/empty/missing
    (released), read on every poll; write it with a rename for an atomic change.
  input, `ConsoleButton("-")`: lines on stdin: "button down" / "button up" (also "1"/"0",
    "down"/"up"); other lines are ignored. `env` names a variable holding the path ("-": stdin).
"""

import os
import sys

try:
    import select

    _POLLIN = select.POLLIN
except ImportError:  # a port without select: stdin mode is then unavailable
    select = None
    _POLLIN = 1


def _emit(line):
    out = sys.stdout
    out.write(line + "\n")
    try:
        out.flush()
    except (AttributeError, OSError):
        pass


class ConsoleButton:
    """The button, pressed while its file says 1 (or after "button down" on stdin)."""

    def __init__(self, path=None, env=None, default="button"):
        if path is None and env:
            path = os.getenv(env)
        self.path = path or default
        self.level = False
        self._stdin = self.path == "-"
        self._open = self._stdin  # stdin not yet at its end
        if self._stdin:
            if select is None:
                raise ValueError("stdin button needs the select module")
            self._poll = select.poll()
            self._poll.register(sys.stdin, _POLLIN)

    def wake_stream(self):
        """stdin while the button is read from it and it is open (a line there is an input to
        wake on); None for a button file, which has no edge to wait for."""
        return sys.stdin if self._open else None

    def pressed(self):
        if self._stdin:
            if self._open:
                self._read_stdin()
            return self.level
        try:
            with open(self.path, "rb") as f:
                first = f.read(1)
        except OSError:
            return False
        return first == b"1"

    def _read_stdin(self):
        # Whole lines only: the supervisor writes "button down\n" in one go.
        while self._poll.poll(0):
            line = sys.stdin.readline()
            if not line:  # end of input: keep the last level, stop polling
                self._poll.unregister(sys.stdin)
                self._open = False
                return
            word = line.strip().split(" ")[-1]
            if word in ("down", "1", "press", "pressed"):
                self.level = True
            elif word in ("up", "0", "release", "released"):
                self.level = False


class ConsoleIndicator:
    def __init__(self):
        self.state = None

    def set(self, colour, blink=False):
        state = colour + (" blink" if blink and colour != "off" else "")
        if state != self.state:
            self.state = state
            _emit("indicator: " + state)


class ConsoleBuzzer:
    def __init__(self):
        self.freq = 0
        self._said = None

    def on(self, freq_hz):
        self.freq = freq_hz
        self._say(str(freq_hz) if freq_hz else "off")

    def off(self):
        self.freq = 0
        self._say("off")

    def _say(self, text):
        if text != self._said:
            self._said = text
            _emit("buzzer: " + text)


class ConsoleDisplay:
    def __init__(self):
        self.lines = None

    def show(self, lines):
        lines = [str(x) for x in lines]
        while lines and not lines[-1]:
            lines.pop()
        if lines != self.lines:
            self.lines = lines
            _emit("display: " + "|".join(x.replace("|", "/") for x in lines))
