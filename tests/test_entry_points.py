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

BIN = os.path.dirname(sys.executable)


def scripts():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["scripts"]


@pytest.mark.parametrize("name", ["pp-scenario", "pump-emulator", "pp-clinician", "pp-sim", "pp-soak"])
def test_script_runs_from_another_folder(name, tmp_path):
    path = os.path.join(BIN, name)
    assert name in scripts()
    assert os.path.exists(path), "%s is not installed in %s: run `make venv` (it runs pip install -e .)" % (name, BIN)
    res = subprocess.run([path, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "usage:" in res.stdout


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
