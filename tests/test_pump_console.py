"""tools/pump_emulator/console.py: operator commands on a running pump emulator, in process and
through `python -m tools.pump_emulator --pty --console` with a client on the pty."""

import os
import select
import signal
import subprocess
import sys
import time

import pytest
import serial

from firmware import frame, prescription
from firmware import messages as m
from tests.mp import REPO
from tools.pump_emulator import console
from tools.pump_emulator.port import PumpPort
from tools.pump_emulator.pump import Pump

T0 = 1000000


def make():
    rx = prescription.from_fields(dict(version=1, dose_ug=500, duration_s=60, lockout_s=600, max_per_24h=6, cap_ug=0, cap_window_s=0))
    pump = Pump(rx=rx, start_s=T0)
    return pump, PumpPort(pump)


def run(pump, port, line):
    answer, _event = console.execute(line, pump, port)
    return answer


def test_alarms_raised_and_cleared():
    pump, port = make()
    assert run(pump, port, "alarm motor_stall").startswith("ok: motor_stall raised")
    assert pump.alarms & m.ALARM_MOTOR_STALL
    run(pump, port, "alarm battery_eri")
    assert run(pump, port, "clear motor_stall") == "ok: cleared; alarms now battery_eri"
    assert run(pump, port, "clear") == "ok: cleared; alarms now none"
    assert pump.alarms == 0


def test_clock_refill_restart_and_link_faults():
    pump, port = make()
    assert run(pump, port, "clock +3600") == "ok: clock set +3600 s: pump time %d" % (T0 + 3600)
    assert pump.clock_set_s() == 3600
    run(pump, port, "clock -600")
    assert pump.pump_time == T0 + 3000
    run(pump, port, "refill 500")
    assert pump.reservoir_ug == 500  # 500 uL at 1000 ug/mL
    for line, attr, value in (("drop 0.25", "drop", 0.25), ("corrupt 0.1", "corrupt", 0.1), ("duplicate 1", "duplicate", 1.0),
                              ("delay 250", "delay_ms", 250), ("silent on", "silent", True)):
        assert run(pump, port, line).startswith("ok: ")
        assert getattr(port, attr) == value
    status = run(pump, port, "status")
    assert "clock set +3000 s" in status and "drop 0.25" in status and "silent" in status
    assert run(pump, port, "clean") == "ok: link faults off"
    assert (port.drop, port.corrupt, port.duplicate, port.delay_ms, port.silent) == (0, 0, 0, 0, False)
    assert "link faults none" in run(pump, port, "status")


def test_restart_stops_a_running_bolus():
    pump, port = make()
    ack = pump.bolus_request({"request_id": 1, "dose_ug": 500, "duration_s": 60, "captured_s": T0, "counter": 0, "tag": bytes(16)})
    assert ack["accepted"]
    pump.advance_to(30000)
    assert "bolus #1 250/500 ug" in run(pump, port, "status")
    assert run(pump, port, "restart") == "ok: restarted"
    assert pump.boluses[1]["status"] == m.BOLUS_STOPPED
    assert "bolus none, 1 bolus in 24 h" in run(pump, port, "status")


@pytest.mark.parametrize(
    "line,words",
    [
        ("fly", "unknown command fly"),
        ("alarm", "usage: alarm NAME"),
        ("alarm fire", "unknown alarm fire"),
        ("clear fire", "unknown alarm fire"),
        ("clock 1h", "whole number of seconds"),
        ("clock +9999999", "at most 864000 s"),
        ("drop 2", "probability from 0 to 1"),
        ("drop often", "probability from 0 to 1"),
        ("delay -5", "whole number"),
        ("silent maybe", "usage: silent on|off"),
        ("refill lots", "whole number"),
        ("restart now", "usage: restart"),
    ],
)
def test_bad_lines_get_one_sentence_and_change_nothing(line, words):
    pump, port = make()
    before = (pump.alarms, pump.pump_time, pump.reservoir_ug, port.drop, port.delay_ms, port.silent)
    answer, event = console.execute(line, pump, port)
    assert answer.startswith("error: ") and answer.endswith(".") and words in answer, answer
    assert event is None
    assert (pump.alarms, pump.pump_time, pump.reservoir_ug, port.drop, port.delay_ms, port.silent) == before


