"""Talking to the board with the real `mpremote`: probe (identity, versions, file hashes),
write (mkdir, remove stale, copy changed), verify, reset.

Every remote path is relative to the board's root ("firmware/app.mpy"): after a reset the
working directory of a board is "/", and on a vboard "/" is its folder.
"""

import ast
import os
import subprocess
import sys

from tools.deploy import DeployError

_TAG = "DEPLOY:"

# Runs on the board; %(paths)r, %(trees)r are filled in. Prints one line: DEPLOY:{...}.
PROBE_CODE = """\
import sys, os, hashlib, binascii
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    d = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    while True:
        n = f.readinto(b)
        if not n:
            break
        d.update(m[:n])
    f.close()
    return binascii.hexlify(d.digest()).decode()
def _walk(d, files, dirs):
    try:
        entries = list(os.ilistdir(d))
    except OSError:
        return
    dirs.append(d)
    for e in entries:
        p = d + '/' + e[0]
        if e[1] & 0x4000:
            _walk(p, files, dirs)
        else:
            files.append(p)
_files = []
_dirs = []
for _d in %(trees)r:
    _walk(_d, _files, _dirs)
try:
    with open('board_name.txt') as _f:
        _name = _f.read().strip()
except OSError:
    _name = None
_i = sys.implementation
print(%(tag)r + repr({'version': tuple(_i.version[:3]), 'machine': getattr(_i, '_machine', ''),
    'mpy': getattr(_i, '_mpy', 0), 'platform': sys.platform, 'board': _name,
    'hashes': dict((p, _h(p)) for p in %(paths)r), 'files': _files, 'dirs': _dirs}))
"""

PREPARE_CODE = """\
import os
for _p in %(remove)r:
    try:
        os.remove(_p)
    except OSError:
        pass
for _d in %(rmdirs)r:
    try:
        os.rmdir(_d)
    except OSError:
        pass
for _d in %(mkdirs)r:
    try:
        os.mkdir(_d)
    except OSError:
        pass
"""


def probe_code(paths, trees):
    return PROBE_CODE % {"paths": list(paths), "trees": list(trees), "tag": _TAG}


def prepare_code(mkdirs, remove, rmdirs):
    return PREPARE_CODE % {"mkdirs": list(mkdirs), "remove": list(remove), "rmdirs": list(rmdirs)}


def parse_probe(text):
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(_TAG):
            try:
                return ast.literal_eval(line[len(_TAG) :])
            except (ValueError, SyntaxError):
                break
    return None


class Mpremote:
    """Runs `mpremote connect PORT ...` and turns its failures into one-sentence errors."""

    def __init__(self, port, exe=None, timeout=300, probe_timeout=30):
        self.port = port
        self.cmd = [exe] if exe else [sys.executable, "-m", "mpremote"]
        self.timeout = timeout  # a whole write phase
        self.probe_timeout = probe_timeout  # mpremote waits forever on a silent pty: we do not
        self.calls = 0

    def check_port(self):
        if self.port == "auto" or not self.port.startswith("/"):
            return
        if not os.path.exists(self.port):
            raise DeployError("no board at %s: that port does not exist (is the board plugged in?)" % self.port)

    def run(self, *args, timeout=None):
        argv = self.cmd + ["connect", self.port] + list(args)
        self.calls += 1
        limit = timeout or self.timeout
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            if self.calls == 1:
                raise DeployError(
                    "the device on %s does not answer like a MicroPython board (no raw REPL within %d s)" % (self.port, limit)
                )
            raise DeployError("the board on %s stopped answering (mpremote timed out after %d s)" % (self.port, limit))
        except OSError as e:
            raise DeployError("cannot run mpremote (%s): %s" % (" ".join(self.cmd), e.strerror))
        if res.returncode != 0:
            raise DeployError(self._explain(res.stdout + res.stderr))
        return res.stdout

    def _explain(self, text):
        low = text.lower()
        if "no device found" in low:
            return "no board found: plug one in or pass --port"
        if "failed to access" in low or "could not open port" in low or "no such file" in low:
            return "could not open %s: is the board plugged in, and is no other program (a terminal) using it?" % self.port
        if "could not enter raw repl" in low:
            return "the device on %s does not answer like a MicroPython board (no raw REPL)" % self.port
        if "no module named 'hashlib'" in low:
            return "the board on %s has no hashlib: flash a standard MicroPython build" % self.port
        last = [x for x in text.strip().splitlines() if x.strip()]
        return "mpremote failed on %s: %s" % (self.port, last[-1].strip() if last else "no message")

    def probe(self, paths, trees):
        out = self.run("exec", probe_code(paths, trees), timeout=self.probe_timeout)
        info = parse_probe(out)
        if info is None:
            raise DeployError("the board on %s gave no answer to the probe (output: %r)" % (self.port, out[-200:]))
        return info
