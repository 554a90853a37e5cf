"""The loop's sleep (the `wait` role of hal/contract.py): until the app's deadline or an input.

`hal/machine_wait.py` on both interpreters against the recording fake `machine` of
tests/test_boards_hal.py: it sleeps the time asked when nothing comes, and returns at once on
a button edge (the interrupt's `changed`) or a byte in the UART. `hal/host_wait.py` on a real
pty: a byte from the other end ends the wait, a hang-up does not make it spin, and a button
read from a file cannot wake it (the superloop then samples the button itself).
"""

import os
import threading
import time

import pytest

from hal.host_clock import HostClock
from hal.host_console import ConsoleButton
from hal.host_serial import HostSerial
from hal.host_wait import HostWait
from tests.mp import run_mp
from tests.test_boards_hal import _fake_dir, _run_cpython

MACHINE_WAIT = r'''
import sys
import fake_machine
sys.modules["machine"] = fake_machine
try:
    import micropython
except ImportError:
    import fake_micropython
    sys.modules["micropython"] = fake_micropython
import time
from hal import machine_button, machine_serial, machine_wait

def ms_since(t0):
    return time.ticks_diff(time.ticks_ms(), t0)

button = machine_button.Button(14, irq=True)
serial = machine_serial.Serial(0, 0, 1)
w = machine_wait.Wait(slice_ms=5)
w.watch({"button": button, "serial": serial})
assert w.wakes_on_button()
t0 = time.ticks_ms()
w.wait(120)  # nothing comes: the whole time, in slices
assert 115 <= ms_since(t0) < 1000, ms_since(t0)
button._pin.handler(button._pin)  # an edge came while the loop polled
t0 = time.ticks_ms()
w.wait(2000)
assert ms_since(t0) < 100 and not button.changed
serial._uart.rx.extend(b"\x01")  # a byte from the pump
t0 = time.ticks_ms()
w.wait(2000)
assert ms_since(t0) < 100
w.wait(0)
w.wait(-5)
plain = machine_wait.Wait()
plain.watch({"button": machine_button.Button(13), "serial": serial})
assert not plain.wakes_on_button()  # no interrupt: the superloop samples the button
try:
    machine_wait.Wait(slice_ms=0)
    raise AssertionError("slice_ms=0 accepted")
except ValueError:
    pass
print("wait ok")
'''

CPYTHON_TIME = (
    "import time\nfrom hal import ticks\n"
    "time.ticks_ms = lambda: int(time.monotonic() * 1000) & (ticks.PERIOD - 1)\n"
    "time.ticks_diff = ticks.diff\ntime.ticks_add = ticks.add\n"
    "time.sleep_ms = lambda ms: time.sleep(ms / 1000)\n"
)


@pytest.mark.micropython
def test_machine_wait_on_micropython(tmp_path):
    res = run_mp(MACHINE_WAIT, extra_path=_fake_dir(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == "wait ok"


def test_machine_wait_on_cpython(tmp_path):
    res = _run_cpython(CPYTHON_TIME + MACHINE_WAIT, _fake_dir(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == "wait ok"


@pytest.fixture
def pty_wait():
    master, slave = os.openpty()
    serial = HostSerial(os.ttyname(slave))
    w = HostWait()
    w.watch({"serial": serial, "clock": HostClock()})
    yield master, serial, w
    serial.close()
    os.close(slave)
    try:
        os.close(master)
    except OSError:
        pass


def _timed(fn, *args):
    t0 = time.monotonic()
    fn(*args)
    return (time.monotonic() - t0) * 1000


def test_host_wait_sleeps_until_the_deadline_when_nothing_comes(pty_wait):
    _master, _serial, w = pty_wait
    assert 140 <= _timed(w.wait, 150) < 1000


def test_host_wait_ends_when_a_byte_arrives(pty_wait):
    master, serial, w = pty_wait
    threading.Timer(0.05, os.write, (master, b"\x00")).start()
    assert _timed(w.wait, 3000) < 1000
    assert serial.read(8) == b"\x00"
    os.write(master, b"\x01")  # already waiting: no sleep at all
    assert _timed(w.wait, 3000) < 100


def test_host_wait_does_not_spin_on_a_hang_up(pty_wait):
    master, _serial, w = pty_wait
    os.close(master)  # the pump went away: the slave reports POLLHUP for ever
    assert 140 <= _timed(w.wait, 150) < 1000


def test_a_button_file_cannot_wake_the_host_loop(tmp_path):
    button = ConsoleButton(str(tmp_path / "button"))
    assert button.wake_stream() is None
    w = HostWait()
    w.watch({"button": button, "clock": HostClock()})
    assert not w.wakes_on_button()
