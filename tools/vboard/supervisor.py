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
import tty

UP = b"\x1b[vboard:up]"  # written by START_CODE first: MicroPython now turns Ctrl-C into KeyboardInterrupt
MARKER = b"\x1b[vboard:ready]"  # written by START_CODE once boot.py/main.py are done
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
SOFT_REBOOT = b"MPY: soft reboot\r\n"
HARD_RESET_CODE = 75  # exit status of the shimmed machine.reset()
HOLD_AFTER_INTERRUPT_S = 2.0  # longest wait for a prompt after a Ctrl-C
START_LIMIT_S = 5.0  # an interpreter that has not run START_CODE by then is shown as it is
RESTART_BURST = 10  # unrequested restarts within RESTART_WINDOW_S before slowing down
RESTART_WINDOW_S = 5.0

# Runs inside the interpreter (python -c) before the REPL: sandbox the file system, shim
# machine.reset, run boot.py and (unless restarting into the raw REPL) main.py, as a board does.
START_CODE = r"""
import sys, os, vfs
_vb_root = os.getenv('VBOARD_ROOT')
if _vb_root:
    vfs.umount('/')
    vfs.mount(vfs.VfsPosix(_vb_root), '/')
    vfs.mount(vfs.VfsPosix('/dev'), '/dev')
    os.chdir('/')
    sys.path[:] = ['', '.frozen', '/lib']
import machine as _vb_machine
class _VBoardMachine:
    def __getattr__(self, name):
        return getattr(_vb_machine, name)
    def reset(self):
        raise SystemExit(%(hard)d)
    def unique_id(self):
        return b'vboard\x00\x01'
    def reset_cause(self):
        return 1
sys.modules['machine'] = _VBoardMachine()
sys.stdout.write(%(up)r)
def _vb_run(name):
    try:
        with open(name) as f:
            src = f.read()
    except OSError:
        return True
    try:
        exec(compile(src, name, 'exec'), globals())
        return True
    except SystemExit:
        raise
    except BaseException as e:
        sys.print_exception(e)
        return False
if _vb_run('boot.py') and os.getenv('VBOARD_MODE') not in ('raw', 'interrupted'):
    _vb_run('main.py')
sys.stdout.write(%(marker)r)
del _vb_root, _vb_run, _VBoardMachine
""" % {"hard": HARD_RESET_CODE, "marker": MARKER.decode(), "up": UP.decode()}


def _nonblocking(fd):
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)


