"""Find a board definition by name: `load("rpi_pico")` returns `boards/rpi_pico/board.py`.

Runs on MicroPython and CPython. Adding a board means adding a folder `boards/<name>/` with an
empty `__init__.py` and a `board.py` of data; nothing here changes. `names()` lists them.
"""

import os


class BoardError(Exception):
    """Raised by `load` for an unknown or malformed board; `.reason` is a short sentence."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


# Every board.py must define these; `check` names the first one missing.
REQUIRED = ("NAME", "MCU", "PORT", "MICROPYTHON", "STORAGE_ROOT", "UART_BAUD", "HAL")
HAL_ROLES = ("clock", "button", "indicator", "buzzer", "display", "serial", "storage")


def _valid_name(name):
    if not name or not isinstance(name, str):
        return False
    for ch in name:
        if not (ch == "_" or "a" <= ch <= "z" or "0" <= ch <= "9"):
            return False
    return not ("0" <= name[0] <= "9")


def _folder():
    here = __file__ if "__file__" in globals() else "boards/registry.py"
    cut = here.rfind("/")
    return here[:cut] if cut > 0 else "."


def names():
    """Board names: the sub-folders of boards/ that hold a board.py (or board.mpy)."""
    found = []
    root = _folder()
    for entry in os.listdir(root):
        if not _valid_name(entry):
            continue
        for leaf in ("/board.py", "/board.mpy"):
            try:
                os.stat(root + "/" + entry + leaf)
            except OSError:
                continue
            found.append(entry)
            break
    found.sort()
    return found


def check(board):
    """Raise BoardError if a loaded board module lacks a required name or HAL role."""
    for key in REQUIRED:
        if not hasattr(board, key):
            raise BoardError("board %s has no %s" % (getattr(board, "NAME", "?"), key))
    for role in HAL_ROLES:
        spec = board.HAL.get(role)
        if not (isinstance(spec, tuple) and len(spec) == 3):
            raise BoardError("board %s has no HAL entry for %s" % (board.NAME, role))
    return board


def load(name):
    """The board module `boards.<name>.board`, checked; BoardError if there is no such board."""
    if not _valid_name(name):
        raise BoardError("%r is not a board name (lower-case letters, digits and _)" % (name,))
    try:
        pkg = __import__("boards." + name + ".board")
    except ImportError:
        raise BoardError("no board named %s (known: %s)" % (name, ", ".join(names())))
    board = getattr(getattr(pkg, name), "board")
    if getattr(board, "NAME", None) != name:
        raise BoardError("boards/%s/board.py says NAME = %r" % (name, getattr(board, "NAME", None)))
    return check(board)
