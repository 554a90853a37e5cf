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
u8 level, u16 n, n bytes. Prints `replay <steps> <seconds> <tx bytes> <tx crc32>`.
"""

import os
import struct
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


class Recorder:
    """The handheld's end of the link while the day is recorded: passes reads and writes
    through, keeps what each step read and a CRC-32 of what the firmware wrote."""

    def __init__(self, end, start, rx_text):
        self.end = end
        self.out = bytearray(MAGIC + struct.pack("<IIH", start, 0, len(rx_text)) + rx_text)
        self.steps = 0
        self.got = bytearray()
        self.tx_bytes = 0
        self.tx_crc = 0

    def read(self, n):
        data = self.end.read(n)
        if data:
            self.got.extend(data)
        return data

    def write(self, buf):
        self.tx_bytes += len(buf)
        self.tx_crc = crc32(buf, self.tx_crc)
        return self.end.write(buf)

    def step(self, dt_ms, level):
        """Call after each step of the loop: `dt_ms` slept before it, the button level in it."""
        self.out += struct.pack("<IBH", dt_ms, 1 if level else 0, len(self.got)) + self.got
        self.got = bytearray()
        self.steps += 1

    def recording(self):
        struct.pack_into("<I", self.out, 8, self.steps)
        return bytes(self.out)


class ReplaySerial:
    """The handheld's end of the link in the replay: reads the recorded bytes, checksums writes."""

    def __init__(self):
        self.inbox = bytearray()
        self.tx_bytes = 0
        self.tx_crc = 0

    def read(self, n):
        box = self.inbox
        if not box:
            return None
        data = bytes(box[:n])
        self.inbox = box[n:]
        return data

    def write(self, buf):
        self.tx_bytes += len(buf)
        self.tx_crc = crc32(buf, self.tx_crc)
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
    if data[:4] != MAGIC:
        raise ValueError("not a replay recording")
    start, steps, n = struct.unpack_from("<IIH", data, 4)
    at = 14 + n
    clock = fakes.FakeClock(start)
    storage = fakes.MemStorage()
    storage.replace("rx.txt", bytes(data[14:at]))
    button = fakes.ScriptedButton()
    serial = ReplaySerial()
    hal = {"clock": clock, "button": button, "indicator": fakes.FakeIndicator(), "buzzer": fakes.FakeBuzzer(),
           "display": LastFrame(), "serial": serial, "storage": storage}
    loop = fw.Superloop(Board, hal)
    mv = memoryview(data)
    spent = 0.0
    for _ in range(steps):
        dt, level, n = struct.unpack_from("<IBH", data, at)
        at += 7
        clock.advance(dt)
        button.set(level == 1)
        if n:
            serial.inbox.extend(mv[at:at + n])
            at += n
        t0 = _now_s()
        loop.step()
        spent += _now_s() - t0
    return steps, spent, serial.tx_bytes, serial.tx_crc & 0xFFFFFFFF


def main():
    path = os.getenv("BENCH_REPLAY")
    if not path:
        print("replay: set BENCH_REPLAY to a recording (tools/bench/ceiling.py writes one)")
        return
    with open(path, "rb") as f:
        data = f.read()
    steps, spent, nbytes, crc = replay(data)
    print("replay %d %.4f %d %d" % (steps, spent, nbytes, crc))


if __name__ == "__main__":
    main()
