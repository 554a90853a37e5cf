"""Board definitions: every boards/<name>/board.py loads on CPython and MicroPython, names HAL
classes that exist and accept its arguments, and uses each pin once."""

import ast
import os

import pytest

from boards import registry
from tests.mp import REPO, run_mp

SHIPPED = ("rpi_pico", "rpi_pico2", "esp32_devkit", "host")
BOARDS = registry.names()


def test_shipped_boards_are_listed():
    for name in SHIPPED:
        assert name in BOARDS


@pytest.mark.parametrize("name", BOARDS)
def test_board_loads_on_cpython(name):
    board = registry.load(name)
    assert board.NAME == name
    for role in registry.HAL_ROLES:
        module, cls, kwargs = board.HAL[role]
        assert module.startswith("hal.") and isinstance(cls, str) and isinstance(kwargs, dict)
    assert board.UART_BAUD == 115200


@pytest.mark.micropython
def test_every_board_loads_on_micropython():
    code = (
        "from boards import registry\n"
        "for n in registry.names():\n"
        "    b = registry.load(n)\n"
        "    print(n, b.MCU, b.MICROPYTHON, len(b.HAL))\n"
    )
    res = run_mp(code)
    assert res.returncode == 0, res.stderr
    seen = [line.split()[0] for line in res.stdout.splitlines()]
    assert seen == BOARDS


def test_unknown_board_is_a_clear_error():
    with pytest.raises(registry.BoardError) as e:
        registry.load("no_such_board")
    assert "no board named no_such_board" in e.value.reason and "rpi_pico" in e.value.reason
    with pytest.raises(registry.BoardError):
        registry.load("../hal")


def _init_params(module, cls):
    """Parameter names of cls.__init__ in hal/<module>.py, read from the source (no import:
    machine_* modules need `machine`)."""
    path = os.path.join(REPO, *module.split(".")) + ".py"
    tree = ast.parse(open(path).read())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    return [a.arg for a in item.args.args[1:] + item.args.kwonlyargs]
            return []
    raise AssertionError("%s has no class %s" % (path, cls))


@pytest.mark.parametrize("name", BOARDS)
def test_hal_classes_exist_and_take_the_board_arguments(name):
    board = registry.load(name)
    for role, (module, cls, kwargs) in board.HAL.items():
        params = _init_params(module, cls)
        for key in kwargs:
            assert key in params, "%s: %s.%s takes no %r" % (name, module, cls, key)


@pytest.mark.parametrize("name", ("rpi_pico", "rpi_pico2", "esp32_devkit"))
def test_real_boards_use_each_pin_once(name):
    b = registry.load(name)
    pins = [b.BUTTON_PIN, b.BUZZER_PIN, b.I2C_SDA, b.I2C_SCL, b.UART_TX, b.UART_RX] + list(b.LED_RGB_PINS)
    assert len(set(pins)) == len(pins), pins
    assert b.BUTTON_ACTIVE_LOW and b.BUTTON_PULL_UP
    assert b.HAL["watchdog"][0] == "hal.machine_watchdog"
    assert b.STORAGE_ROOT.startswith("/")


def test_rp2040_pwm_slices_do_not_collide():
    # RP2040/RP2350: GPIO n drives PWM slice (n >> 1) & 7; one slice has one frequency, so the
    # buzzer must not share a slice with the LED channels.
    for name in ("rpi_pico", "rpi_pico2"):
        b = registry.load(name)
        led_slices = {(p >> 1) & 7 for p in b.LED_RGB_PINS}
        assert (b.BUZZER_PIN >> 1) & 7 not in led_slices


def test_esp32_pins_avoid_strapping_and_input_only():
    b = registry.load("esp32_devkit")
    strapping = {0, 2, 5, 12, 15}
    outputs = [b.BUZZER_PIN, b.UART_TX, b.I2C_SDA, b.I2C_SCL] + list(b.LED_RGB_PINS)
    assert not strapping & set(outputs + [b.BUTTON_PIN])
    assert all(p < 34 for p in outputs + [b.BUTTON_PIN])  # 34..39: input only, no pull-up


def test_host_board_uses_only_host_hal():
    b = registry.load("host")
    for module, _cls, _kw in b.HAL.values():
        assert not module.startswith("hal.machine_")
    assert not b.STORAGE_ROOT.startswith("/")
