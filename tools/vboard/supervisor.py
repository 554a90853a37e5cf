"""Supervisor of a virtual board: the MicroPython unix port made to behave like a board.

`VBoard(folder).open()` creates two ptys and returns their paths: the REPL (give it to
`mpremote connect`) and the UART (give it to the pump emulator). `run()` then relays bytes:
REPL pty <-> the interpreter's own pty, and the UART pty <-> a second pty whose path the
interpreter gets in $VBOARD_UART. The interpreter's "/" is FOLDER (a VfsPosix mount, plus
/dev for ptys), so files copied with mpremote land there and nothing outside is touched.

Board behaviour that mpremote relies on: when the interpreter exits (Ctrl-D, which makes the
bare unix port quit, or `machine.reset()`), it is restarted; a soft reset prints
`MPY: soft reboot`, runs boot.py (and main.py unless the raw REPL was active, as boards do)
and returns to the raw REPL if that is where it was. Input that arrives while the interpreter
is restarting, or just after a Ctrl-C that interrupts a running program, is held until the
next prompt, because the unix REPL flushes pending input when it switches its tty to raw.

This module starts, restarts and relays; the start code and ptys are in `startcode.py`, the
REPL stream (markers, prompts, held input) in `repl.py`.
"""

import errno
import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time

from tools.vboard.repl import ReplStream
from tools.vboard.startcode import (
    HARD_RESET_CODE,
    HOLD_AFTER_INTERRUPT_S,
    RESTART_BURST,
    RESTART_WINDOW_S,
    SOFT_REBOOT,
    START_CODE,
    START_LIMIT_S,
    make_pty,
    nonblocking,
)

__all__ = ["START_CODE", "VBoard"]


