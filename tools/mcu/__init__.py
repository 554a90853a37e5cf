"""The Cortex-M target: the handheld firmware, unmodified, on MicroPython's bare-metal qemu port.

`python -m tools.mcu build|run|repl|package` (see __main__.py and docs/boards.md). build.py
builds the port from the pinned source with the firmware frozen in (cached by the hash of the
inputs); qemu.py runs it under qemu-system-arm as the lockstep board, speaking the lockstep
protocol (hal/lockstep.py) on its own stdin/stdout so that tools.scenario and tools.bench drive
it like the unix port; packaging.py derives MicroPython manifests and mip packages from the
deploy plan.
"""

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class MCUError(Exception):
    """A one-sentence reason the Cortex-M target cannot be built or run."""


KB = 1024

# Emulated machines. ram: the SRAM shared by the heap, the stack and the RAM disk (None: plenty);
# reserve: what the stack and MicroPython's own state need besides the heap.
TARGETS = {
    "microbit": {
        "board": "MICROBIT",
        "cpu": "Cortex-M0",
        "machine": "microbit",
        "qemu_args": ["-global", "nrf51-soc.flash-size=1048576", "-global", "nrf51-soc.sram-size=262144"],
        "ram": 256 * KB,
        "reserve": 24 * KB,
        "heap": 190 * KB,  # about a Pico's (frozen firmware)
        "heap_mpy": 128 * KB,  # the .mpy files take RAM-disk space
        "ramdisk": 32 * KB,
        "ramdisk_mpy": 104 * KB,
    },
    "mps2_an385": {
        "board": "MPS2_AN385",
        "cpu": "Cortex-M3",
        "machine": "mps2-an385",
        "qemu_args": [],
        "ram": None,
        "reserve": 0,
        "heap": 256 * KB,
        "heap_mpy": 256 * KB,
        "ramdisk": 256 * KB,
        "ramdisk_mpy": 256 * KB,
    },
}
DEFAULT_TARGET = "microbit"
VARIANTS = ("frozen", "mpy")


def parse_size(text):
    """'48K' -> 49152; '190k', '65536', '1M' also work."""
    s = str(text).strip().upper()
    mult = 1
    if s.endswith("K"):
        mult, s = KB, s[:-1]
    elif s.endswith("M"):
        mult, s = KB * KB, s[:-1]
    try:
        return int(s) * mult
    except ValueError:
        raise MCUError("%r is not a size (e.g. 48K)" % (text,))


def interpreter_target(name):
    """(target, variant) of a scenario-runner interpreter name: qemu, qemu-<target>, and
    either with -mpy; None for another name."""
    if name == "qemu" or name == "qemu-mpy":
        return DEFAULT_TARGET, "mpy" if name.endswith("-mpy") else "frozen"
    if not name.startswith("qemu-"):
        return None
    rest = name[len("qemu-") :]
    variant = "frozen"
    if rest.endswith("-mpy"):
        rest, variant = rest[: -len("-mpy")], "mpy"
    if rest not in TARGETS:
        return None
    return rest, variant


INTERPRETERS = ("qemu", "qemu-mpy") + tuple(
    "qemu-%s%s" % (t, v) for t in TARGETS for v in ("", "-mpy")
)
