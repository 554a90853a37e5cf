# pyright: reportUndefinedVariable=false
# MicroPython manifest: freeze exactly what tools.deploy puts on board lockstep (see ../manifest.py).
# make -C ports/<port> BOARD=... FROZEN_MANIFEST=$PWD/boards/lockstep/manifest.py
include("../manifest.py", board="lockstep")
