"""Where the clinician tool reads and writes: a handheld (a host board folder, or a board on a
serial port driven by `mpremote`) and the pump emulator's prescription file.

Every target offers `read(names) -> {name: bytes or None}`, `precheck(blob) -> reason or None`
(what the device itself would say about the blob, without writing), and `install(blob)`
(atomic: the old prescription stays in force until the new one is complete).
"""

import binascii
import os
import shlex
import subprocess
import sys
import tempfile

from firmware import eventlog, rxstore
from hal.contract import Oversized
from hal.storage import FileStorage
from tools import cli_args
from tools.clinician.errors import EXIT_FAILED, EXIT_NO_DEVICE, ClinicianError
from tools.security import rx_sign

RX = rxstore.RX_FILE
KEY = rxstore.KEY_FILE
DEVICE_DIR = "data"  # every board's STORAGE_ROOT: "/data" on boards, "data" in the vboard's folder
_MARK = "@@CLIN "
MPREMOTE_ENV = "CLINICIAN_MPREMOTE"  # override the mpremote command (tests, other installs)
MPREMOTE_TIMEOUT_S = 30
# The most each handheld file can hold, as the firmware reads it (firmware/main.py,
# rxstore.MAX_BLOB, eventlog.SEGMENT_BYTES). No file is read past its cap, on the host or
# on the device: a damaged or planted file of megabytes costs neither memory nor serial time.
CAPS = {KEY: rxstore.KEY_LEN, RX: rxstore.MAX_BLOB, "rx.new": rxstore.MAX_BLOB, "events.0": eventlog.SEGMENT_BYTES, "events.1": eventlog.SEGMENT_BYTES}


def oversized(where, name, size, limit):
    """The error for a handheld file longer than the firmware ever writes (`size` None: only
    known to be longer)."""
    return ClinicianError(
        "The %s has a damaged %s: %s bytes, where at most %d can be valid (restart the handheld, "
        "which refuses or cuts it, then try again)." % (where, name, size if size is not None else "more than %d" % limit, limit),
        EXIT_FAILED,
    )


def write_atomic(path, data):
    """Write `data` to `path` so that a reader sees the old content or the new, never a mix
    and never nothing: temp file in the same folder, fsync, rename, fsync the folder."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = path + ".new"
    try:
        write_file(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def device_check(storage, blob):
    """What a device holding `storage` would answer if offered `blob` (None = it would accept);
    exactly the check `RxStore.install` makes, without writing."""
    store = rxstore.RxStore(storage, storage.read(KEY, CAPS[KEY]))
    current, _ = store.load()
    try:
        rxstore.verify(blob, store.key, current.version if current is not None else 0)
    except rxstore.RxRefused as e:
        return e.reason
    return None


class BoardDir:
    """A handheld whose flash is a host folder: the host board (vboard) folder, which holds
    `data/`, or the storage folder itself."""

    label = "handheld"

    def __init__(self, path):
        if not os.path.isdir(path):
            raise ClinicianError("There is no board folder at %s." % path, EXIT_NO_DEVICE)
        data = os.path.join(path, DEVICE_DIR)
        self.root = data if os.path.isdir(data) else path
        self.storage = FileStorage(self.root)

    def signed(self, rx, key):
        return rx_sign.sign(rx, key)

    def verify(self, data, key, current_version=0):
        return rxstore.verify(data, key, current_version)

    def where(self):
        return "board folder %s" % self.root

    def read(self, names):
        out = {}
        for name in names:
            try:
                out[name] = self.storage.read(name, CAPS[name])
            except Oversized as e:
                raise oversized(self.where(), name, e.size, e.limit)
        return out

    def has_key(self):
        return True

    def precheck(self, blob):
        try:
            return device_check(self.storage, blob)
        except Oversized as e:
            raise oversized(self.where(), e.name, e.size, e.limit)

    def install(self, blob):
        """The device's own RxStore.install: it re-checks, then replaces rx.bin atomically.
        Not logged: the board's firmware may be running and owns its event log."""
        ok, reason = rxstore.RxStore(self.storage, self.read([KEY])[KEY]).install(blob)
        if not ok:
            return reason
        return None

    def write_key(self, key):
        write_atomic(os.path.join(self.root, KEY), key)


