"""The board HAL implementations: host_* on CPython and the MicroPython unix port (a real pty
for the serial port), machine_* against a recording fake `machine` module on both."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from tests.mp import MICROPYTHON, REPO, mp_env, run_mp

# A stand-in for MicroPython's `machine`: records what the HAL does to the hardware.
FAKE_MACHINE = '''
LOG = []

class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    IRQ_FALLING = 4
    IRQ_RISING = 8
    def __init__(self, id, mode=-1, pull=-1):
        self.id = id
        self.level = 1
        self.handler = None
        LOG.append(("pin", id, mode, pull))
    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        LOG.append(("set", self.id, v))
    def irq(self, handler=None, trigger=0, hard=False):
        self.handler = handler
        LOG.append(("irq", self.id, trigger, hard))

class PWM:
    def __init__(self, pin):
        self.pin = pin
        self.f = 0
        self.d = 0
    def freq(self, f):
        self.f = f
        LOG.append(("freq", self.pin.id, f))
    def duty_u16(self, d):
        self.d = d
        LOG.append(("duty", self.pin.id, d))

class UART:
    def __init__(self, id, **kw):
        self.kw = kw
        self.rx = bytearray()
        self.tx = bytearray()
        LOG.append(("uart", id, kw["baudrate"], kw["timeout"]))
    def any(self):
        return len(self.rx)
    def read(self, n):
        if not self.rx:
            return None
        data = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return data
    def write(self, buf):
        self.tx.extend(buf)
        return len(buf)

class WDT:
    made = 0
    def __init__(self, timeout=5000):
        WDT.made += 1
        self.feeds = 0
        LOG.append(("wdt", timeout))
    def feed(self):
        self.feeds += 1

class Timer:
    PERIODIC = 1
    def __init__(self, id=-1):
        self.id = id
        self.callback = None
    def init(self, mode=1, period=0, callback=None):
        self.callback = callback
        LOG.append(("timer", self.id, period))
    def deinit(self):
        self.callback = None
        LOG.append(("timer_off", self.id))

class I2C:
    def __init__(self, id, sda=None, scl=None, freq=0):
        self.writes = []
        self.fail = False
    def writeto(self, addr, buf):
        if self.fail:
            raise OSError(19)
        self.writes.append(("cmd", addr, bytes(buf)))
    def writevto(self, addr, vector):
        if self.fail:
            raise OSError(19)
        self.writes.append(("data", addr, b"".join(bytes(v) for v in vector)))
'''

FAKE_MICROPYTHON = '''
SCHEDULED = []
def schedule(fn, arg):
    SCHEDULED.append((fn, arg))
def const(x):
    return x
'''

# The checks, run unchanged on both interpreters.
MACHINE_CHECKS = r'''
import sys
import fake_machine
sys.modules["machine"] = fake_machine
try:
    import micropython
    _real_schedule = True
except ImportError:
    import fake_micropython
    sys.modules["micropython"] = fake_micropython
    _real_schedule = False
import micropython

from hal import machine_button, machine_buzzer, machine_indicator, machine_serial, machine_watchdog, machine_clock

# Button: pull-up, active low, raw level
b = machine_button.Button(15)
assert fake_machine.LOG[-1] == ("pin", 15, 0, 1), fake_machine.LOG[-1]
assert not b.pressed()
b._pin.level = 0
assert b.pressed()
# IRQ mode: the handler only counts and schedules the cached bound method, once
calls = []
b = machine_button.Button(14, irq=True, on_edge=calls.append)
handler = b._pin.handler
if not _real_schedule:
    fake_micropython.SCHEDULED[:] = []
handler(b._pin)
handler(b._pin)
assert b.edges == 2 and b.take_changed() and not b.take_changed()
if not _real_schedule:
    assert len(fake_micropython.SCHEDULED) == 1
    fn, arg = fake_micropython.SCHEDULED[0]
    assert fn is b._deliver_ref
    fn(arg)
    assert calls == [False], calls
else:  # the real scheduler may run a call between the two edges already
    import time
    time.sleep_ms(1)
    assert 1 <= len(calls) <= 2 and not any(calls), calls
print("button ok")

# Buzzer: PWM touched only when the tone changes
z = machine_buzzer.Buzzer(16)
n = len(fake_machine.LOG)
z.on(988); z.on(988); z.on(988)
assert fake_machine.LOG[n:] == [("freq", 16, 988), ("duty", 16, 32768)], fake_machine.LOG[n:]
z.on(659)
assert fake_machine.LOG[-1] == ("freq", 16, 659)
z.off(); z.off()
assert fake_machine.LOG[-1] == ("duty", 16, 0) and z.freq == 0
n = len(fake_machine.LOG)
z.on(0)
assert len(fake_machine.LOG) == n
print("buzzer ok")

# RGB indicator: colours, active-low, written only on change
led = machine_indicator.RgbIndicator((18, 19, 20))
led.set("green")
assert [p.d for p in led._pwms] == [0, 65535, 0]
n = len(fake_machine.LOG)
led.set("green"); led.set("green")
assert len(fake_machine.LOG) == n
led.set("amber")
assert led._pwms[0].d == 65535 and 0 < led._pwms[1].d < 65535
inv = machine_indicator.RgbIndicator((1, 2, 3), active_low=True)
inv.set("red")
assert [p.d for p in inv._pwms] == [0, 65535, 65535]
# Plain LED: green steady on, off off
one = machine_indicator.LedIndicator("LED")
one.set("green")
assert one._pin.level == 1
one.set("off")
assert one._pin.level == 0
print("indicator ok")

# Serial: None when nothing came
s = machine_serial.Serial(0, 0, 1, 115200)
assert fake_machine.LOG[-1] == ("uart", 0, 115200, 0)
assert s.read(10) is None
s._uart.rx.extend(b"abc")
assert s.read(2) == b"ab" and s.read(10) == b"c" and s.read(1) is None
assert s.write(b"xyz") == 3 and bytes(s._uart.tx) == b"xyz"
print("serial ok")

# Watchdog: boot keeps it fed from a timer; the firmware's Watchdog takes over
machine_watchdog.keep_fed(5000, -1)
timer = machine_watchdog._timer
timer.callback(timer)
wdt = machine_watchdog._wdt
assert wdt.feeds == 2
w = machine_watchdog.Watchdog(5000, -1)
assert machine_watchdog._timer is None and fake_machine.WDT.made == 1
w.feed()
assert wdt.feeds == 4
w.keep_fed()
assert machine_watchdog._timer is not None and fake_machine.WDT.made == 1
print("watchdog ok")

c = machine_clock.Clock()
print("clock ok" if hasattr(c, "ticks_diff") else "clock missing")
'''

DISPLAY_CHECKS = r'''
import sys
import fake_machine
sys.modules["machine"] = fake_machine
from hal import machine_display

d = machine_display.Display(0, 4, 5)
i2c = d.oled.i2c
assert d.ok
cmds = [w[2][1] for w in i2c.writes if w[0] == "cmd"]
assert cmds[0] == 0xAE and 0xAF in cmds and 0x8D in cmds  # off ... charge pump ... on
frames = [w for w in i2c.writes if w[0] == "data"]
assert len(frames) == 1 and len(frames[0][2]) == 1 + 1024 and frames[0][2][0] == 0x40
i2c.writes = []
d.show(["Dose given", "Next dose 0:30", "", ""])
data = [w for w in i2c.writes if w[0] == "data"]
assert len(data) == 2 and all(len(w[2]) == 1 + 256 for w in data), [len(w[2]) for w in data]
assert any(data[0][2][1:]) and any(data[1][2][1:])
i2c.writes = []
d.show(["Dose given", "Next dose 0:29", "", ""])
data = [w for w in i2c.writes if w[0] == "data"]
assert len(data) == 1  # only the changed line
i2c.writes = []
d.show(["Dose given", "Next dose 0:29", "", ""])
assert i2c.writes == []
i2c.fail = True
d.show(["Alarm", "", "", ""])
assert not d.ok and d.errors == 1
i2c.fail = False
for _ in range(250):
    d.show(["Alarm", "", "", ""])
assert d.ok and d.lines[0] == "Alarm"
print("display ok")
'''


def _fake_dir(tmp_path):
    (tmp_path / "fake_machine.py").write_text(FAKE_MACHINE)
    (tmp_path / "fake_micropython.py").write_text(FAKE_MICROPYTHON)
    return str(tmp_path)


def _run_cpython(code, extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + extra
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)


EXPECTED = ["button ok", "buzzer ok", "indicator ok", "serial ok", "watchdog ok", "clock ok"]


@pytest.mark.micropython
def test_machine_hal_on_micropython(tmp_path):
    res = run_mp(MACHINE_CHECKS, extra_path=_fake_dir(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.split("\n")[:6] == EXPECTED


def test_machine_hal_on_cpython(tmp_path):
    # CPython's time has no ticks_*: give it MicroPython's (from hal.ticks) first.
    shim = (
        "import time\nfrom hal import ticks\n"
        "time.ticks_ms = lambda: int(time.monotonic() * 1000) & (ticks.PERIOD - 1)\n"
        "time.ticks_diff = ticks.diff\ntime.ticks_add = ticks.add\n"
        "time.sleep_ms = lambda ms: time.sleep(ms / 1000)\n"
    )
    res = _run_cpython(shim + MACHINE_CHECKS, _fake_dir(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.split("\n")[:6] == EXPECTED


@pytest.mark.micropython
def test_ssd1306_display_on_micropython(tmp_path):
    res = run_mp(DISPLAY_CHECKS, extra_path=_fake_dir(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "display ok" in res.stdout


# ---- host_clock ---------------------------------------------------------------------------
CLOCK_CHECKS = r'''
from hal.host_clock import HostClock
from hal import ticks
c = HostClock(speed=50, start=ticks.PERIOD - 100)
a = c.ticks_ms()
c.sleep_ms(500)
b = c.ticks_ms()
d = c.ticks_diff(b, a)
assert 480 <= d <= 5000, d  # 500 clock ms = 10 real ms; the host may oversleep
assert b < a  # wrapped past 2**30
assert c.ticks_add(ticks.PERIOD - 1, 1) == 0
n = HostClock()
t = n.ticks_ms()
n.sleep_ms(20)
assert 15 <= n.ticks_diff(n.ticks_ms(), t) <= 200
print("clock ok", n.emulated)
'''


def test_host_clock_cpython():
    res = _run_cpython(CLOCK_CHECKS, "")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "clock ok True"  # CPython: emulated 2**30 wrap


@pytest.mark.micropython
def test_host_clock_micropython():
    res = run_mp(CLOCK_CHECKS)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "clock ok False"  # native time.ticks_* when not accelerated


def test_host_clock_speed_from_environment(monkeypatch):
    from hal.host_clock import HostClock

    monkeypatch.setenv("VBOARD_SPEED", "8")
    assert HostClock(speed_env="VBOARD_SPEED").speed == 8
    monkeypatch.setenv("VBOARD_SPEED", "fast")
    with pytest.raises(ValueError):
        HostClock(speed_env="VBOARD_SPEED")


# ---- host_console -----------------------------------------------------------------------------
CONSOLE_CHECKS = r'''
import sys
from hal.host_console import ConsoleButton, ConsoleDisplay, ConsoleIndicator, ConsoleBuzzer
b = ConsoleButton("-")
import time
levels = []
for _ in range(50):
    levels.append(b.pressed())
    if levels[-1]:
        break
    time.sleep(0.01)
d = ConsoleDisplay()
d.show(["Dose given", "Next dose 0:30", "", ""])
d.show(["Dose given", "Next dose 0:30", "", ""])
d.show(["a|b"])
i = ConsoleIndicator()
i.set("green"); i.set("green"); i.set("amber", True); i.set("off", True)
z = ConsoleBuzzer()
z.on(988); z.on(988); z.off(); z.off()
while b.pressed():
    time.sleep(0.01)
f = ConsoleButton(sys.argv[1])
print("file", f.pressed())
'''

CONSOLE_OUT = [
    "display: Dose given|Next dose 0:30",
    "display: a/b",
    "indicator: green",
    "indicator: amber blink",
    "indicator: off",
    "buzzer: 988",
    "buzzer: off",
    "file True",
]


def _console(cmd, env, tmp_path):
    button = tmp_path / "button"
    button.write_text("1")
    p = subprocess.Popen(
        cmd + ["-c", CONSOLE_CHECKS, str(button)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
        text=True,
    )
    assert p.stdin is not None
    p.stdin.write("noise\nbutton down\n")
    p.stdin.flush()
    time.sleep(0.3)
    p.stdin.write("button up\n")
    p.stdin.close()
    p.stdin = None  # closed: communicate() must not flush it
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    return out.splitlines()


@pytest.mark.micropython
def test_host_console_line_protocol_micropython(tmp_path):
    assert _console([MICROPYTHON], mp_env(), tmp_path) == CONSOLE_OUT


def test_host_console_line_protocol_cpython(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO
    assert _console([sys.executable], env, tmp_path) == CONSOLE_OUT


def test_console_button_file_levels(tmp_path):
    from hal.host_console import ConsoleButton

    path = tmp_path / "b"
    btn = ConsoleButton(str(path))
    assert not btn.pressed()  # missing file: released
    path.write_text("1\n")
    assert btn.pressed()
    path.write_text("0")
    assert not btn.pressed()


# ---- host_serial over a real pty ------------------------------------------------------------
SERIAL_ECHO = r'''
import sys
from hal.host_serial import HostSerial
s = HostSerial(sys.argv[1], baud=115200)
assert s.read(16) is None
sys.stdout.write("ready\n")
got = b""
import time
t0 = time.time()
while not got.endswith(b"\n") and time.time() - t0 < 10:
    d = s.read(64)
    if d is None:
        time.sleep(0.005)
        continue
    got += d
n = s.write(b"echo:" + got)
print(repr(got), n)
s.close()
'''


def _serial_round_trip(cmd, env):
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:
        p = subprocess.Popen(cmd + ["-c", SERIAL_ECHO, path], stdout=subprocess.PIPE, env=env, cwd=REPO)
        assert p.stdout is not None
        assert p.stdout.readline().strip() == b"ready"
        payload = bytes(range(256)).replace(b"\n", b"") + b"\r\x00\x11\x13\n"  # every byte value, XON/XOFF, CR
        os.write(master, payload)
        out, _ = p.communicate(timeout=30)
        assert p.returncode == 0
        back = b""
        deadline = time.time() + 5
        want = b"echo:" + payload
        while len(back) < len(want) and time.time() < deadline:
            back += os.read(master, 4096)
        assert back == want  # no \n -> \r\n, no flow control, 8 bits
        return out
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.micropython
def test_host_serial_pty_round_trip_micropython():
    out = _serial_round_trip([MICROPYTHON], mp_env())
    assert out.strip().endswith(b"265")


def test_host_serial_pty_round_trip_cpython():
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO
    _serial_round_trip([sys.executable], env)


def test_host_serial_needs_a_path(monkeypatch):
    from hal.host_serial import HostSerial

    monkeypatch.delenv("VBOARD_UART", raising=False)
    with pytest.raises(ValueError) as e:
        HostSerial(env="VBOARD_UART")
    assert "VBOARD_UART" in str(e.value)
