"""Run the firmware on the emulated Cortex-M as the lockstep board: `python -m tools.mcu run`.

This process stands where `micropython -c "from firmware import main; main.run('lockstep')"`
stands for the unix port: tools/scenario/driver.py starts it with $LOCKSTEP_DIR (the storage
folder) and $LOCKSTEP_START, writes step inputs to its stdin and reads step reports from its
stdout (hal/lockstep.py). Inside, qemu-system-arm runs the cached firmware.elf with its UART on
qemu's stdin/stdout; the firmware runs unmodified on the lockstep board, whose HAL speaks over
that UART, so the host still steps virtual time.

A boot: start qemu, enter the raw REPL, `import mcuboot` (the frozen glue, which mounts
littlefs on the RAM disk), hand over the environment, copy every file of $LOCKSTEP_DIR into the
device's storage folder (and, for the .mpy variant, the deploy plan's .mpy files to the root,
as tools.deploy would), then run the entry code and relay. When the host says `quit` (or
closes stdin) the glue reports the storage files back and this mirrors them into
$LOCKSTEP_DIR, so a reboot (a new process on the same folder) finds the log as the unix port
does. qemu dies with this process (PR_SET_PDEATHSIG), and this process with its parent.
"""

import ctypes
import os
import select
import signal
import subprocess
import sys
import time

from tools.mcu import MCUError, REPO, TARGETS

DEVICE_STORAGE = "/lockstep_data"  # the lockstep board's folder on the device (littlefs)
DEVICE_PROBE = "/bench_heap.out"  # where $BENCH_HEAP_OUT points on the device
BOOT_TIMEOUT_S = 60.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent(sig=signal.SIGKILL):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def qemu_argv(target, elf):
    t = TARGETS[target]
    return (
        ["qemu-system-arm", "-machine", t["machine"]]
        + list(t["qemu_args"])
        + ["-display", "none", "-monitor", "null", "-semihosting", "-serial", "stdio", "-kernel", elf]
    )


def frame(line):
    data = (line.rstrip("\n") + "\n").encode()
    return b"%04x " % len(data) + data


class Device:
    """One qemu process running the firmware image; `boot()` brings it to the glue's prompt."""

    def __init__(self, target, elf):
        self.target = target
        self.elf = elf
        self.proc = None  # type: subprocess.Popen | None
        self._buf = b""
        self.seen = b""  # what qemu printed before the glue took over (for errors)

    def start(self):
        from tools.mcu.build import check_toolchain

        check_toolchain(run_only=True)
        self.proc = subprocess.Popen(
            qemu_argv(self.target, self.elf),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )

    def write(self, data):
        proc = self.proc
        if proc is None or proc.stdin is None:
            raise MCUError("qemu is not running")
        try:
            proc.stdin.write(data)
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise MCUError("qemu stopped taking input%s" % self._last_words())

    def _last_words(self):
        proc = self.proc
        text = ""
        if proc is not None and proc.poll() is not None and proc.stderr is not None:
            try:
                text = proc.stderr.read().decode(errors="replace").strip()
            except (OSError, ValueError):
                pass
        return (": " + text.splitlines()[-1]) if text else ""

    def read_some(self, timeout):
        """Bytes qemu wrote within `timeout` s (b"" if none); MCUError when it has ended."""
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return b""
        data = os.read(fd, 65536)
        if not data:
            raise MCUError("qemu ended%s" % self._last_words())
        return data

    def expect(self, marker, timeout=BOOT_TIMEOUT_S):
        """Read until `marker`; returns what came before it (what follows stays buffered)."""
        deadline = time.monotonic() + timeout
        while marker not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise MCUError("the emulated board did not say %r within %.0f s; it said: %r" % (marker, timeout, (self.seen + self._buf)[-300:]))
            self._buf += self.read_some(min(left, 1.0))
        before, _, self._buf = self._buf.partition(marker)
        self.seen = (self.seen + before + marker)[-4096:]
        return before

    def boot(self):
        """Start qemu and bring the glue up: then commands may be sent."""
        self.start()
        self.expect(b">>> ")
        self.write(b"\x01")  # Ctrl-A: the raw REPL (no echo)
        self.expect(b"raw REPL; CTRL-B to exit\r\n>")
        self.write(b"import mcuboot\x04")
        self.expect(b"OK")
        self.expect(b"mcu:ready\r\n")

    def command(self, line):
        self.write(frame(line))

    def put(self, remote, data, chunk=192):
        self.command("put %s %d" % (remote, len(data)))
        for i in range(0, len(data), chunk):
            self.write(frame(data[i : i + chunk].hex()))

    def acks(self, n, timeout=BOOT_TIMEOUT_S):
        """Wait for the answers to `n` commands; MCUError at the first refusal."""
        got = 0
        while got < n:
            line = self.expect(b"\r\n", timeout)
            if not line.startswith(b"mcu:"):
                continue
            got += 1
            if line != b"mcu:ok":
                raise MCUError("the emulated board refused a command: %s" % line[4:].decode(errors="replace"))

    def pending(self):
        data, self._buf = self._buf, b""
        return data

    def stop(self):
        proc = self.proc
        self.proc = None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass


