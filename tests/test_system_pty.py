"""Integration: the firmware in the real MicroPython unix port (host board) talks to the pump
emulator (CPython) over a real pty. A press is delivered, a press in lockout is refused on the
handheld, a hostile client ignoring the lockout is refused by the pump, and a link cut
mid-request ends uncertain and is settled from the pump's record."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import serial

from firmware import frame, prescription
from tools.security import rx_sign
from firmware import messages as m
from tests.mp import MICROPYTHON, REPO, mp_env

pytestmark = pytest.mark.micropython

RX = dict(version=1, dose_ug=50, duration_s=2, lockout_s=6, max_per_24h=20, cap_ug=0, cap_window_s=0)
KEY = bytes(range(1, 33))
# The firmware runs here from .py sources, compiled at import: that needs about 131 KB
# (docs/benchmarks.md), more with a longer checkout path (module paths live on the heap).
# 128K passed in /work/main and ran out in /check/work/main. A board runs .mpy (120 KB, same doc).
HEAP = "256K"


def _rx_flags():
    return [
        "--dose-ug", str(RX["dose_ug"]), "--duration-s", str(RX["duration_s"]),
        "--lockout-s", str(RX["lockout_s"]), "--max-per-24h", str(RX["max_per_24h"]),
    ]


def start_pump(tmp_path, *extra, paired=True):
    events = tmp_path / "pump-events.jsonl"
    if paired:
        (tmp_path / "pair.key").write_bytes(KEY)
        extra = ("--key", str(tmp_path / "pair.key")) + extra
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.pump_emulator", "--pty", "--events", str(events),
         "--record", str(tmp_path / "pump-record.json")] + _rx_flags() + list(extra),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    if "/dev/" not in line:
        proc.kill()
        raise AssertionError("pump emulator did not start: %r %s" % (line, proc.stderr.read()))
    return proc, line.strip().split()[-1], events


class Handheld:
    """The firmware (host board) in MicroPython; button through a file, screen on stdout."""

    def __init__(self, tmp_path, uart):
        data = tmp_path / "data"
        data.mkdir(exist_ok=True)
        (data / "key.bin").write_bytes(KEY)
        (data / "rx.bin").write_bytes(rx_sign.sign(prescription.from_fields(RX), KEY))
        self.button = tmp_path / "button"
        self.button.write_text("0")
        env = mp_env()
        env["VBOARD_UART"] = uart
        env["VBOARD_BUTTON"] = str(self.button)
        self.proc = subprocess.Popen(
            [MICROPYTHON, "-X", "heapsize=" + HEAP, "-c", "from firmware import main; main.run('host')"],
            cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.lines = []
        self._buf = ""

    def read(self):
        try:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
        except BlockingIOError:
            chunk = b""
        if chunk:
            self._buf += chunk.decode("utf-8", "replace")
            *done, self._buf = self._buf.split("\n")
            self.lines.extend(done)

    def wait_display(self, text, timeout=10.0, since=0):
        end = time.time() + timeout
        while time.time() < end:
            self.read()
            for line in self.lines[since:]:
                if line.startswith("display:") and text in line:
                    return line
            if self.proc.poll() is not None:
                self.read()
                # the unix port prints an uncaught exception's traceback on stdout
                raise AssertionError("firmware exited with code %s; last output:\n%s\nstderr: %s" % (
                    self.proc.returncode, "\n".join((self.lines + [self._buf])[-15:]), self.proc.stderr.read().decode()))
            time.sleep(0.05)
        raise AssertionError("never showed %r; saw %s" % (text, [x for x in self.lines if x.startswith("display")][-40:]))

    def press(self, hold_s=2.5):
        """Hold the button `hold_s` of real time (over the 1 s hold with room to spare: a firmware
        process starved of CPU on a loaded machine sees less of the hold than was given)."""
        mark = len(self.lines)
        self._set_button("1")
        time.sleep(hold_s)
        self._set_button("0")
        time.sleep(0.2)  # a release shorter than the debounce would join the next press
        return mark

    def _set_button(self, level):
        tmp = self.button.with_suffix(".tmp")
        tmp.write_text(level)
        os.replace(tmp, self.button)  # atomic, as the console button's header asks

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


def pump_events(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def rig(tmp_path):
    pump, dev, events = start_pump(tmp_path)
    hh = Handheld(tmp_path, dev)
    yield pump, hh, events
    hh.stop()
    pump.send_signal(signal.SIGCONT)
    pump.terminate()
    pump.wait(5)


def test_press_delivered_then_lockout_refused_on_handheld(rig):
    pump, hh, events = rig
    hh.wait_display("Dose available", timeout=15)
    mark = hh.press()
    hh.wait_display("Dose given", since=mark)
    mark = hh.press()
    hh.wait_display("too soon", since=mark)
    starts = [e for e in pump_events(events) if e.get("event") == "delivery" and e.get("phase") == "start"]
    assert len(starts) == 1, starts
    # after the lockout the next press is given again
    hh.wait_display("Dose available", timeout=10, since=mark)
    mark = hh.press()
    hh.wait_display("Dose given", since=mark)


def test_link_cut_mid_request_is_uncertain_then_settled(rig):
    pump, hh, events = rig
    hh.wait_display("Dose available", timeout=15)
    pump.send_signal(signal.SIGSTOP)  # the pump goes quiet with the request in its input buffer
    mark = hh.press()
    hh.wait_display("counted as given", since=mark, timeout=10)
    pump.send_signal(signal.SIGCONT)  # the pump wakes, acts on the buffered request, replies late
    line = hh.wait_display("Last dose was", since=mark, timeout=15)
    starts = [e for e in pump_events(events) if e.get("event") == "delivery" and e.get("phase") == "start"]
    assert ("NOT given" in line) == (len(starts) == 0), (line, starts)
    assert len(starts) <= 1


def test_hostile_client_ignoring_lockout_is_refused_by_pump(tmp_path):
    pump, dev, events = start_pump(tmp_path, paired=False)
    try:
        port = serial.Serial(dev, 115200, timeout=0.5)
        deframer = frame.Deframer()

        def ask(seq, msg_type, fields, reply):
            port.write(frame.encode(msg_type, seq, m.encode(msg_type, fields)))
            end = time.time() + 3
            while time.time() < end:
                for fr in deframer.feed(port.read(256) or b""):
                    if fr.error is None and fr.msg_type == reply and fr.seq == seq:
                        return m.decode(reply, fr.payload)
            raise AssertionError("no reply")

        sync = ask(1, m.SYNC_REQ, {}, m.SYNC)
        now = sync["pump_time"]
        accepted = 0
        for i in range(5):  # five requests in a row, new ids, well inside the lockout
            ack = ask(10 + i, m.BOLUS_REQ, {"request_id": 100 + i, "dose_ug": RX["dose_ug"], "duration_s": RX["duration_s"],
                                            "captured_s": now, "counter": 0, "tag": bytes(16)}, m.BOLUS_ACK)
            accepted += ack["accepted"]
            if not ack["accepted"]:  # a bolus still running is refused as busy, later ones as lockout
                assert m.PUMP_REASONS[ack["reason"]] in ("lockout", "busy")
            time.sleep(0.6)
        assert accepted == 1
        port.close()
    finally:
        pump.terminate()
        pump.wait(5)


def test_paired_pump_refuses_a_spoofed_bolus_command(tmp_path):
    """A device without the pairing key cannot command the pump, whatever it sends."""
    pump, dev, events = start_pump(tmp_path)
    try:
        port = serial.Serial(dev, 115200, timeout=0.5)
        deframer = frame.Deframer()
        port.write(frame.encode(m.SYNC_REQ, 1, m.encode(m.SYNC_REQ, {})))
        now = None
        end = time.time() + 3
        while now is None and time.time() < end:
            for fr in deframer.feed(port.read(256) or b""):
                if fr.error is None and fr.msg_type == m.SYNC:
                    now = m.decode(m.SYNC, fr.payload)["pump_time"]
        for seq, tag, reason in ((2, bytes(16), m.R_UNPAIRED), (3, bytes([0x5A]) * 16, m.R_AUTH)):
            fields = {"request_id": 7 + seq, "dose_ug": RX["dose_ug"], "duration_s": RX["duration_s"],
                      "captured_s": now, "counter": 99, "tag": tag}
            port.write(frame.encode(m.BOLUS_REQ, seq, m.encode(m.BOLUS_REQ, fields)))
            ack = None
            end = time.time() + 3
            while ack is None and time.time() < end:
                for fr in deframer.feed(port.read(256) or b""):
                    if fr.error is None and fr.msg_type == m.BOLUS_ACK and fr.seq == seq:
                        ack = m.decode(m.BOLUS_ACK, fr.payload)
            assert ack is not None and not ack["accepted"]
            assert ack["reason"] == reason  # an all-zero tag is an unpaired sender, any other a wrong tag
        port.close()
    finally:
        pump.terminate()
        pump.wait(5)
    starts = [e for e in pump_events(events) if e.get("event") == "delivery"]
    assert starts == []
