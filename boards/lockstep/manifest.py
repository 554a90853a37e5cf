# pyright: reportUndefinedVariable=false
# MicroPython manifest: freeze exactly what tools.deploy puts on board lockstep (see tools/mcu/board_manifest.py).
# make -C ports/<port> BOARD=... FROZEN_MANIFEST=$PWD/boards/lockstep/manifest.py
include("../../tools/mcu/board_manifest.py", board="lockstep")
