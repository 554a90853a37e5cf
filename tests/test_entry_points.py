"""The console scripts of pyproject.toml run from any folder (issue 14, newcomer polish).

`make venv` installs the project into .venv (`pip install --no-deps -e .`), which puts
pp-scenario, pump-emulator, pp-clinician... beside the venv's python. Each is run here from an
empty temporary folder, where `python -m tools.<name>` would not find the tools.
"""

import os
import subprocess
import sys
import tomllib

import pytest

from tests.mp import REPO
from tools import cli_args

BIN = os.path.dirname(sys.executable)


def scripts():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["scripts"]


def _run(name, args, cwd):
    path = os.path.join(BIN, name)
    assert os.path.exists(path), "%s is not installed in %s: run `make venv` (it runs pip install -e .)" % (name, BIN)
    return subprocess.run([path] + args, cwd=cwd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_the_tools_know_every_console_script():
    # cli_args names each tool after its script in usage lines; a script added to
    # pyproject.toml but not there would say `python -m ...` when run as the script.
    assert sorted(cli_args.SCRIPTS.values()) == sorted(scripts())
    for module, name in cli_args.SCRIPTS.items():
        assert scripts()[name].startswith(module + ".") or scripts()[name].startswith(module + ":"), name


@pytest.mark.parametrize("name", sorted(cli_args.SCRIPTS.values()))
def test_script_runs_from_another_folder_and_names_itself(name, tmp_path):
    res = _run(name, ["--help"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: %s " % name), res.stdout[:200]


# What each tool requires, so that the unknown option is the only thing wrong.
REQUIRED = {
    "pp-clinician": ["keygen", "--out", "key.bin"],
    "pp-mcu": ["package", "--board", "rpi_pico"],
    "pump-emulator": ["--pty"],
    "pp-deploy": ["--board", "rpi_pico"],
    "pp-vboard": ["--dir", "board"],
    "pp-scenario": ["day.scn"],
}


@pytest.mark.parametrize("name", sorted(cli_args.SCRIPTS.values()))
def test_a_bad_option_is_one_sentence_and_exit_2_in_every_tool(name, tmp_path):
    res = _run(name, REQUIRED.get(name, []) + ["--no-such-option"], tmp_path)
    assert res.returncode == cli_args.EXIT_USAGE, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--no-such-option" in lines[0] and "Traceback" not in res.stderr, res.stderr
    assert res.stdout == "" and os.listdir(tmp_path) == []  # nothing was done


def test_every_script_names_a_main_that_exists():
    import importlib

    for name, target in scripts().items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name


def test_no_tool_imports_tests():
    # tests/ is not installed, and the tools stand on their own: none imports from it.
    for d, _, fs in os.walk(os.path.join(REPO, "tools")):
        for f in fs:
            if f.endswith(".py"):
                with open(os.path.join(d, f)) as fh:
                    text = fh.read()
                assert "from tests" not in text and "import tests" not in text, os.path.join(d, f)
