# pyright: reportUndefinedVariable=false
# MicroPython manifest (FROZEN_MANIFEST) shared by the boards: freezes exactly what tools.deploy
# puts on the board named by the `board` option: its import closure of firmware/, hal/ and
# boards/ (tools/deploy/plan.py reads the imports) and the main.py and boot.py deploy writes.
# Each boards/<name>/manifest.py is `include("../../tools/mcu/board_manifest.py", board="<name>")`.
# Runs in MicroPython's tools/makemanifest.py (CPython), in this folder; it is host code (it
# reads the deploy plan), so it lives in tools/, not among the device's boards/.
import os
import sys

options.defaults(board=None)
if not options.board:
    raise ValueError("include this manifest with board=<name> (see boards/<name>/manifest.py)")
_repo = os.path.dirname(os.path.dirname(os.getcwd()))
if _repo not in sys.path:
    sys.path.insert(0, _repo)
from tools.mcu import packaging  # noqa: E402

for _src, _target in packaging.frozen(options.board, _repo):
    module(_target, base_path=_src[: len(_src) - len(_target)])