def mpy_tree(cache):
    """[(remote path, bytes)] of the lockstep board's deploy plan compiled to .mpy (modules,
    main.py, boot.py), built into the cache once per content."""
    from boards import registry
    from tools.deploy import plan as pl
    from tools.deploy.__main__ import _tool

    out = os.path.join(cache, "mpy", "lockstep")
    plan = pl.build(registry.load("lockstep"), REPO, _tool(None, "mpy-cross"), out, ours=True)
    items = []
    for item in plan.items:
        if item.kind in ("mpy", "entry", "marker"):
            with open(item.local, "rb") as f:
                items.append((item.remote, f.read()))
    return items


def _storage_files(folder):
    found = []
    if folder and os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    found.append((name, f.read()))
    return found


class Relay:
    """Pass step inputs (stdin) to the device and step reports back (stdout) until `quit`."""

    def __init__(self, dev, folder, probe_out):
        self.dev = dev
        self.folder = folder
        self.probe_out = probe_out
        self.inbuf = b""  # step input not yet forwarded whole
        self.outbuf = b""  # device output not yet a whole line
        self.quitting = False
        self.files = {}  # device path -> bytearray (the report after the run)
        self._file = None  # type: bytearray | None
        self.status = None  # type: int | None

    def _from_host(self, data):
        if not data:  # the host closed stdin: end between two steps, like the unix port
            if not self.quitting:
                self.quitting = True
                self.dev.write(frame("quit"))
            return
        self.inbuf += data
        while len(self.inbuf) >= 5:
            n = int(self.inbuf[:4], 16)
            if len(self.inbuf) < 5 + n:
                break
            one, self.inbuf = self.inbuf[: 5 + n], self.inbuf[5 + n :]
            if one[5:].strip() == b"quit":
                self.quitting = True
            self.dev.write(one)

    def _line(self, line):
        if line.startswith(b"mcu:"):
            word, _, rest = line[4:].partition(b" ")
            if word == b"file":
                path, _, _size = rest.decode().rpartition(" ")
                self._file = self.files.setdefault(path, bytearray())
            elif word == b"data" and self._file is not None:
                self._file.extend(bytes.fromhex(rest.decode()))
            elif word == b"end":
                self.status = int(rest or b"0")
            return
        os.write(1, line + b"\n")

    def _from_device(self, data):
        self.outbuf += data
        while True:
            i = self.outbuf.find(b"\n")
            if i < 0:
                break
            line, self.outbuf = self.outbuf[:i], self.outbuf[i + 1 :]
            self._line(line.rstrip(b"\r"))
            if self.status is not None:
                return

    def run(self):
        dev = self.dev
        assert dev.proc is not None and dev.proc.stdout is not None
        qfd = dev.proc.stdout.fileno()
        readers = [0, qfd]
        self._from_device(dev.pending())
        while self.status is None:
            ready, _, _ = select.select(readers, [], [], 1.0)
            if 0 in ready:
                data = os.read(0, 65536)
                self._from_host(data)
                if not data:
                    readers = [qfd]
            if qfd in ready:
                data = os.read(qfd, 65536)
                if not data:
                    if self.outbuf:
                        os.write(1, self.outbuf)
                    raise MCUError("qemu ended%s" % dev._last_words())
                self._from_device(data)
        self.save()
        return self.status

    def save(self):
        """Mirror the device's storage folder into the host's, as the unix port leaves it."""
        prefix = DEVICE_STORAGE + "/"
        if self.folder:
            os.makedirs(self.folder, exist_ok=True)
            kept = set()
            for path, data in self.files.items():
                if path.startswith(prefix):
                    name = path[len(prefix) :]
                    kept.add(name)
                    tmp = os.path.join(self.folder, name + ".mcu-tmp")
                    with open(tmp, "wb") as f:
                        f.write(data)
                    os.replace(tmp, os.path.join(self.folder, name))
            for name in os.listdir(self.folder):
                if name not in kept and os.path.isfile(os.path.join(self.folder, name)):
                    os.remove(os.path.join(self.folder, name))
        data = self.files.get(DEVICE_PROBE)
        if self.probe_out and data is not None:
            with open(self.probe_out, "ab") as f:
                f.write(data)


def run(target, variant, heap, code, log=None):
    """Boot the firmware on the emulated board and relay the lockstep protocol on stdin/stdout
    until the host quits; returns the exit status (0, or 1 if the firmware failed)."""
    from tools.mcu import build

    _die_with_parent(signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before prctl: nobody will read us
        return 1
    elf = build.firmware(target, variant, heap, log=log)
    folder = os.environ.get("LOCKSTEP_DIR") or os.path.abspath("lockstep_data")
    probe_out = os.environ.get("BENCH_HEAP_OUT")
    dev = Device(target, elf)

    def on_term(_sig, _frame):
        dev.stop()
        os._exit(143)

    signal.signal(signal.SIGTERM, on_term)
    try:
        dev.boot()
        n = 0
        dev.command("env LOCKSTEP_DIR %s" % DEVICE_STORAGE)
        dev.command("env LOCKSTEP_START %s" % os.environ.get("LOCKSTEP_START", "0"))
        n += 2
        if probe_out:
            dev.command("env BENCH_HEAP_OUT %s" % DEVICE_PROBE)
            dev.command("dump %s" % DEVICE_PROBE)
            n += 2
        if variant == "mpy":
            for remote, data in mpy_tree(build.cache_dir()):
                dev.put("/" + remote, data)
                n += 1
        for name, data in _storage_files(folder):
            dev.put(DEVICE_STORAGE + "/" + name, data)
            n += 1
        dev.acks(n)
        dev.command("run " + code)
        return Relay(dev, folder, probe_out).run()
    finally:
        dev.stop()
