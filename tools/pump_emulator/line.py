"""The pump emulator's ends: the serial line it serves (a new pseudo-terminal or a real port,
both raw and non-blocking) and the JSON-lines event sink (`--events`)."""

import json
import os
import sys

from tools.pump_emulator.cli import CliError


class EventSink:
    def __init__(self, target):
        self.f = None
        self.own = False
        if target == "-":
            self.f = sys.stderr
        elif target:
            try:
                self.f = open(target, "a")
            except OSError as e:
                raise CliError("cannot open the events file %s: %s" % (target, e.strerror))
            self.own = True

    def __call__(self, event):
        if self.f is not None:
            self.f.write(json.dumps(event, sort_keys=True) + "\n")
            self.f.flush()

    def close(self):
        if self.own and self.f is not None:
            self.f.close()


class Pty:
    """Master end of a new pseudo-terminal, raw, non-blocking; `.path` is the slave's device."""

    def __init__(self):
        from tools.pump_emulator.rawpty import open_raw_pty

        self.fd, self._slave, self.path = open_raw_pty()

    def read(self):
        try:
            return os.read(self.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as e:
            raise CliError("the pseudo-terminal %s stopped working: %s" % (self.path, e.strerror))

    def write(self, data):
        try:
            n = os.write(self.fd, data)
        except BlockingIOError:
            return 0  # nobody is reading: the bytes are lost, as on a real line
        return n

    def close(self):
        os.close(self.fd)
        os.close(self._slave)


def _os_reason(exc):
    """'No such file or directory' rather than pyserial's nested tuples, when there is one."""
    seen = exc
    while seen is not None:
        args = getattr(seen, "args", ())
        if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):
            return args[1]
        seen = seen.__cause__ or seen.__context__
    return str(exc)


class SerialPort:
    def __init__(self, dev, baud):
        try:
            import serial
        except ImportError:
            raise CliError("pyserial is not installed (pip install pyserial)")
        if not os.path.exists(dev):
            raise CliError("cannot open serial port %s: no such device" % dev)
        if baud <= 0:
            raise CliError("the baud rate must be positive", 2)
        try:
            self.ser = serial.Serial(dev, baud, timeout=0, write_timeout=0)
        except (serial.SerialException, OSError, ValueError) as e:
            raise CliError("cannot open serial port %s: %s" % (dev, _os_reason(e)))
        self.fd = self.ser.fileno()
        self.path = dev

    def read(self):
        try:
            n = self.ser.in_waiting
            return self.ser.read(n) if n else b""
        except Exception as e:  # unplugged USB adapter and the like
            raise CliError("serial port %s stopped working: %s" % (self.path, _os_reason(e)))

    def write(self, data):
        try:
            return self.ser.write(data) or 0
        except Exception:
            return 0

    def close(self):
        self.ser.close()

