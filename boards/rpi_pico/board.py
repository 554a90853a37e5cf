"""Raspberry Pi Pico (RP2040): pins, UART, storage and HAL classes. Data only.

Wiring is in docs/boards.md. `firmware.main.run("rpi_pico")` builds each HAL object from the
(module, class, kwargs) triple in `HAL`; `tools.deploy` reads PORT/MICROPYTHON/MACHINE_MATCH.
"""

NAME = "rpi_pico"
DESCRIPTION = "Raspberry Pi Pico (RP2040)"
MCU = "RP2040"
PORT = "rp2"  # MicroPython port: stubs, firmware download
MACHINE_MATCH = "RP2040"  # must appear in sys.implementation._machine on the board
MICROPYTHON = "1.29"  # required MicroPython release (major.minor); .mpy files must match it
FIRMWARE = "https://micropython.org/download/RPI_PICO/ (v1.29.x .uf2)"

STORAGE_ROOT = "/data"

# Button to GND, internal pull-up: reads 0 while pressed.
BUTTON_PIN = 15  # GP15, physical pin 20
BUTTON_PULL_UP = True
BUTTON_ACTIVE_LOW = True

# Common-cathode RGB LED, one resistor per leg, on three PWM outputs (slices 1 and 2).
LED_RGB_PINS = (18, 19, 20)  # GP18 red (pin 24), GP19 green (pin 25), GP20 blue (pin 26)
LED_ACTIVE_LOW = False
ONBOARD_LED = "LED"  # GP25; use hal.machine_indicator.LedIndicator with it if no RGB LED

BUZZER_PIN = 16  # GP16 (pin 21), PWM slice 0: passive piezo

I2C_ID = 0
I2C_SDA = 4  # GP4 (pin 6)
I2C_SCL = 5  # GP5 (pin 7)
I2C_FREQ = 400000
DISPLAY_ADDR = 0x3C
DISPLAY_WIDTH = 128
DISPLAY_HEIGHT = 64

UART_ID = 0
UART_TX = 0  # GP0 (pin 1) -> adapter RX
UART_RX = 1  # GP1 (pin 2) <- adapter TX
UART_BAUD = 115200

WATCHDOG_MS = 5000  # RP2040 maximum is 8388 ms
TIMER_ID = -1  # virtual timer that keeps the watchdog fed at the REPL (see machine_watchdog)
HOLD_MS = 1000
WAIT_SLICE_MS = 5  # the longest a button edge or a pump byte waits for the loop to wake

HAL = {
    "clock": ("hal.machine_clock", "Clock", {}),
    "button": (
        "hal.machine_button",
        "Button",
        {"pin": BUTTON_PIN, "pull_up": BUTTON_PULL_UP, "active_low": BUTTON_ACTIVE_LOW, "irq": True},
    ),
    "indicator": ("hal.machine_indicator", "RgbIndicator", {"pins": LED_RGB_PINS, "active_low": LED_ACTIVE_LOW}),
    "buzzer": ("hal.machine_buzzer", "Buzzer", {"pin": BUZZER_PIN}),
    "display": (
        "hal.machine_display",
        "Display",
        {
            "i2c_id": I2C_ID,
            "sda": I2C_SDA,
            "scl": I2C_SCL,
            "freq": I2C_FREQ,
            "addr": DISPLAY_ADDR,
            "width": DISPLAY_WIDTH,
            "height": DISPLAY_HEIGHT,
        },
    ),
    "serial": ("hal.machine_serial", "Serial", {"uart_id": UART_ID, "tx": UART_TX, "rx": UART_RX, "baud": UART_BAUD}),
    "storage": ("hal.storage", "FileStorage", {"root": STORAGE_ROOT}),
    "watchdog": ("hal.machine_watchdog", "Watchdog", {"timeout_ms": WATCHDOG_MS, "timer_id": TIMER_ID}),
    # Sleep until the next deadline, a button edge or a UART byte (slices of WAIT_SLICE_MS);
    # not lightsleep: the UART stops with the clocks and a pump frame would be lost.
    "wait": ("hal.machine_wait", "Wait", {"slice_ms": WAIT_SLICE_MS, "light": False}),
}
