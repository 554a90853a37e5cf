# pyright: reportUndefinedVariable=false
# MicroPython manifest: freeze exactly what tools.deploy puts on board esp32_devkit (see tools/mcu/board_manifest.py).
# make -C ports/<port> BOARD=... FROZEN_MANIFEST=$PWD/boards/esp32_devkit/manifest.py
include("../../tools/mcu/board_manifest.py", board="esp32_devkit")
