"""tools/typecheck.py: pyright over device code against the pinned rp2 and esp32 stubs (installed
into build/typings on first use, needs the package registry once) and over tools/ on CPython.

Every target (rp2, esp32 stubs for device code; CPython for the host code) must have zero
errors."""

import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Files that must type-check cleanly on every target they belong to.
CLEAN = re.compile(
    r"^(boards/|hal/(host_|machine_)|tools/(deploy|vboard|typecheck))"
)


@pytest.mark.slow
def test_typecheck_runs_every_target_and_our_files_are_clean():
    res = subprocess.run(
        [sys.executable, "-m", "tools.typecheck"], capture_output=True, text=True, cwd=REPO, timeout=600
    )
    out = res.stdout
    assert res.returncode in (0, 1), out + res.stderr  # 4 would mean nothing was checked
    summary = {}
    for line in out.splitlines():
        m = re.match(r"typecheck: (\S+)\s+(\d+) files\s+(\d+) errors", line)
        if m:
            summary[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    assert set(summary) == {"rp2", "esp32", "unix", "cpython"}, out
    assert all(files > 10 for files, _errors in summary.values()), summary
    ours = [line for line in out.splitlines() if line.startswith("  ") and CLEAN.match(line.strip())]
    assert ours == [], "\n".join(ours)
    assert res.returncode == 0, out  # the whole tree: zero errors on every target


def test_target_files_follow_the_port_rules():
    sys.path.insert(0, REPO)
    from tools import typecheck as tc

    rp2 = tc.device_files("rp2")
    assert "hal/machine_display.py" in rp2 and "boards/rpi_pico/board.py" in rp2
    assert not any(f.startswith("hal/host_") for f in rp2)
    assert "boards/esp32_devkit/board.py" not in rp2 and "boards/host/board.py" not in rp2
    unix = tc.device_files("unix")  # the host and lockstep boards run on the unix port
    assert {"hal/host_serial.py", "hal/host_wait.py", "hal/lockstep.py", "boards/host/board.py", "firmware/app.py"} <= set(unix)
    assert not any(f.startswith("hal/machine_") or f.endswith("manifest.py") for f in unix)
    host = tc.host_files()
    assert "hal/host_serial.py" in host and "tools/typecheck.py" in host
    assert not any(f.startswith("hal/machine_") for f in host)
    assert tc.stub_packages("esp32") == ["micropython-esp32-stubs==1.29.0.post1", "micropython-stdlib-stubs==1.29.0.post2"]
