"""Generic ESP32 dev board (ESP32-WROOM-32 DevKitC / DevKit V1): pins, UART, storage, HAL.

Data only; wiring is in docs/boards.md. UART0 (GPIO1/3) carries the REPL over the on-board
USB bridge, so the pump link uses UART2. Strapping pins (0, 2, 5, 12, 15) are left free.
"""

NAME = "esp32_devkit"
DESCRIPTION = "ESP32 DevKitC (ESP32-WROOM-32)"
MCU = "ESP32"
PORT = "esp32"
MACHINE_MATCH = "ESP32"
MICROPYTHON = "1.29"
FIRMWARE = "https://micropython.org/download/ESP32_GENERIC/ (v1.29.x .bin)"

STORAGE_ROOT = "/data"

BUTTON_PIN = 32  # has an internal pull-up (34..39 do not)
BUTTON_PULL_UP = True
BUTTON_ACTIVE_LOW = True

LED_RGB_PINS = (18, 19, 23)  # red, green, blue (LEDC PWM), common cathode
LED_ACTIVE_LOW = False
ONBOARD_LED = 2  # blue LED on many DevKit V1 boards (none on DevKitC)

BUZZER_PIN = 25

I2C_ID = 0
I2C_SDA = 21
I2C_SCL = 22
I2C_FREQ = 400000
DISPLAY_ADDR = 0x3C
DISPLAY_WIDTH = 128
DISPLAY_HEIGHT = 64

UART_ID = 2
UART_TX = 17  # -> adapter RX
UART_RX = 16  # <- adapter TX
UART_BAUD = 115200

WATCHDOG_MS = 5000
TIMER_ID = 0  # hardware timer 0 keeps the watchdog fed at the REPL (see machine_watchdog)
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
