"""`python -m tools.pump_emulator`: help, one-sentence errors, and a real pty session."""

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from firmware import frame
from firmware import messages as m
from tests.mp import REPO

RX_TEXT = "# test prescription\nversion=3 dose_ug=500 duration_s=60\nlockout_s=600 max_per_24h=6\ncap_ug=0 cap_window_s=0\n"


def cli(*args, timeout=20):
    return subprocess.run(
        [sys.executable, "-m", "tools.pump_emulator", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(res, status, *words):
    assert res.returncode == status, res
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for w in words:
        assert w in lines[0]
    assert res.stdout == ""


def test_help():
    res = cli("--help")
    assert res.returncode == 0
    for word in ("--pty", "--port", "--rx", "--record", "--events", "--speed", "--drop", "--silent", "--alarm"):
        assert word in res.stdout


@pytest.mark.parametrize(
    "args,words",
    [
        (["--pty", "--drop", "2"], ["--drop", "probability"]),
        (["--pty", "--speed", "0"], ["--speed", "positive"]),
        (["--pty", "--delay-ms", "soon"], ["--delay-ms", "whole number"]),
        (["--pty", "--alarm", "fire"], ["fire", "motor_stall"]),
        (["--pty", "--bogus"], ["--bogus"]),
        ([], ["--pty", "--port"]),
        (["--pty", "--port", "/dev/ttyS0"], ["not allowed"]),
        (["--pty", "--dose-ug", "500"], ["--duration-s"]),
        (["--pty", "--dose-ug", "500", "--duration-s", "60", "--lockout-s", "30", "--max-per-24h", "6"], ["lockout_s"]),
    ],
)
def test_bad_options_are_one_line_errors(args, words):
    assert_one_line_error(cli(*args), 2, *words)


def test_missing_port_is_a_clear_error():
    assert_one_line_error(cli("--port", "/dev/nonexistent"), 1, "/dev/nonexistent", "cannot open serial port")


def test_not_a_serial_port_is_a_clear_error(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("")
    assert_one_line_error(cli("--port", str(plain)), 1, "cannot open serial port", "plain")


def test_unwritable_record_is_an_error_at_start(tmp_path):
    assert_one_line_error(cli("--pty", "--record", str(tmp_path / "no" / "pump.json")), 1, "cannot write the record file")


def test_prescription_file_errors(tmp_path):
    assert_one_line_error(cli("--pty", "--rx", str(tmp_path / "nope.txt")), 1, "nope.txt", "cannot read")
    bad = tmp_path / "bad.txt"
    bad.write_text("version=1 dose_ug=500 duration_s=60 lockout_s=600 max_per_24h=6 cap_ug=0\n")
    assert_one_line_error(cli("--pty", "--rx", str(bad)), 1, "bad.txt", "cap_window_s")
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    assert_one_line_error(cli("--pty", "--rx", str(binary)), 1, "bin.txt")


def test_damaged_record_is_an_error(tmp_path):
    rec = tmp_path / "pump.json"
    rec.write_text("{broken")
    assert_one_line_error(cli("--pty", "--record", str(rec)), 1, "pump.json", "not valid JSON")
    assert rec.read_text() == "{broken"


class Emulator:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.pump_emulator", "--pty", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out = self.proc.stdout
        assert out is not None
        ready, _, _ = select.select([out], [], [], 15)
        assert ready, "the emulator printed nothing"
        line = out.readline().strip()
        assert line.startswith("pump emulator on /dev/"), line
        self.path = line.rsplit(" ", 1)[1]

    def stop(self, how):
        if how == "sigint":
            self.proc.send_signal(signal.SIGINT)
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        err = self.proc.stderr
        return self.proc.returncode, err.read() if err is not None else ""


def exchange(ser, msg_type, seq, fields, timeout=5.0):
    ser.write(frame.encode(msg_type, seq, m.encode(msg_type, fields)))
    d = frame.Deframer()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = ser.read(256)
        for fr in d.feed(data):
            if fr.error is None and fr.seq == seq and fr.msg_type == m.REPLY_TO[msg_type]:
                return m.decode(fr.msg_type, fr.payload)
    raise AssertionError("no reply to 0x%02x" % msg_type)


@pytest.mark.parametrize("how", ["sigint", "terminate"])
def test_pty_session(tmp_path, how):
    serial = pytest.importorskip("serial")
    rx = tmp_path / "rx.txt"
    rx.write_text(RX_TEXT)
    record = tmp_path / "pump.json"
    events = tmp_path / "events.jsonl"
    emu = Emulator("--rx", str(rx), "--record", str(record), "--events", str(events), "--start-s", "5000000")
    try:
        ser = serial.Serial(emu.path, 115200, timeout=0.05)
        sync = exchange(ser, m.SYNC_REQ, 1, {})
        assert sync["pump_time"] >= 5000000 and sync["history_count"] == 0
        ack = exchange(
            ser,
            m.BOLUS_REQ,
            2,
            {"request_id": 31, "dose_ug": 500, "duration_s": 60, "captured_s": sync["pump_time"], "counter": 0, "tag": bytes(16)},
        )
        assert (ack["request_id"], ack["accepted"]) == (31, 1)
        again = exchange(
            ser,
            m.BOLUS_REQ,
            3,
            {"request_id": 32, "dose_ug": 500, "duration_s": 60, "captured_s": sync["pump_time"], "counter": 0, "tag": bytes(16)},
        )
        assert (again["accepted"], again["reason"]) in ((0, m.R_BUSY), (0, m.R_LOCKOUT))
        ser.close()
    finally:
        status, err = emu.stop(how)
    assert status == 0, err
    assert "Traceback" not in err
    saved = json.loads(record.read_text())
    assert [b["request_id"] for b in saved["boluses"]] == [31, 32]
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    kinds = [e["event"] for e in lines]
    assert kinds[0] == "start" and kinds[-1] == "stop"
    assert "frame_in" in kinds and "frame_out" in kinds and "refused" in kinds
    assert any(e["event"] == "delivery" and e["phase"] == "start" for e in lines)


def test_pty_with_alarm_and_speed(tmp_path):
    serial = pytest.importorskip("serial")
    emu = Emulator("--dose-ug", "500", "--duration-s", "60", "--lockout-s", "600", "--max-per-24h", "6",
                   "--alarm", "motor_stall", "--speed", "100", "--events", "-")  # fmt: skip
    try:
        ser = serial.Serial(emu.path, 115200, timeout=0.05)
        first = exchange(ser, m.STATUS_REQ, 1, {})
        assert first["alarms"] == m.ALARM_MOTOR_STALL
        time.sleep(0.3)
        second = exchange(ser, m.STATUS_REQ, 2, {})
        assert second["pump_time"] - first["pump_time"] >= 20  # 100x real time
        ser.close()
    finally:
        status, err = emu.stop("sigint")
    assert status == 0
    assert '"event": "alarm"' in err  # --events - writes JSON lines to stderr