class SerialBoard:
    """A handheld on a serial port (a board over USB, or the vboard's pty), driven with
    `mpremote connect PORT ...`. `device_dir` is the board's storage folder on the device."""

    label = "handheld"

    def __init__(self, port, device_dir=DEVICE_DIR, command=None, timeout_s=MPREMOTE_TIMEOUT_S):
        if port.startswith("/") and not os.path.exists(port):
            raise ClinicianError("There is no device at %s (is the handheld plugged in?)." % port, EXIT_NO_DEVICE)
        self.port = port
        self.timeout_s = timeout_s
        self.device_dir = device_dir.rstrip("/") or "/"
        if command is None:
            env = os.environ.get(MPREMOTE_ENV)
            command = shlex.split(env) if env else [sys.executable, "-m", "mpremote"]
        self.command = list(command)

    def signed(self, rx, key):
        return rx_sign.sign(rx, key)

    def verify(self, data, key, current_version=0):
        return rxstore.verify(data, key, current_version)

    def where(self):
        return "handheld on %s" % self.port

    def has_key(self):
        return True

    def _path(self, name):
        return self.device_dir + "/" + name

    def _run(self, args):
        cmd = self.command + ["connect", self.port] + list(args)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s)
        except FileNotFoundError:
            raise ClinicianError("mpremote is not installed (pip install mpremote).", EXIT_NO_DEVICE)
        except subprocess.TimeoutExpired:
            raise ClinicianError("The handheld on %s did not answer in time." % self.port, EXIT_NO_DEVICE)
        lines = [ln[len(_MARK) :].strip() for ln in proc.stdout.splitlines() if ln.startswith(_MARK)]
        if proc.returncode != 0 or not lines:
            detail = (proc.stderr.strip() or proc.stdout.strip() or "no answer").splitlines()[-1]
            detail = detail.replace("mpremote: ", "").rstrip(".")
            raise ClinicianError("Could not talk to the handheld on %s: %s." % (self.port, detail), EXIT_NO_DEVICE)
        return lines

    def _script(self, body):
        return (
            "import binascii\n"
            "R = %r\n"
            "CAPS = %r\n"
            "def rd(n):\n"
            "    try:\n"
            "        f = open(R + '/' + n, 'rb')\n"
            "    except OSError:\n"
            "        return None\n"
            "    d = f.read(CAPS[n] + 1)\n"
            "    f.close()\n"
            "    return d\n" % (self.device_dir, CAPS)
        ) + body

    def read(self, names):
        # A file past its cap comes back as its first cap + 1 bytes: refused below.
        body = "for n in %r:\n" "    d = rd(n)\n" "    print(%r + n, '-' if d is None else binascii.hexlify(d).decode())\n" % (
            list(names),
            _MARK,
        )
        out = {}
        for line in self._run(["exec", self._script(body)]):
            parts = line.split()
            if len(parts) == 2 and parts[0] in names:
                out[parts[0]] = None if parts[1] == "-" else binascii.unhexlify(parts[1])
        missing = [n for n in names if n not in out]
        if missing:
            raise ClinicianError("The handheld on %s did not send %s." % (self.port, missing[0]), EXIT_NO_DEVICE)
        for n in names:
            if out[n] is not None and len(out[n]) > CAPS[n]:
                raise oversized(self.where(), n, None, CAPS[n])
        return out

    def precheck(self, blob):
        body = (
            "try:\n"
            "    from hal.storage import FileStorage\n"
            "    from firmware import rxstore\n"
            "except ImportError:\n"
            "    print(%r + 'check nofirmware')\n"
            "else:\n"
            "    st = FileStorage(R)\n"
            "    s = rxstore.RxStore(st, rd('key.bin'))\n"
            "    cur, why = s.load()\n"
            "    try:\n"
            "        rxstore.verify(binascii.unhexlify(%r), s.key, cur.version if cur else 0)\n"
            "        print(%r + 'check ok')\n"
            "    except rxstore.RxRefused as e:\n"
            "        print(%r + 'check ' + e.reason)\n"
        ) % (_MARK, binascii.hexlify(blob).decode(), _MARK, _MARK)
        return self._answer(self._run(["exec", self._script(body)]), "check")

    def _answer(self, lines, word):
        for line in lines:
            parts = line.split()
            if parts and parts[0] == word:
                if len(parts) < 2:
                    break
                if parts[1] == "nofirmware":
                    raise ClinicianError(
                        "The handheld on %s has no firmware/rxstore; deploy the firmware first." % self.port,
                        EXIT_NO_DEVICE,
                    )
                return None if parts[1] == "ok" else parts[1]
        raise ClinicianError("The handheld on %s gave no answer to the %s." % (self.port, word), EXIT_NO_DEVICE)

    def install(self, blob):
        """Copy the blob to rx.new, then let the device's own RxStore.install check it, log
        RX_CHANGE in its event log and rename it over rx.bin (atomic on littlefs/POSIX)."""
        body = (
            "try:\n"
            "    from hal.storage import FileStorage\n"
            "    from firmware import rxstore, eventlog\n"
            "except ImportError:\n"
            "    print(%r + 'install nofirmware')\n"
            "else:\n"
            "    st = FileStorage(R)\n"
            "    blob = rd('rx.new')\n"
            "    log = eventlog.EventLog(st)\n"
            "    log.open()\n"
            "    ok, why = rxstore.RxStore(st, rd('key.bin')).install(blob, log)\n"
            "    st.remove('rx.new')\n"
            "    print(%r + 'install ' + ('ok' if ok else why))\n"
        ) % (_MARK, _MARK)
        fd, tmp = tempfile.mkstemp(prefix="rx-", suffix=".bin")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            lines = self._run(["fs", "cp", tmp, ":" + self._path("rx.new"), "+", "exec", self._script(body)])
        finally:
            os.unlink(tmp)
        return self._answer(lines, "install")

    def write_key(self, key):
        """Provision key.bin (pairing): copied to key.new, then renamed on the device."""
        mkdir = "import os\ntry:\n    os.mkdir(%r)\nexcept OSError:\n    pass\n" % self.device_dir
        body = "import os\nos.rename(R + '/key.new', R + '/key.bin')\nprint(%r + 'key ok')\n" % _MARK
        fd, tmp = tempfile.mkstemp(prefix="key-", suffix=".bin")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(key)
            args = ["exec", mkdir, "+", "fs", "cp", tmp, ":" + self._path("key.new")]
            self._run(args + ["+", "exec", self._script(body)])
        finally:
            os.unlink(tmp)


