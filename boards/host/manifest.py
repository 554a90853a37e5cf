# pyright: reportUndefinedVariable=false
# MicroPython manifest: freeze exactly what tools.deploy puts on board host (see tools/mcu/board_manifest.py).
# make -C ports/<port> BOARD=... FROZEN_MANIFEST=$PWD/boards/host/manifest.py
include("../../tools/mcu/board_manifest.py", board="host")
