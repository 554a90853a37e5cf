# pyright: reportUndefinedVariable=false
# MicroPython manifest: freeze exactly what tools.deploy puts on board rpi_pico2 (see ../manifest.py).
# make -C ports/<port> BOARD=... FROZEN_MANIFEST=$PWD/boards/rpi_pico2/manifest.py
include("../manifest.py", board="rpi_pico2")
