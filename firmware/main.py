"""Composition root: build the handheld from a board definition and run it.

`run("rpi_pico")` imports `boards/rpi_pico/board.py`, constructs the HAL objects it names, opens
the event log and the prescription from the board's storage, and runs the superloop: poll the
app, feed the watchdog only after a poll completed, sleep. `boot(board)` does everything but
the loop and returns `(app, hal)`, hal being the dict of HAL objects by role.
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from firmware import eventlog
from firmware.app import App
from firmware.link import LinkClient

_POLL_MS = const(10)
_KEY_FILE = "key.bin"
_RX_TEXT = "rx.txt"


def load_board(name):
    from boards import registry

    return registry.load(name)


def make(spec):
    """Construct one HAL object from (module name, class name, kwargs)."""
    module_name, class_name, kwargs = spec
    mod = __import__(module_name)
    for part in module_name.split(".")[1:]:
        mod = getattr(mod, part)
    return getattr(mod, class_name)(**kwargs)


def load_prescription(storage, key, log, allow_unsigned=False):
    """The signed prescription (`rx.bin`, checked against the device key). Only a development
    board (`ALLOW_UNSIGNED_RX = True`: host, lockstep) may fall back to a plain `rx.txt` when it
    has no key. Anything invalid means no prescription: no bolus is ever granted without one."""
    from firmware import rxstore

    if key is not None or not allow_unsigned:
        rx, reason = rxstore.RxStore(storage, key).load()
        if rx is None and reason is not None and reason != rxstore.REFUSAL_NAMES.get(rxstore.MISSING):
            log.append(eventlog.RX_CHANGE, -1, 0, 0, rxstore.REFUSAL_CODES.get(reason, 0))
        return rx
    from firmware import prescription

    text = storage.read(_RX_TEXT)
    if text is None:
        return None
    try:
        return prescription.parse_text(text.decode())
    except (prescription.PrescriptionError, UnicodeError, ValueError):
        log.append(eventlog.RX_CHANGE, -1, 0, 0, 3)
        return None


def open_log(storage):
    """Open the event log and record what the scan had to drop: a torn tail (a power cut
    mid-append) and corrupt records in the middle, each as a FAULT record."""
    log = eventlog.EventLog(storage)
    opened = log.open()
    if opened.get("torn_bytes"):
        log.append(eventlog.FAULT, -1, eventlog.FAULT_TORN_LOG, opened["torn_bytes"])
    if opened.get("bad_bytes"):
        log.append(eventlog.FAULT, -1, eventlog.FAULT_STORAGE, opened["bad_bytes"])
    return log


def boot(board):
    hal = {}
    for role in board.HAL:
        hal[role] = make(board.HAL[role])
    storage = hal["storage"]
    log = open_log(storage)
    from firmware import rxstore

    key = storage.read(_KEY_FILE)
    if not rxstore.key_ok(key):
        key = None
    rx = load_prescription(storage, key, log, getattr(board, "ALLOW_UNSIGNED_RX", False))
    link = LinkClient(hal["clock"], hal["serial"], key=key)
    app = App(
        hal["clock"],
        hal["button"],
        hal["indicator"],
        hal["buzzer"],
        hal["display"],
        log,
        link,
        rx,
        hold_ms=getattr(board, "HOLD_MS", 1000),
    )
    return app, hal


def run(board_name):
    board = load_board(board_name)
    app, hal = boot(board)
    clock = hal["clock"]
    watchdog = hal.get("watchdog")
    while True:
        app.poll()
        if watchdog is not None:
            watchdog.feed()
        clock.sleep_ms(_POLL_MS)