class PumpFile:
    """The pump emulator's prescription file (`python -m tools.pump_emulator --rx FILE`): the
    clinic's key=value text with the signature as a comment line (rx_sign.sign_text), which
    the emulator reads as it is and, given the pair key, verifies. Replaced atomically."""

    label = "pump"

    def __init__(self, path, key):
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ClinicianError("There is no folder %s for the pump's prescription file." % folder, EXIT_NO_DEVICE)
        if os.path.isdir(path):
            raise ClinicianError("The pump's prescription file %s is a folder." % path, EXIT_NO_DEVICE)
        self.path = path
        self.key = key

    def signed(self, rx, key):
        return rx_sign.sign_text(rx, key).encode()

    def verify(self, data, key, current_version=0):
        return rx_sign.verify_text(data, key, current_version)

    def where(self):
        return "pump prescription file %s" % self.path

    def read(self, names):
        out: dict = {name: None for name in names}
        try:
            with open(self.path, "rb") as f:
                out[RX] = f.read(cli_args.MAX_TEXT_BYTES + 1)  # as the pump emulator reads it
        except FileNotFoundError:
            pass
        except OSError as e:
            raise ClinicianError("Cannot read %s: %s." % (self.path, e.strerror), EXIT_NO_DEVICE)
        if out[RX] is not None and len(out[RX]) > cli_args.MAX_TEXT_BYTES:
            raise ClinicianError(
                "The pump's prescription file %s is larger than %d bytes: it is not a prescription."
                % (self.path, cli_args.MAX_TEXT_BYTES),
                EXIT_FAILED,
            )
        return out

    def precheck(self, blob):
        current = self.read([RX])[RX]
        version = 0
        if current is not None:
            try:
                version = self.verify(current, self.key, 0).version
            except rxstore.RxRefused:
                version = 0
        try:
            self.verify(blob, self.key, version)
        except rxstore.RxRefused as e:
            return e.reason
        return None

    def install(self, blob):
        write_atomic(self.path, blob)
        return None