def test_blank_and_comment_lines_are_ignored():
    pump, port = make()
    assert console.execute("   ", pump, port) == (None, None)
    assert console.execute("# a note", pump, port) == (None, None)


def test_line_reader_gives_whole_lines_and_the_last_one_at_end_of_input():
    chunks = [b"alarm mot", b"or_stall\nstat", b"us\nclean", b""]
    reader = console.LineReader(0)
    got = []
    while reader.open:
        got += reader.read_lines(lambda fd: chunks.pop(0))
    assert got == ["alarm motor_stall", "status", "clean"]


# ---- the real program ---------------------------------------------------------------------------
def _ask(port, deframer, seq, msg_type, reply):
    port.write(frame.encode(msg_type, seq, m.encode(msg_type, {})))
    end = time.time() + 3
    while time.time() < end:
        for fr in deframer.feed(port.read(256) or b""):
            if fr.error is None and fr.msg_type == reply and fr.seq == seq:
                return m.decode(reply, fr.payload)
    raise AssertionError("no reply to %d" % msg_type)


def test_console_drives_the_running_emulator(tmp_path):
    events = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.pump_emulator", "--pty", "--console", "--start-s", str(T0), "--events", str(events),
         "--dose-ug", "500", "--duration-s", "60", "--lockout-s", "600", "--max-per-24h", "6"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        dev = proc.stdout.readline().decode().split()[-1]
        os.set_blocking(proc.stdout.fileno(), False)

        def say(line):
            proc.stdin.write((line + "\n").encode())
            proc.stdin.flush()
            end = time.time() + 5
            got = b""
            while not got.endswith(b"\n") and time.time() < end:
                select.select([proc.stdout], [], [], 0.2)
                try:
                    got += os.read(proc.stdout.fileno(), 4096)
                except BlockingIOError:
                    pass
            return got.decode().strip()

        port = serial.Serial(dev, 115200, timeout=0.2)
        deframer = frame.Deframer()
        assert say("alarm motor_stall").startswith("ok: motor_stall raised")
        assert _ask(port, deframer, 1, m.STATUS_REQ, m.STATUS)["alarms"] & m.ALARM_MOTOR_STALL
        assert say("clock +3600").startswith("ok: clock set +3600 s")
        assert _ask(port, deframer, 2, m.SYNC_REQ, m.SYNC)["pump_time"] >= T0 + 3600
        assert say("launch").startswith("error: unknown command launch")
        assert say("status").startswith("ok: pump time")
        proc.stdin.close()  # end of the operator's input: the pump goes on serving the line
        time.sleep(0.3)
        assert proc.poll() is None
        assert _ask(port, deframer, 3, m.STATUS_REQ, m.STATUS)["alarms"] & m.ALARM_MOTOR_STALL
        port.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    logged = events.read_text()
    assert '"command": "alarm motor_stall"' in logged and '"command": "clock +3600"' in logged


def test_help_lists_every_command_with_its_arguments():
    pump, port = make()
    answer = run(pump, port, "help")
    assert answer.startswith("ok: ") and "clock +S|-S" in answer and "silent on|off" in answer
    for name in console.COMMANDS:
        assert name in answer


def test_refill_answers_the_volume_it_took_and_the_drug_it_holds():
    pump, port = make()
    assert run(pump, port, "refill 20000") == "ok: refilled 20000 uL at 1000 ug/mL: reservoir 20000 ug"
    pump.concentration = 500
    assert run(pump, port, "refill 300") == "ok: refilled 300 uL at 500 ug/mL: reservoir 150 ug"


@pytest.mark.parametrize(
    "line,words",
    [
        ("clock 5", "say which way the clock moves: +5 (forward) or -5 (back)"),
        ("clock 3600", "+3600 (forward) or -3600 (back)"),
        ("clock +５", "whole number of seconds"),
        ("drop ０.５", "probability from 0 to 1"),  # float() takes fullwidth digits
        ("corrupt 0_5", "probability from 0 to 1"),
        ("duplicate nan", "probability from 0 to 1"),
    ],
)
def test_unsigned_clock_and_non_ascii_numbers_are_refused(line, words):
    test_bad_lines_get_one_sentence_and_change_nothing(line, words)
    pump, port = make()
    console.execute(line, pump, port)
    assert (port.corrupt, port.duplicate, pump.clock_set_s()) == (0, 0, 0)
