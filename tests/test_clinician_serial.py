"""tools.clinician over a serial port with the real `mpremote`, against the virtual board
(tools.vboard: the MicroPython unix port behind a pty). The device runs its own
RxStore.install, so this also proves the device-side scripts run on MicroPython."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from firmware import eventlog as ev
from firmware import rxstore
from tools.security import rx_sign
from hal.storage import FileStorage
from tests.mp import MICROPYTHON, REPO
from tests.test_clinician_program import Run, rx_args

KEY = bytes(range(32))
OTHER = bytes(range(64, 96))
MODULES = (
    "firmware/__init__.py",
    "firmware/rxstore.py",
    "firmware/prescription.py",
    "firmware/hmac_sha256.py",
    "firmware/eventlog.py",
    "hal/__init__.py",
    "hal/contract.py",
    "hal/storage.py",
)

pytestmark = [
    pytest.mark.micropython,
    pytest.mark.skipif(MICROPYTHON is None, reason="MicroPython unix port not installed"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ptys"),
]


@pytest.fixture
def vboard(tmp_path):
    folder = tmp_path / "vb"
    for rel in MODULES:
        dst = folder / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(REPO, rel), dst)
    info = tmp_path / "info.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.vboard", "--dir", str(folder), "--info", str(info), "--micropython", MICROPYTHON],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 20
        while not info.exists():
            if time.time() > deadline or proc.poll() is not None:
                pytest.fail("the virtual board did not start")
            time.sleep(0.05)
        paths = json.loads(info.read_text())
        keyfile = tmp_path / "pair.key"
        keyfile.write_bytes(KEY)
        yield {
            "port": paths["repl"],
            "uart": paths["uart"],
            "data": folder / "data",
            "key": str(keyfile),
            "pump": str(tmp_path / "pump.txt"),
            "tmp": tmp_path,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def program(vb, version, dose=500, key=None, pump=True):
    argv = ["program", "--key", key or vb["key"], "--port", vb["port"], "--yes"] + rx_args(version, dose)
    if pump:
        argv += ["--pump-rx", vb["pump"]]
    return Run(argv)


def device_log(vb):
    log = ev.EventLog(FileStorage(str(vb["data"])))
    log.open()
    return [(r.kind, r.a, r.b, r.c) for r in log.records()]


def test_pair_program_rollback_pull(vboard):
    vb = vboard
    r = Run(["pair", "--key", vb["key"], "--port", vb["port"]])
    assert r.code == 0, r.stderr
    assert (vb["data"] / "key.bin").read_bytes() == KEY

    r = program(vb, 1)
    assert r.code == 0, r.stderr
    assert rxstore.verify((vb["data"] / "rx.bin").read_bytes(), KEY).version == 1
    with open(vb["pump"], "rb") as f:
        assert rx_sign.verify_text(f.read(), KEY).version == 1
    assert not (vb["data"] / "rx.new").exists()

    r = program(vb, 2, dose=800)
    assert r.code == 0, r.stderr
    assert [ln.split()[:4] for ln in r.out[0].splitlines() if ln.startswith("dose_ug")] == [["dose_ug", "500", "500", "800"]]
    # the device logged both installs itself (RX_CHANGE a=version b=1)
    assert device_log(vb) == [(ev.RX_CHANGE, 1, 1, 0), (ev.RX_CHANGE, 2, 1, 0)]

    r = program(vb, 1, dose=900, pump=False)
    assert r.code == 2 and "Version 1 is not newer than version 2 on the handheld on %s" % vb["port"] in r.stderr
    assert rxstore.verify((vb["data"] / "rx.bin").read_bytes(), KEY).version == 2

    out = str(vb["tmp"] / "log.bin")
    r = Run(["pull-log", "--port", vb["port"], "--out", out])
    assert r.code == 0, r.stderr
    r = Run(["verify-log", out])
    assert r.code == 0 and "total: 2 intact records, 0 bad bytes" in r.stdout


def test_wrong_key_over_serial(vboard):
    vb = vboard
    assert Run(["pair", "--key", vb["key"], "--port", vb["port"]]).code == 0
    other = vb["tmp"] / "other.key"
    other.write_bytes(OTHER)
    # no prescription yet: the device's own dry run refuses the signature
    r = program(vb, 1, key=str(other), pump=False)
    assert r.code == 3 and r.stderr == "Wrong key: the handheld on %s is paired with another key than %s." % (vb["port"], other)
    assert program(vb, 1, pump=False).code == 0
    # now the current prescription does not verify with the other key
    r = program(vb, 2, key=str(other), pump=False)
    assert r.code == 3 and "does not verify with %s" % other in r.stderr
    assert rxstore.verify((vb["data"] / "rx.bin").read_bytes(), KEY).version == 1


def test_unpaired_handheld(vboard):
    r = program(vboard, 1, pump=False)
    assert r.code == 3 and "has no key; pair it first" in r.stderr
    assert not (vboard["data"] / "rx.bin").exists()


def test_port_that_is_not_a_handheld(vboard):
    r = Run(["pull-log", "--port", vboard["uart"], "--timeout", "2", "--out", str(vboard["tmp"] / "x.bin")])
    assert r.code == 4 and len(r.err) == 1
    assert r.stderr.startswith("The handheld on %s did not answer in time." % vboard["uart"]) or r.stderr.startswith(
        "Could not talk to the handheld"
    )


def test_a_damaged_segment_on_the_device_is_read_only_to_its_cap(vboard):
    # 1 MB in events.0 would not fit the board's 192 KB heap if read whole: the device script
    # reads at most 4097 bytes of it, and the tool refuses it in one sentence.
    vboard["data"].mkdir(exist_ok=True)
    (vboard["data"] / "events.0").write_bytes(b"\xff" * (1 << 20))
    out = vboard["tmp"] / "log.bin"
    r = Run(["pull-log", "--port", vboard["port"], "--out", str(out)])
    assert r.code == 1 and len(r.err) == 1, r.stderr
    assert r.stderr.startswith("The handheld on %s has a damaged events.0: more than 4096 bytes" % vboard["port"]), r.stderr
    assert not out.exists()


def test_missing_port():
    r = Run(["pull-log", "--port", "/dev/ttyNOPE0", "--out", "/tmp/never.bin"])
    assert r.code == 4 and r.stderr == "There is no device at /dev/ttyNOPE0 (is the handheld plugged in?)."
