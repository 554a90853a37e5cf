"""Oversized files at boot (issue 11, defect 5): a 200 KB rx.bin, a 300 KB events.0, an
oversized key.bin or rx.txt must not exhaust the heap. Every firmware read passes a cap
(`Storage.read(name, limit)` raises Oversized before reading), the file is refused with a
logged reason, the handheld boots, denies without a valid prescription and its log keeps
working. The same boot script runs on CPython and in the MicroPython unix port with a small
heap (there the uncapped reads ended in MemoryError)."""

import ast
import os
import subprocess
import sys

import pytest

from firmware import eventlog as ev
from firmware import policy, prescription, rxstore
from hal.contract import Oversized
from hal.fakes import MemStorage
from hal.storage import FileStorage
from tests.mp import MICROPYTHON, REPO, run_mp
from tools.security import rx_sign

KEY = bytes(range(1, 33))
RX = prescription.from_fields(
    dict(version=1, dose_ug=100, duration_s=60, lockout_s=600, max_per_24h=4, cap_ug=0, cap_window_s=0)
)
HEAP = "192K"  # the firmware compiled from source boots in about 160K

# Boots the firmware (firmware.main.Superloop) on fakes and FileStorage(sys.argv[1]), presses
# once, and prints what a test needs: fault state, every log record, the screen.
BOOT = """
import gc
import sys
from hal.fakes import FakeBuzzer, FakeClock, FakeDisplay, FakeIndicator, FakeSerialPair, FakeWatchdog, ScriptedButton
gc.collect()
from hal.storage import FileStorage
from firmware import main
gc.collect()


class Board:
    NAME = "test"
    HOLD_MS = 1000
    ALLOW_UNSIGNED_RX = sys.argv[2] == "dev"


clock = FakeClock(0)
button = ScriptedButton()
display = FakeDisplay()
hal = {"clock": clock, "button": button, "indicator": FakeIndicator(), "buzzer": FakeBuzzer(), "display": display,
       "serial": FakeSerialPair(clock).a, "storage": FileStorage(sys.argv[1]), "watchdog": FakeWatchdog()}
loop = main.Superloop(Board, hal)
loop.run(100)
button.set(True)
loop.run(150)
button.set(False)
loop.run(50)
print("fault", loop.in_fault)
if not loop.in_fault:
    print("rx", loop.app.rx is not None)
    for r in loop.app.log.records():
        print("rec", r.kind, r.a, r.b, r.c)
print("display", "|".join(display.lines))
"""


def boot(root, interpreter, board="signed"):
    """(fault state, records as (kind, a, b, c), screen) of one boot on `root`."""
    if interpreter == "micropython":
        if MICROPYTHON is None:
            pytest.skip("the MicroPython unix port is not installed")
        proc = run_mp(BOOT, heap=HEAP, args=(str(root), board))
    else:
        env = dict(os.environ, PYTHONPATH=REPO)
        cmd = [sys.executable, "-c", BOOT, str(root), board]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    out = proc.stdout.splitlines()
    records = [tuple(int(x) for x in line.split()[1:]) for line in out if line.startswith("rec ")]
    screen = [line[len("display ") :] for line in out if line.startswith("display ")][0]
    return "fault True" in out, records, screen


def provision(root, rx_bin=True, events=3):
    """A paired handheld's folder: key.bin, a signed rx.bin, `events` committed records."""
    st = FileStorage(str(root))
    st.replace("key.bin", KEY)
    if rx_bin:
        st.replace("rx.bin", rx_sign.sign(RX, KEY))
    log = ev.EventLog(st)
    log.open()
    for i in range(events):
        log.append(ev.SYNCED, 1000 + i, 7, 0)
    return st


def faults(records, code):
    return [r for r in records if r[0] == ev.FAULT and r[1] == code]


def refusals(records):
    return [r[3] for r in records if r[0] == ev.RX_CHANGE and r[2] == 0]


def denied(records):
    return [policy.REASON_NAMES.get(r[1]) for r in records if r[0] == ev.DENIED]


INTERPRETERS = [
    "cpython",
    pytest.param("micropython", marks=pytest.mark.micropython),
]


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_a_200_kb_rx_bin_is_refused_logged_and_every_press_denied(tmp_path, interpreter):
    st = provision(tmp_path)
    st.replace("rx.bin", rx_sign.sign(RX, KEY) + b"\0" * 200 * 1024)
    fault, records, screen = boot(tmp_path, interpreter)
    assert not fault
    assert refusals(records) == [rxstore.OVERSIZED]
    assert denied(records) == [policy.NO_PRESCRIPTION]
    assert screen.startswith("Not given: no|prescription")