class VBoard(ReplStream):
    def __init__(self, folder, micropython, heap="192K", log=None, trace=False):
        self.folder = os.path.abspath(folder)
        self.micropython = micropython
        self.heap = heap
        self.log = log or sys.stderr
        self.trace = trace  # log every chunk relayed on the REPL, with the phase
        self._t0 = time.monotonic()
        self.repl_path = None
        self.uart_path = None
        self.device_uart_path = None
        self.proc = None
        self.restarts = 0
        self._stop = False
        self._fds = []
        self._inner = -1  # master of the interpreter's pty
        self._to_inner = bytearray()  # input waiting for the interpreter to read
        self._to_repl = bytearray()
        self._held = bytearray()  # input held back until a prompt
        self._hold_until = None
        # starting -> boot -> live, or starting -> boot -> raw-enter -> raw-wait -> live (raw restart)
        self._phase = "starting"
        self._started_at = 0.0
        self._mode = "friendly"  # how the current interpreter was started
        self._buf = b""  # output kept while looking for a marker
        self._tail = b""  # the last output bytes, to see prompts
        self.raw = False  # the raw REPL is active
        self.at_prompt = False
        self._last_cr = False
        self._restart_times = []
        self._last_input = -1e9  # when the REPL last sent something (a reset it asked for)

    # ---- set-up -------------------------------------------------------------------------
    def open(self):
        os.makedirs(self.folder, exist_ok=True)
        self._repl_m, repl_s, self.repl_path = make_pty()
        self._uart_m, uart_s, self.uart_path = make_pty()
        self._dev_m, dev_s, self.device_uart_path = make_pty()
        # Keep our own slave fds open: a master then never reads EIO when a client
        # (mpremote, the emulator, the firmware) closes its end.
        self._fds = [self._repl_m, repl_s, self._uart_m, uart_s, self._dev_m, dev_s]
        return self.repl_path, self.uart_path

    def _trace(self, what, data):
        if self.trace:
            self._say("%7.3f %-5s %-9s %r" % (time.monotonic() - self._t0, what, self._phase, data))

    def _say(self, text):
        self.log.write("vboard: " + text + "\n")
        self.log.flush()

    def _start(self, mode):
        master, slave = pty.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[0] = 0  # no input mapping
        attrs[1] = 0  # no output processing: the REPL writes \r\n itself
        attrs[3] = termios.ISIG  # Ctrl-C interrupts a running program, as on a board
        attrs[6][termios.VMIN] = 1
        attrs[6][termios.VTIME] = 0
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        env = dict(os.environ)
        env["MICROPYPATH"] = ".frozen:" + self.folder
        env["VBOARD_ROOT"] = self.folder
        env["VBOARD_MODE"] = mode
        env["VBOARD_UART"] = str(self.device_uart_path)

        def child_setup():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            [self.micropython, "-X", "heapsize=" + self.heap, "-i", "-c", START_CODE],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=self.folder,
            env=env,
            preexec_fn=child_setup,
            close_fds=True,
        )
        os.close(slave)
        nonblocking(master)
        self._inner = master
        self._mode = mode
        self._phase = "starting"
        self._started_at = time.monotonic()
        self._buf = b""
        self._tail = b""
        self.at_prompt = False
        self._to_inner = bytearray()

    # ---- restarts ------------------------------------------------------------------------
    def _reap(self):
        """The interpreter has gone: restart it the way a board reboots."""
        proc = self.proc
        if proc is None:
            return
        while True:  # whatever it wrote last
            try:
                data = os.read(self._inner, 4096)
            except OSError:
                break
            if not data:
                break
            self._on_output(data)
        if self._phase == "starting" and self._buf:
            self._unstick()  # it died before our code ran: its last words are the clue
        os.close(self._inner)
        self._inner = -1
        code = proc.wait()
        self.proc = None
        if self._stop:
            return
        if code == HARD_RESET_CODE:
            self.raw = False
            mode = "friendly"
        elif code == -signal.SIGINT:
            # Ctrl-C reached the interpreter where it could not raise KeyboardInterrupt: do
            # what a board does on Ctrl-C, stop main.py and give the REPL.
            self._say("interpreter ended by Ctrl-C; back to the REPL without main.py")
            mode = "raw" if self.raw else "interrupted"
        else:
            if code < 0:
                self._say("interpreter ended by signal %d; rebooting" % -code)
            self._phase = "live"
            self._emit(SOFT_REBOOT)
            mode = "raw" if self.raw else "friendly"
        now = time.monotonic()
        if now - self._last_input > 2.0:  # nobody asked for it: count it as a possible boot loop
            self._restart_times = [t for t in self._restart_times if now - t < RESTART_WINDOW_S] + [now]
            if len(self._restart_times) > RESTART_BURST:
                time.sleep(0.5)  # main.py exits at once, again and again: do not spin the CPU
        self.restarts += 1
        # Input that came during the restart waits for the new REPL's prompt (the REPL
        # flushes its input when it starts), unless it carries a Ctrl-C for a new main.py.
        self._hold_until = time.monotonic() + HOLD_AFTER_INTERRUPT_S if self._held else None
        self._trace("exit", "code %d -> %s" % (code, mode))
        self._start(mode)

    # ---- main loop -----------------------------------------------------------------------
    def stop(self, *_args):
        self._stop = True

    def run(self):
        if self.proc is None:
            self._start("friendly")
        try:
            while not self._stop:
                self._step()
        finally:
            self.close()

    def _step(self):
        readers = [self._repl_m, self._uart_m, self._dev_m]
        if self._inner >= 0:
            readers.append(self._inner)
        writers = []
        if self._to_inner and self._inner >= 0:
            writers.append(self._inner)
        if self._to_repl:
            writers.append(self._repl_m)
        timeout = 0.02 if (self._held or self._hold_until is not None) else 0.2
        try:
            readable, writable, _ = select.select(readers, writers, [], timeout)
        except InterruptedError:
            return
        if self._inner in writable:
            self._flush_inner()
        if self._repl_m in writable:
            self._flush_repl()
        for fd in readable:
            if fd == self._inner:
                try:
                    data = os.read(fd, 4096)
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EIO):
                        raise
                    data = b"" if e.errno == errno.EIO else None
                if data:
                    self._on_output(data)
                elif data == b"":
                    self._reap()
            else:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if fd == self._repl_m:
                    self._on_input(data)
                elif fd == self._uart_m:
                    self._relay(self._dev_m, data)
                else:
                    self._relay(self._uart_m, data)
        if self.proc is not None and self.proc.poll() is not None and self._inner >= 0:
            self._reap()
        if self._phase == "starting" and time.monotonic() - self._started_at > START_LIMIT_S:
            self._unstick()
        self._release()

    def _unstick(self):
        """The start code never ran (an error before it): show what the interpreter said."""
        self._say("interpreter did not start the board code; showing its output as it is")
        self._phase = "live"
        rest, self._buf = self._buf, b""
        self._emit(rest)

    def _relay(self, fd, data):
        try:
            os.write(fd, data)
        except OSError:  # buffer full: nobody reads that end, like a wire with no receiver
            pass

    def close(self):
        self._stop = True
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None
        for fd in self._fds + ([self._inner] if self._inner >= 0 else []):
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        self._inner = -1
