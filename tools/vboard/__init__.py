"""A virtual board: the MicroPython unix port behind a pty that `mpremote` talks to.

`python -m tools.vboard --dir FOLDER` prints `vboard repl on /dev/pts/N` and
`vboard uart on /dev/pts/M`, then relays until stopped (see `supervisor.VBoard`).
From Python (tests, the simulator): `with launch(folder) as vb: vb.repl, vb.uart`.
"""

import os
import subprocess
import sys
import time


class Launched:
    """A `python -m tools.vboard` child process; `repl`/`uart` are its pty paths."""

    def __init__(self, folder, heap="192K", env=None, timeout=10):
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        child_env = dict(os.environ if env is None else env)
        child_env["PYTHONPATH"] = repo + os.pathsep + child_env.get("PYTHONPATH", "")
        self.folder = os.path.abspath(folder)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.vboard", "--dir", self.folder, "--heap", heap],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=repo,
            env=child_env,
            text=True,
        )
        self.repl = self.uart = ""
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while not (self.repl and self.uart):
            line = self.proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("vboard did not start")
            if line.startswith("vboard repl on "):
                self.repl = line.split(" on ", 1)[1].strip()
            elif line.startswith("vboard uart on "):
                self.uart = line.split(" on ", 1)[1].strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.stop()


def launch(folder, heap="192K", env=None):
    """Start a vboard on `folder`; use as a context manager or call `.stop()`."""
    return Launched(folder, heap=heap, env=env)