@pytest.mark.parametrize("interpreter", INTERPRETERS)
@pytest.mark.parametrize("segment", ["events.0", "events.1"])
def test_a_300_kb_log_segment_is_cut_to_one_segment_keeping_its_records(tmp_path, interpreter, segment):
    st = provision(tmp_path, events=3 if segment == "events.0" else 0)
    st.append(segment, b"\x5a" * 300 * 1024)  # junk after the committed records
    fault, records, screen = boot(tmp_path, interpreter)
    assert not fault
    kept = [r for r in records if r[0] == ev.SYNCED]
    assert len(kept) == (3 if segment == "events.0" else 0)
    size = 300 * 1024 + 26 * len(kept)
    assert faults(records, ev.FAULT_OVERSIZED_FILE) == [(ev.FAULT, ev.FAULT_OVERSIZED_FILE, ev.FILE_IDS[segment], size)]
    assert os.path.getsize(tmp_path / segment) <= 4096
    # The log keeps working: this boot's BOOT, PRESS and DENIED (the pump is silent) are in it.
    assert [r[0] for r in records if r[0] in (ev.BOOT, ev.PRESS)] == [ev.BOOT, ev.PRESS]
    assert denied(records) == [policy.NOT_SYNCED]
    assert screen.startswith("Not given: pump|not synced")


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_an_oversized_key_is_refused_logged_and_every_press_denied(tmp_path, interpreter):
    st = provision(tmp_path)
    st.replace("key.bin", KEY * 2048)  # 64 KB
    fault, records, screen = boot(tmp_path, interpreter)
    assert not fault
    assert faults(records, ev.FAULT_OVERSIZED_FILE) == [(ev.FAULT, ev.FAULT_OVERSIZED_FILE, ev.FILE_IDS["key.bin"], 65536)]
    assert refusals(records) == [rxstore.NO_KEY]  # without a key, rx.bin cannot be trusted
    assert denied(records) == [policy.NO_PRESCRIPTION]


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_an_oversized_rx_txt_on_a_development_board_is_refused(tmp_path, interpreter):
    st = provision(tmp_path, rx_bin=False)
    st.remove("key.bin")
    text = "version=1 dose_ug=100 duration_s=60 lockout_s=600 max_per_24h=4 cap_ug=0 cap_window_s=0\n"
    st.replace("rx.txt", (text + ("#" * 100 + "\n") * 2000).encode())  # valid, with 200 KB of comments
    fault, records, screen = boot(tmp_path, interpreter, board="dev")
    assert not fault
    assert refusals(records) == [rxstore.OVERSIZED]
    assert denied(records) == [policy.NO_PRESCRIPTION]
    st.replace("rx.txt", text.encode())  # the same prescription at its normal size is used
    fault, records, screen = boot(tmp_path, interpreter, board="dev")
    assert refusals(records) == [rxstore.OVERSIZED] and denied(records)[-1] == policy.NOT_SYNCED


# ---- the Storage contract's cap ------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda p: FileStorage(str(p)), lambda p: MemStorage()])
def test_read_with_a_limit_refuses_a_larger_file_before_reading_it(tmp_path, make):
    st = make(tmp_path)
    st.replace("f", b"x" * 100)
    assert st.read("f", 100) == b"x" * 100
    with pytest.raises(Oversized) as e:
        st.read("f", 99)
    assert (e.value.name, e.value.size, e.value.limit) == ("f", 100, 99)
    assert st.read("missing", 10) is None
    st.truncate("f", 40)
    assert st.read("f", 40) == b"x" * 40


def _reads_without_a_cap(path):
    """Calls `<...storage...>.read(name)` with a single argument in one source file."""
    tree = ast.parse(open(path).read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "read":
            owner = ast.unparse(node.func.value)
            if "storage" in owner.lower() and len(node.args) + len(node.keywords) < 2:
                found.append("%s:%d %s" % (os.path.relpath(path, REPO), node.lineno, ast.unparse(node)))
    return found


def test_every_storage_read_in_the_firmware_passes_a_cap():
    found = []
    for folder in ("firmware", "hal", "boards"):
        for dirpath, _dirs, files in os.walk(os.path.join(REPO, folder)):
            for name in files:
                if name.endswith(".py"):
                    found += _reads_without_a_cap(os.path.join(dirpath, name))
    assert found == []
