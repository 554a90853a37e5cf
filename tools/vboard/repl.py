"""The REPL stream of a virtual board: the interpreter's output to the REPL pty (markers
found and removed, a board's cooked newlines, the prompt seen) and the REPL's input to the
interpreter (held while it restarts or after a Ctrl-C, until the next prompt).

A mixin of `tools.vboard.supervisor.VBoard`, which owns the state it uses.
"""

import os
import subprocess
import time
from typing import Callable

from tools.vboard.startcode import HOLD_AFTER_INTERRUPT_S, MARKER, RAW_BANNER, UP, prefix_len


class ReplStream:
    # Set up by VBoard (declared here for the type checker).
    proc: "subprocess.Popen | None"
    _inner: int
    _repl_m: int
    _mode: str
    _held: bytearray
    _to_inner: bytearray
    _to_repl: bytearray
    _trace: "Callable[[str, object], None]"

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
                keep = prefix_len(self._buf, MARKER)
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
