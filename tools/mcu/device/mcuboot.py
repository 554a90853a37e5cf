# pyright: reportMissingImports=false, reportAttributeAccessIssue=false
"""Glue of the Cortex-M target, frozen into its qemu firmware (tools/mcu); runs on MicroPython.

The host (tools/mcu/qemu.py) types `import mcuboot` at the raw REPL. This mounts littlefs on
the RAM disk at "/" (formatting it the first time), gives `os` the `getenv` the lockstep HAL
reads its settings with (the port's `os` has none), then obeys commands on the UART, each a
line framed as the lockstep board's step input (4 hex digits giving the length of the line
that follows, newline included, and a space):
    env NAME VALUE    os.getenv(NAME) returns VALUE from now on
    put PATH SIZE     the next lines are hex, SIZE bytes in all, written to PATH (folders made)
    dump PATH         also report the file PATH when the run ends (a probe's output)
    run CODE          exec CODE: the firmware's entry, e.g. `from firmware import main; ...`
Each command but `run` is answered by `mcu:ok` or `mcu:error <why>`. After `run` the firmware
owns the UART (the lockstep protocol); when it ends (SystemExit: the host said quit) or fails,
every file in the folder $LOCKSTEP_DIR and every `dump` file is reported as `mcu:file PATH SIZE`
and `mcu:data <hex>` lines, then `mcu:end 0` (or `mcu:end 1` after a traceback).
"""

import gc
import os as _os
import sys
import vfs

from binascii import hexlify, unhexlify

import mcu

_env = {}
_dumps = []
_CHUNK = 192  # bytes per hex line either way: a small buffer, reused


class _Os:
    """`os` with `getenv` (installed in sys.modules before the firmware imports `os`)."""

    def __init__(self):
        for name in dir(_os):
            if not name.startswith("__"):
                setattr(self, name, getattr(_os, name))

    def getenv(self, name, default=None):
        return _env.get(name, default)


def _mount():
    disk = mcu.RAMDisk()
    try:
        vfs.mount(vfs.VfsLfs2(disk), "/")
    except OSError:
        vfs.VfsLfs2.mkfs(disk)
        vfs.mount(vfs.VfsLfs2(disk), "/")
    _os.chdir("/")


def _read_line():
    stream = sys.stdin.buffer
    head = stream.read(5)
    return stream.read(int(head[:4], 16)).decode()


def _makedirs(path):
    parts = path.split("/")[:-1]
    at = ""
    for p in parts:
        if not p:
            continue
        at += "/" + p
        try:
            _os.mkdir(at)
        except OSError:
            pass


def _put(path, size):
    _makedirs(path)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            data = unhexlify(_read_line().strip())
            f.write(data)
            left -= len(data)


def _say(text):
    sys.stdout.write(text + "\n")


def _report(path):
    try:
        size = _os.stat(path)[6]
    except OSError:
        return
    _say("mcu:file %s %d" % (path, size))
    buf = bytearray(_CHUNK)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            _say("mcu:data " + hexlify(memoryview(buf)[:n]).decode())


def _report_all():
    folder = _env.get("LOCKSTEP_DIR")
    if folder:
        try:
            names = _os.listdir(folder)
        except OSError:
            names = []
        for name in names:
            _report(folder + "/" + name)
    for path in _dumps:
        _report(path)


def _run(code):
    status = 0
    try:
        exec(code, {"__name__": "__main__"})
    except SystemExit:
        pass
    except BaseException as e:  # the firmware failed: show it, as the unix port would
        status = 1
        sys.print_exception(e)
    gc.collect()
    _report_all()
    _say("mcu:end %d" % status)


def serve():
    _mount()
    sys.modules["os"] = _Os()  # pyright: ignore[reportArgumentType]
    _say("mcu:ready")
    while True:
        line = _read_line().rstrip("\n")
        cmd, _, rest = line.partition(" ")
        try:
            if cmd == "env":
                name, _, value = rest.partition(" ")
                _env[name] = value
            elif cmd == "put":
                path, _, size = rest.rpartition(" ")
                _put(path, int(size))
            elif cmd == "dump":
                _dumps.append(rest)
            elif cmd == "run":
                gc.collect()
                _run(rest)
                return
            else:
                raise ValueError("unknown command " + cmd)
        except Exception as e:
            _say("mcu:error %s" % e)
            continue
        _say("mcu:ok")


serve()
