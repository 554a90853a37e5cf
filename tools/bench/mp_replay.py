"""Replays a recorded day into the firmware alone and times it: the floor of what any
simulation of that day costs on this interpreter, with no transport and no pump to pay for.

Runs unchanged on CPython and on the MicroPython unix port (`tools/bench/ceiling.py` runs it
on both). The recording (`Recorder`, filled by `tools.bench.duty.measure`) holds the
prescription and, for every step of the firmware's loop (`firmware.main.Superloop`, as a board
with an edge-interrupt button runs it), the ms since the previous step, the button level and
the bytes the link gave the firmware during the step; the replay feeds exactly those to the
real loop on the fakes of `hal.fakes` and times `Superloop.step` alone. The firmware is
deterministic, so it writes the same bytes as when recorded: their CRC-32 is printed for the
host to compare.

File: b"PPR2", u32 start ticks, u32 steps, u16 n + n bytes of rx.txt, then per step u32 dt_ms,
u8 level, u16 n, n bytes. `mp_replay.py RECORDING` prints
`replay <steps> <seconds> <tx bytes> <tx crc32>`.
"""

import struct
import sys
import time

try:
    from binascii import crc32
except ImportError:  # pragma: no cover - very old ports
    from ubinascii import crc32  # type: ignore

from firmware import main as fw
from hal import fakes

MAGIC = b"PPR2"


class Board:
    """The board the day is run on: an edge-interrupt button, as on rpi_pico and esp32_devkit."""

    NAME = "bench"
    HOLD_MS = 1000
    ALLOW_UNSIGNED_RX = True
    BUTTON_WAKES = True


class _Written:
    """Count and CRC-32 of what the firmware wrote to the link (the replay's proof of work)."""

    def __init__(self):
        self.tx_bytes = 0
        self.tx_crc = 0

    def _count(self, buf):
        self.tx_bytes += len(buf)
        self.tx_crc = crc32(buf, self.tx_crc)


class Recorder(_Written):
    """The handheld's end of the link while the day is recorded: passes reads and writes
    through, keeps what each step read and a CRC-32 of what the firmware wrote."""

    def __init__(self, end, start, rx_text):
        _Written.__init__(self)
        self.end = end
        self.out = bytearray(MAGIC + struct.pack("<IIH", start, 0, len(rx_text)) + rx_text)
        self.steps = 0
        self.got = bytearray()

    def read(self, n):
        data = self.end.read(n)
        if data:
            self.got.extend(data)
        return data

    def write(self, buf):
        self._count(buf)
        return self.end.write(buf)

    def step(self, dt_ms, level):
        """Call after each step of the loop: `dt_ms` slept before it, the button level in it."""
        self.out += struct.pack("<IBH", dt_ms, 1 if level else 0, len(self.got)) + self.got
        self.got = bytearray()
        self.steps += 1

    def recording(self):
        struct.pack_into("<I", self.out, 8, self.steps)
        return bytes(self.out)


def read_recording(data):
    """(start ticks, rx.txt bytes, steps) of a recording, where steps yields (dt_ms, level,
    offset, n) per step: the link's bytes of that step are data[offset:offset + n]."""
    if data[:4] != MAGIC:
        raise ValueError("not a replay recording")
    start, count, n = struct.unpack_from("<IIH", data, 4)
    return start, bytes(data[14:14 + n]), _steps(data, 14 + n, count)


def _steps(data, at, count):
    for _ in range(count):
        dt, level, n = struct.unpack_from("<IBH", data, at)
        yield dt, level == 1, at + 7, n
        at += 7 + n


class ReplaySerial(_Written):
    """The handheld's end of the link in the replay: reads the recorded bytes, checksums writes."""

    def __init__(self):
        _Written.__init__(self)
        self.inbox = bytearray()

    def read(self, n):
        box = self.inbox
        if not box:
            return None
        data = bytes(box[:n])
        self.inbox = box[n:]
        return data

    def write(self, buf):
        self._count(buf)
        return len(buf)


class LastFrame:
    """A display that keeps only what it shows now (the fakes' display keeps every frame)."""

    def __init__(self):
        self.lines = None

    def show(self, lines):
        self.lines = lines


def _now_s():
    if hasattr(time, "ticks_us"):
        return time.ticks_us() / 1000000.0  # type: ignore  # MicroPython
    return time.perf_counter()


def replay(data):
    """(steps, seconds in Superloop.step, tx bytes, tx crc32) of a recording replayed."""
    start, rx_text, steps = read_recording(data)
    clock = fakes.FakeClock(start)
    storage = fakes.MemStorage()
    storage.replace("rx.txt", rx_text)
    button = fakes.ScriptedButton()
    serial = ReplaySerial()
    hal = {"clock": clock, "button": button, "indicator": fakes.FakeIndicator(), "buzzer": fakes.FakeBuzzer(),
           "display": LastFrame(), "serial": serial, "storage": storage}
    loop = fw.Superloop(Board, hal)
    mv = memoryview(data)
    spent = 0.0
    count = 0
    for dt, level, at, n in steps:
        clock.advance(dt)
        button.set(level)
        if n:
            serial.inbox.extend(mv[at:at + n])
        t0 = _now_s()
        loop.step()
        spent += _now_s() - t0
        count += 1
    return count, spent, serial.tx_bytes, serial.tx_crc & 0xFFFFFFFF


def main():
    if len(sys.argv) < 2:
        print("usage: mp_replay.py RECORDING (tools/bench/ceiling.py writes one)")
        return
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    steps, spent, nbytes, crc = replay(data)
    print("replay %d %.4f %d %d" % (steps, spent, nbytes, crc))


if __name__ == "__main__":
    main()
