"""The HAL serial port on a host: a pty or a real tty (USB-serial adapter) opened by path.

`HostSerial(path)` or `HostSerial(env="VBOARD_UART")` opens the device, makes it raw (8N1, no
echo, no output processing, VMIN=0 so reads never block) and sets the baud rate for real
adapters. `read(n)` returns up to n bytes or None; `write(buf)` never blocks: it returns how
many bytes the device took (0 when its buffer is full). Runs on the MicroPython unix port
(builtin `open` + `termios` + `select`, which is all that port has) and on CPython (os.open).
"""

import os
import select
import sys
import termios

_POLLOUT = select.POLLOUT
_POLLIN = select.POLLIN

# termios flag values where the module does not define them (the unix port has only a few).
if sys.platform == "darwin":
    _VMIN, _VTIME = 16, 17
    _CSIZE, _CS8, _PARENB, _CSTOPB, _CREAD, _CLOCAL = 0x300, 0x300, 0x1000, 0x400, 0x800, 0x8000
    _CRTSCTS = 0x30000
else:  # Linux
    _VMIN, _VTIME = 6, 5
    _CSIZE, _CS8, _PARENB, _CSTOPB, _CREAD, _CLOCAL = 0o60, 0o60, 0o400, 0o100, 0o200, 0o4000
    _CRTSCTS = 0o20000000000


def _baud_constant(baud):
    return getattr(termios, "B%d" % baud, None)


class HostSerial:
    """A raw, non-blocking serial device; see the module docstring."""

    def __init__(self, path=None, env=None, baud=115200):
        if path is None and env:
            path = os.getenv(env)
        if not path:
            raise ValueError("no serial device: set $%s to the pump link's pty or tty" % (env or "VBOARD_UART"))
        self.path = path
        self.baud = baud
        self._fd = -1
        self._file = None
        if hasattr(os, "open"):  # CPython
            self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)  # type: ignore[attr-defined]
        else:  # MicroPython unix port: no os.open/os.read; an unbuffered file will do
            self._file = open(path, "r+b")
            self._fd = self._file.fileno()
        self._raw()
        self._poll = select.poll()
        self._poll.register(self._fd, _POLLIN | _POLLOUT)

    def _raw(self):
        attrs = termios.tcgetattr(self._fd)
        attrs[0] = 0  # iflag: no CR/NL mapping, no flow control, no parity marking
        attrs[1] = 0  # oflag: no output processing (\n stays \n)
        attrs[2] = (attrs[2] & ~(_CSIZE | _PARENB | _CSTOPB | _CRTSCTS)) | _CS8 | _CREAD | _CLOCAL
        attrs[3] = 0  # lflag: no echo, no canonical mode, no signals
        speed = _baud_constant(self.baud)
        if speed is not None:
            attrs[4] = speed
            attrs[5] = speed
        cc = attrs[6]
        cc[_VMIN] = 0
        cc[_VTIME] = 0
        # TCSANOW, not setraw's TCSAFLUSH: bytes already waiting are kept.
        termios.tcsetattr(self._fd, termios.TCSANOW, attrs)

    def fileno(self):
        """The device's file descriptor (-1 once closed), for a loop that waits on it."""
        return self._fd

    def _ready(self, mask):
        for entry in self._poll.poll(0):
            if entry[1] & mask:
                return True
        return False

    def read(self, n):
        if self._fd < 0 or not self._ready(_POLLIN):
            return None
        try:
            if self._file is not None:
                data = self._file.read(n)
            else:
                data = os.read(self._fd, n)
        except OSError:  # EIO: the other end went away; EAGAIN: nothing after all
            return None
        return data or None

    def write(self, buf):
        if self._fd < 0 or not self._ready(_POLLOUT):
            return 0
        try:
            if self._file is not None:
                n = self._file.write(buf)
            else:
                n = os.write(self._fd, buf)
        except OSError:
            return 0
        return n or 0

    def close(self):
        if self._fd < 0:
            return
        try:
            self._poll.unregister(self._fd)
        except (OSError, KeyError, ValueError):
            pass
        if self._file is not None:
            self._file.close()
        else:
            os.close(self._fd)
        self._fd = -1
        self._file = None
