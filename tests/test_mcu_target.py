"""The firmware, unmodified and frozen, on an emulated Cortex-M0 (MicroPython's qemu port built by
tools/mcu, the micro:bit machine with 256 KB of SRAM) as the lockstep board: a scenario gives
the same events as on the unix port, a shortened day completes under a 48 KB heap (and, with the
.mpy files on littlefs instead, under 80 KB), and qemu dies with its wrapper.

The firmware is built once (about 20-110 s) and cached by the hash of its inputs
(tools/mcu/build.py). Without the toolchain these tests fail, saying what to install (CI
installs it: .ci/run); a developer without it may set PP_SKIP_MCU=1 (docs/boards.md).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.mp import MICROPYTHON
from tools.bench import heap as H
from tools.bench import mcu as bench_mcu
from tools.mcu import MCUError, build
from tools.scenario.run import run_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = "microbit"
INTERP = "qemu-" + TARGET
HEAP = "48K"
OPT_OUT = "PP_SKIP_MCU"


@pytest.fixture(scope="module")
def elf():
    if os.environ.get(OPT_OUT) == "1":
        pytest.skip("%s=1: the Cortex-M tests are switched off" % OPT_OUT)
    try:
        return build.firmware(TARGET, "frozen", HEAP)
    except MCUError as e:
        pytest.fail(
            "the Cortex-M target cannot be built: %s (.ci/run installs it; %s=1 skips these tests)" % (e, OPT_OUT),
            pytrace=False,
        )


def _events(path, interpreter, heap=None):
    out = []
    run_file(path, interpreter=interpreter, heap=heap, emit=out.append)
    return out


@pytest.mark.micropython
def test_scenario_gives_the_same_events_on_the_cortex_m0_as_on_the_unix_port(elf):
    if MICROPYTHON is None:
        pytest.skip("the MicroPython unix port is not installed")
    path = os.path.join(REPO, "tests", "scenarios", "reboot_lockout.scn")  # 4 boots: the log survives each
    unix = _events(path, "micropython")
    mcu = _events(path, INTERP, HEAP)
    assert mcu == unix
    assert unix[-1]["boots"] == 4 and unix[-1]["granted"] == 2


@pytest.fixture(scope="module")
def short_day(elf):
    text = bench_mcu.short_day_text()
    ref = bench_mcu.reference(text)
    got = bench_mcu.day(TARGET, "frozen", HEAP, text=text)
    return ref, got


@pytest.mark.micropython
def test_frozen_firmware_completes_a_shortened_day_under_a_48k_heap(short_day):
    ref, got = short_day
    assert H._outcome(got["summary"]) == H._outcome(ref)
    assert got["summary"]["granted"] >= 5 and got["summary"]["denied"] >= 1 and got["boots"] == 2
    assert got["heap_bytes"] <= 48 * 1024
    assert got["peak_poll"] < got["heap_bytes"]


@pytest.mark.micropython
def test_mpy_firmware_completes_a_shortened_day_under_an_80k_heap(short_day):
    """The .mpy files on littlefs, as on a Pico, and issue 12's 80 KB: the bytecode lives in
    the heap, and without firmware/__init__.py's gc.threshold the loads fragmented it so much
    that the first boot failed with 84 and 86 KB (docs/benchmarks.md)."""
    ref, _got = short_day
    got, crash = H._run(bench_mcu.short_day_text(), "80K", interpreter="qemu-%s-mpy" % TARGET)
    assert got is not None, crash
    assert H._outcome(got) == H._outcome(ref)
    assert got["boots"] == 2 and got["granted"] >= 5


@pytest.mark.micropython
def test_an_idle_poll_allocates_nothing_on_the_cortex_m0(short_day):
    _ref, got = short_day
    assert got["garbage_idle"] == 0, "the most common poll made %d bytes of garbage" % got["garbage_idle"]


def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _alive(pid):
    """True while `pid` runs (a zombie waiting for init to reap it has ended)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[1][:1] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def test_qemu_dies_with_its_wrapper(elf, tmp_path):
    env = dict(os.environ, LOCKSTEP_DIR=str(tmp_path / "hh"), PYTHONPATH=REPO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.mcu", "run", "--target", TARGET, "--heap", HEAP],
        cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        while True:  # the first step report: qemu is up and the firmware polled once
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            if line.startswith(b"sleep "):
                break
        qemu = _children(proc.pid)
        assert len(qemu) == 1
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while _alive(qemu[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(qemu[0]), "qemu %d still runs after its wrapper died" % qemu[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_missing_toolchain_is_one_clear_sentence(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path), MCU_CACHE=str(tmp_path / "cache"), PYTHONPATH=REPO)
    res = subprocess.run(
        [sys.executable, "-m", "tools.mcu", "build"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mcu: ") and "apt-get install" in lines[0], res.stderr
    assert json.dumps(lines[0])  # one printable line
