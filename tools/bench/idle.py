"""Idle CPU of the firmware: the host board (firmware.main.run("host")) in the MicroPython unix
port on a pty, with the real pump emulator (python -m tools.pump_emulator --pty) on the other
end, synced and idle; CPU seconds (utime + stime from /proc/<pid>/stat) over wall seconds.
The loop is tickless: it sleeps in select.poll until the app's next deadline or a byte from the
pump. `button="file"` (the default board set-up) reads the button from a file, which cannot wake
the loop, so the loop samples it every 50 ms while it is up; `button="stdin"` reads "button
down/up" lines from stdin, which wake the loop, so it sleeps until the deadline.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

from firmware import prescription
from tools.security import rx_sign
from tools.micropython_unix import MICROPYTHON, REPO, mp_env

KEY = bytes(range(0x11, 0x31))
RX = dict(version=1, dose_ug=50, duration_s=2, lockout_s=60, max_per_24h=20, cap_ug=0, cap_window_s=0)


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (Linux /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), after pid and comm
    return ticks / float(os.sysconf("SC_CLK_TCK"))


def _drain(proc, buf):
    try:
        chunk = os.read(proc.stdout.fileno(), 65536)
    except BlockingIOError:
        chunk = b""
    buf.extend(chunk)


ENTRY = "from firmware import main; main.run('host')"


def measure(seconds=10.0, heap="256K", button="file"):
    """dict(firmware=cpu/wall, pump=cpu/wall, seconds, synced, firmware_cpu_s); `button`:
    "file" or "stdin" (see the module docstring)."""
    if MICROPYTHON is None:
        raise RuntimeError("the MicroPython unix port is not installed")
    if not os.path.exists("/proc/self/stat"):
        raise RuntimeError("idle CPU needs Linux /proc")
    folder = tempfile.mkdtemp(prefix="bench-idle-")
    pump = fw = None
    try:
        with open(os.path.join(folder, "pair.key"), "wb") as f:
            f.write(KEY)
        flags = []
        for k, opt in (("dose_ug", "--dose-ug"), ("duration_s", "--duration-s"), ("lockout_s", "--lockout-s"), ("max_per_24h", "--max-per-24h")):
            flags += [opt, str(RX[k])]
        pump = subprocess.Popen(
            [sys.executable, "-m", "tools.pump_emulator", "--pty", "--key", os.path.join(folder, "pair.key")] + flags,
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = pump.stdout.readline()
        if "/dev/" not in line:
            raise RuntimeError("the pump emulator did not start: %r" % line)
        dev = line.strip().split()[-1]
        data = os.path.join(folder, "data")
        os.makedirs(data)
        with open(os.path.join(data, "key.bin"), "wb") as f:
            f.write(KEY)
        with open(os.path.join(data, "rx.bin"), "wb") as f:
            f.write(rx_sign.sign(prescription.from_fields(RX), KEY))
        with open(os.path.join(folder, "button"), "w") as f:
            f.write("0")
        env = mp_env()
        env["VBOARD_UART"] = dev
        env["VBOARD_BUTTON"] = "-" if button == "stdin" else os.path.join(folder, "button")
        fw = subprocess.Popen(
            [MICROPYTHON, "-X", "heapsize=" + heap, "-c", ENTRY],
            cwd=folder, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        os.set_blocking(fw.stdout.fileno(), False)
        out = bytearray()
        end = time.time() + 15
        synced = False
        while time.time() < end and not synced:
            _drain(fw, out)
            synced = b"Dose available" in out
            if fw.poll() is not None:
                raise RuntimeError("the firmware exited: %s" % fw.stderr.read().decode()[-300:])
            time.sleep(0.05)
        time.sleep(1.0)
        _drain(fw, out)
        w0 = time.monotonic()
        f0 = cpu_seconds(fw.pid)
        p0 = cpu_seconds(pump.pid)
        while time.monotonic() - w0 < seconds:
            time.sleep(0.2)
            _drain(fw, out)
        wall = time.monotonic() - w0
        f1 = cpu_seconds(fw.pid)
        p1 = cpu_seconds(pump.pid)
        return {"firmware": (f1 - f0) / wall, "pump": (p1 - p0) / wall, "seconds": wall, "synced": synced,
                "firmware_cpu_s": f1 - f0}
    finally:
        for proc in (fw, pump):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