def _make_pty():
    """(master, slave, path) with the slave raw, so it carries bytes unchanged."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    _nonblocking(master)
    return master, slave, os.ttyname(slave)


def _prefix_len(buf, marker):
    """Length of the longest suffix of buf that is a proper prefix of marker."""
    for n in range(min(len(marker) - 1, len(buf)), 0, -1):
        if buf.endswith(marker[:n]):
            return n
    return 0


class VBoard:
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
        self._repl_m, repl_s, self.repl_path = _make_pty()
        self._uart_m, uart_s, self.uart_path = _make_pty()
        self._dev_m, dev_s, self.device_uart_path = _make_pty()
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
        _nonblocking(master)
        self._inner = master
        self._mode = mode
        self._phase = "starting"
        self._started_at = time.monotonic()
        self._buf = b""
        self._tail = b""
        self.at_prompt = False
        self._to_inner = bytearray()

    # ---- output: interpreter -> REPL pty ---------------------------------------------------
    def _emit(self, data):
        if not data:
            return
        self._tail = (self._tail + data)[-64:]
        r = self._tail.rfind(RAW_BANNER)
        f = self._tail.rfind(b"\n>>> ")
        if r > f:
            self.raw = True
        elif f > r:
            self.raw = False
        self.at_prompt = self._tail.endswith(b">>> ") or (self.raw and self._tail.endswith(b">"))
        if not self.raw:
            # A board's stdout is cooked (\n -> \r\n); the unix port writes bare \n.
            out = bytearray()
            for b in data:
                if b == 10 and not self._last_cr:
                    out.append(13)
                out.append(b)
                self._last_cr = b == 13
            data = bytes(out)
        else:
            self._last_cr = data[-1:] == b"\r"
        self._to_repl.extend(data)
        self._flush_repl()

    def _flush_repl(self):
        if not self._to_repl:
            return
        try:
            n = os.write(self._repl_m, self._to_repl)
            del self._to_repl[:n]
        except BlockingIOError:
            pass
        if len(self._to_repl) > 65536:  # nobody is listening: a board would drop it too
            del self._to_repl[:-4096]

    def _on_output(self, data):
        self._trace("out", data)
        if self._phase == "live":
            self._emit(data)
            return
        self._buf += data
        if self._phase == "starting":
            # Until MicroPython runs our code, a Ctrl-C would kill the process (the CPython
            # wrapper of the pip build): input stays held, see _blocked().
            i = self._buf.find(UP)
            if i < 0:
                return
            self._emit(self._buf[:i])
            self._buf = self._buf[i + len(UP) :]
            self._phase = "boot"
        if self._phase == "boot":
            i = self._buf.find(MARKER)
            if i < 0:
                keep = _prefix_len(self._buf, MARKER)
                self._emit(self._buf[: len(self._buf) - keep])
                self._buf = self._buf[len(self._buf) - keep :]
                return
            self._emit(self._buf[:i])
            self._buf = self._buf[i + len(MARKER) :]
            if self._mode != "raw":
                self._phase = "live"
                rest, self._buf = self._buf, b""
                self._emit(rest)
                return
            self._phase = "raw-enter"
        if self._phase == "raw-enter":
            if b">>> " not in self._buf:
                return
            self._buf = b""
            self._write_inner(b"\x01")  # Ctrl-A: into the raw REPL, where mpremote left us
            self._phase = "raw-wait"
            return
        if self._phase == "raw-wait":
            j = self._buf.find(RAW_BANNER)
            if j < 0:
                return
            rest, self._buf = self._buf[j:], b""
            self._phase = "live"
            self._emit(rest)

    # ---- input: REPL pty -> interpreter ----------------------------------------------------
    def _write_inner(self, data):
        self._trace("in", data)
        self._to_inner.extend(data)
        self._flush_inner()

    def _flush_inner(self):
        if not self._to_inner or self._inner < 0:
            return
        try:
            n = os.write(self._inner, self._to_inner)
            del self._to_inner[:n]
        except BlockingIOError:
            pass
        except OSError:
            self._to_inner.clear()

    def _blocked(self):
        if self.proc is None or self._phase in ("starting", "raw-enter", "raw-wait"):
            return True
        return self._phase == "boot" and self._mode == "raw"

    def _on_input(self, data):
        self._trace("repl", data)
        self._last_input = time.monotonic()
        if self._held or self._hold_until is not None or self._blocked():
            self._held.extend(data)
            return
        self._send(data)

    def _send(self, data):
        i = data.find(b"\x03")
        if i >= 0 and not self.at_prompt and i + 1 < len(data):
            # A program is being interrupted; the REPL it falls into flushes its input.
            self._write_inner(data[: i + 1])
            self._held.extend(data[i + 1 :])
            self._hold_until = time.monotonic() + HOLD_AFTER_INTERRUPT_S
        else:
            if i >= 0 and not self.at_prompt:
                self._hold_until = time.monotonic() + HOLD_AFTER_INTERRUPT_S
            self._write_inner(data)
        self.at_prompt = False

    def _release(self):
        if self._blocked() or (not self._held and self._hold_until is None):
            return
        waiting = self._hold_until is not None and time.monotonic() < self._hold_until
        if waiting and not self.at_prompt:
            return
        data = bytes(self._held)
        self._held.clear()
        self._hold_until = None
        if data:
            self._send(data)

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
