"""tools.deploy for real, with mpremote, to a virtual board: the board boots from the .mpy
files, hashes are verified, a second deploy copies nothing, stale files go, provisioning
lands byte for byte, and the wrong board is refused."""

import os
import subprocess
import sys
import time

import pytest

from tests.vboardkit import read_until, vb  # noqa: F401  (vb is a fixture)

pytestmark = pytest.mark.micropython
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BANNER_MAIN = """\
import sys
from boards.host import board
from hal import host_clock, storage
print('DEPLOYED-%(token)s', board.NAME, host_clock.__file__, storage.__file__)
"""


def deploy(vb, *args):
    return subprocess.run(
        [sys.executable, "-m", "tools.deploy", "--port", vb.repl] + list(args),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )




@pytest.fixture()
def banner(tmp_path):
    token = str(int(time.time() * 1000))
    path = tmp_path / "main.py"
    path.write_text(BANNER_MAIN % {"token": token})
    return str(path), ("DEPLOYED-" + token).encode()


def test_deploy_boots_from_mpy_and_skips_unchanged(vb, banner, tmp_path):
    main, token = banner
    build = str(tmp_path / "build")
    t0 = time.monotonic()
    res = deploy(vb, "--board", "host", "--main", main, "--build", build)
    first = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert "deploy: verified" in res.stdout and "deploy: reset" in res.stdout
    got = read_until(vb.repl, token)
    assert token + b" host hal/host_clock.mpy hal/storage.mpy" in got, got[-500:]
    folder = vb.folder
    assert open(os.path.join(folder, "board_name.txt")).read() == "host\n"
    assert os.path.exists(os.path.join(folder, "boards", "host", "board.mpy"))
    assert not os.path.exists(os.path.join(folder, "hal", "host_clock.py"))
    assert not os.path.exists(os.path.join(folder, "hal", "machine_button.mpy"))

    t0 = time.monotonic()
    res = deploy(vb, "--board", "host", "--main", main, "--build", build)
    again = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert "deploy: 0 to copy" in res.stdout and "copy " not in res.stdout
    assert again < max(first, 5.0)


def test_stale_files_are_removed_and_changes_copied(vb, banner, tmp_path):
    main, token = banner
    build = str(tmp_path / "build")
    assert deploy(vb, "--board", "host", "--main", main, "--build", build).returncode == 0
    stale = os.path.join(vb.folder, "hal", "old_module.py")  # a .py would shadow a .mpy
    with open(stale, "w") as f:
        f.write("X = 1\n")
    os.makedirs(os.path.join(vb.folder, "boards", "gone"), exist_ok=True)
    with open(os.path.join(vb.folder, "boards", "gone", "board.mpy"), "wb") as f:
        f.write(b"M\x06")
    with open(os.path.join(vb.folder, "hal", "storage.mpy"), "ab") as f:
        f.write(b"tampered")
    keep = os.path.join(vb.folder, "user_notes.txt")  # outside the managed folders: left alone
    with open(keep, "w") as f:
        f.write("mine")
    res = deploy(vb, "--board", "host", "--main", main, "--build", build)
    assert res.returncode == 0, res.stderr
    assert "1 to copy" in res.stdout and "2 stale to remove" in res.stdout, res.stdout
    assert "copy hal/storage.mpy" in res.stdout
    assert not os.path.exists(stale) and not os.path.exists(os.path.join(vb.folder, "boards", "gone"))
    assert os.path.exists(keep)


def test_provisioning_key_and_prescription(vb, banner, tmp_path):
    main, _token = banner
    from firmware import prescription
    from tools.security import rx_sign

    key = tmp_path / "key"
    key.write_bytes(os.urandom(32))
    rx = tmp_path / "rx"  # deploy verifies it with the key before anything is built (issue 11)
    fields = dict(version=3, dose_ug=500, duration_s=60, lockout_s=600, max_per_24h=6, cap_ug=0, cap_window_s=0)
    rx.write_bytes(rx_sign.sign(prescription.from_fields(fields), key.read_bytes()))
    res = deploy(vb, "--board", "host", "--main", main, "--key", str(key), "--rx", str(rx), "--build", str(tmp_path / "b"))
    assert res.returncode == 0, res.stderr
    with open(os.path.join(vb.folder, "data", "key.bin"), "rb") as f:
        assert f.read() == key.read_bytes()
    with open(os.path.join(vb.folder, "data", "rx.bin"), "rb") as f:
        assert f.read() == rx.read_bytes()


def test_wrong_board_is_refused(vb, banner, tmp_path):
    main, _token = banner
    res = deploy(vb, "--board", "rpi_pico", "--main", main, "--build", str(tmp_path / "b"))
    assert res.returncode == 1
    assert res.stderr.startswith("deploy: the board on %s is 'linux" % vb.repl)
    assert "not a Raspberry Pi Pico (RP2040): pick the matching --board" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_board_deployed_as_another_board_is_refused(vb, banner, tmp_path):
    main, _token = banner
    with open(os.path.join(vb.folder, "board_name.txt"), "w") as f:
        f.write("lockstep\n")
    res = deploy(vb, "--board", "host", "--main", main, "--build", str(tmp_path / "b"))
    assert res.returncode == 1
    assert res.stderr.strip() == "deploy: the board on %s was deployed as lockstep, not host: pass --force to replace it" % vb.repl
    res = deploy(vb, "--board", "host", "--main", main, "--build", str(tmp_path / "b"), "--force")
    assert res.returncode == 0, res.stderr


def test_real_firmware_boots_on_the_vboard(vb, tmp_path):
    """The default entry point: firmware.main.run('host') from .mpy, showing its first screen."""
    res = deploy(vb, "--board", "host", "--build", str(tmp_path / "b"))
    if res.returncode != 0 and "imports" in res.stderr:
        pytest.skip("firmware incomplete: " + res.stderr.strip())
    assert res.returncode == 0, res.stderr
    got = read_until(vb.repl, b"display: ")
    assert b"display: " in got and b"Traceback" not in got, got[-800:]
    assert os.path.exists(os.path.join(vb.folder, "firmware", "main.mpy"))
