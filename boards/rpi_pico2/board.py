"""Raspberry Pi Pico 2 (RP2350): the Pico's pinout, pins and HAL classes, another MCU. Data only.

The Pico 2 is pin-compatible with the Pico, so everything but the names below comes from
`boards/rpi_pico/board.py`. Wiring is in docs/boards.md.
"""

from boards.rpi_pico.board import *  # noqa: F401,F403  (same pins, UART, storage and HAL)

NAME = "rpi_pico2"
DESCRIPTION = "Raspberry Pi Pico 2 (RP2350)"
MCU = "RP2350"
MACHINE_MATCH = "RP2350"  # must appear in sys.implementation._machine on the board
FIRMWARE = "https://micropython.org/download/RPI_PICO2/ (v1.29.x .uf2)"
