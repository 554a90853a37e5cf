# pyright: reportUndefinedVariable=false
# MicroPython manifest: freeze exactly what tools.deploy puts on board rpi_pico2 (see tools/mcu/board_manifest.py).
# make -C ports/<port> BOARD=... FROZEN_MANIFEST=$PWD/boards/rpi_pico2/manifest.py
include("../../tools/mcu/board_manifest.py", board="rpi_pico2")
