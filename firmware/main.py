"""Composition root: build the handheld from a board definition and run it.

`run("rpi_pico")` imports `boards/rpi_pico/board.py`, constructs the HAL objects it names and
runs a `Superloop` on them. `boot(board, hal=None)` opens the event log and the prescription
from the board's storage and returns `(app, hal)`, hal being the dict of HAL objects by role
(built from the board when not given). Every file is read with a cap (`Storage.read(name,
limit)`): an oversized file is refused with a logged reason, never read into the heap.

`Superloop(board, hal)`: `step()` polls the app once and feeds the watchdog only after a poll
completed, and returns how long to sleep: until the app's next deadline (`App.next_deadline`),
at most `_MAX_SLEEP_MS`. `run` sleeps with the board's waiter (`hal["wait"]`, which also wakes
on a button edge or a byte from the pump) or, without one, `clock.sleep_ms`. A button that
cannot wake the loop (`wakes_on_button()` False or no waiter) is sampled every
`_SAMPLE_DOWN_MS` while it is down, for the debounce, and every `_SAMPLE_UP_MS` while it is up:
a press is seen at most that late (its hold counts from then) and a press shorter than that
may be missed, which only a tap (no request) can be. An unexpected exception in a poll or at boot is a
*handheld fault*: a FAULT record (FAULT_HANDHELD, the exception's class, faults in a row), the
screen "Handheld fault / No dose possible / Call clinic", the light red and blinking, a short
beep every 2 s. The app is dropped, so nothing more reaches the pump (no BOLUS_REQ, no status),
and the watchdog is not fed while the fault may still be retried: a board with one is reset
by it. Without a watchdog (or if it did not bite) the firmware boots again in-process after
`_FAULT_REBOOT_MS`, on the same HAL objects, and like any boot denies until resynced with the
pump. After `_MAX_FAULTS` faults in a row (each within `_STABLE_MS` of its boot) it stays in
the fault state until the power is cycled: this *kept* fault state feeds the watchdog at each
of its turns, so a board stays on the fault screen instead of being reset every few seconds.
The count outlives a reset by the watchdog (file `faults.bin`, written at each fault, removed
once a boot is healthy; read only when the watchdog says it reset the board): a fault at every
boot ends in the kept fault state on a board with a watchdog too, and a kept fault state whose
loop hung and was reset returns to it. KeyboardInterrupt and SystemExit are not faults: they end `run`.
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import gc

from firmware import eventlog
from firmware.app import App
from firmware.link import LinkClient
from hal.contract import RED, Oversized

_MAX_SLEEP_MS = const(4000)  # the longest sleep: 1 s inside the shipped boards' 5 s watchdog timeout
_SAMPLE_DOWN_MS = const(10)  # a button without edge wake-up, while down: the debounce's grain
_SAMPLE_UP_MS = const(50)  # ... while up: how late a press may be seen
_KEY_FILE = "key.bin"
_RX_TEXT = "rx.txt"
_RX_TEXT_MAX = const(2048)  # bytes: the clinic's text form with comments fits many times over

_FAULT_TURN_MS = const(100)  # the fault loop's period
_FAULT_REBOOT_MS = const(10000)  # longer than any board's watchdog timeout (RP2040: 8.4 s at most)
_FAULT_BEEP_TURNS = const(20)  # one beep of one turn every 2 s
_FAULT_HZ = const(880)
_MAX_FAULTS = const(3)  # faults in a row before the fault state is kept until power is cycled
_STABLE_MS = const(60000)  # a boot that polled this long without a fault counts as healthy
_FAULTS_FILE = "faults.bin"  # one byte: faults in a row, kept across a watchdog reset
FAULT_SCREEN = ["Handheld fault", "No dose possible", "Call clinic", ""]


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


def make_hal(board):
    """The dict of HAL objects by role that `board.HAL` names."""
    hal = {}
    for role in board.HAL:
        hal[role] = make(board.HAL[role])
    return hal


def log_oversized(log, name, size):
    log.append(eventlog.FAULT, -1, eventlog.FAULT_OVERSIZED_FILE, eventlog.FILE_IDS.get(name, 0), min(size, 0xFFFFFFFF))


def load_prescription(storage, key, log, allow_unsigned=False):
    """The signed prescription (`rx.bin`, checked against the device key). Only a development
    board (`ALLOW_UNSIGNED_RX = True`: host, lockstep) may fall back to a plain `rx.txt` when it
    has no key. Anything invalid means no prescription: no bolus is ever granted without one.
    A refused prescription (oversized included) is logged as RX_CHANGE with its reason."""
    from firmware import rxstore

    if key is not None or not allow_unsigned:
        rx, reason = rxstore.RxStore(storage, key).load()
        if rx is None and reason is not None and reason != rxstore.REFUSAL_NAMES.get(rxstore.MISSING):
            log.append(eventlog.RX_CHANGE, -1, 0, 0, rxstore.REFUSAL_CODES.get(reason, 0))
        return rx
    from firmware import prescription

    try:
        text = storage.read(_RX_TEXT, _RX_TEXT_MAX)
    except Oversized:
        log.append(eventlog.RX_CHANGE, -1, 0, 0, rxstore.OVERSIZED)
        return None
    if text is None:
        return None
    try:
        return prescription.parse_text(text.decode())
    except (prescription.PrescriptionError, UnicodeError, ValueError):
        log.append(eventlog.RX_CHANGE, -1, 0, 0, rxstore.MALFORMED)
        return None


def open_log(storage):
    """Open the event log and record what the scan had to drop: a torn tail (a power cut
    mid-append), corrupt records in the middle and segments longer than a segment (cut to
    one, see EventLog.open), each as a FAULT record."""
    log = eventlog.EventLog(storage)
    opened = log.open()
    for name, size in log.oversized:
        log_oversized(log, name, size)
    if opened.get("torn_bytes"):
        log.append(eventlog.FAULT, -1, eventlog.FAULT_TORN_LOG, opened["torn_bytes"])
    if opened.get("bad_bytes"):
        log.append(eventlog.FAULT, -1, eventlog.FAULT_STORAGE, opened["bad_bytes"])
    return log


def read_key(storage, log):
    """The device key, or None when it is missing, invalid or oversized (logged)."""
    from firmware import rxstore

    try:
        key = storage.read(_KEY_FILE, rxstore.KEY_LEN)
    except Oversized as e:
        log_oversized(log, _KEY_FILE, e.size)
        return None
    return key if rxstore.key_ok(key) else None


def boot(board, hal=None):
    if hal is None:
        hal = make_hal(board)
    storage = hal["storage"]
    log = open_log(storage)
    key = read_key(storage, log)
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


def _faults_before_reset(storage):
    """Faults in a row before the watchdog reset the board (`faults.bin`); 0 when none were
    kept or the file cannot be read."""
    try:
        data = storage.read(_FAULTS_FILE, 1)
    except Exception:
        return 0
    return data[0] if data else 0


def _quietly(fn, *args):
    """Call fn; in the fault path an error of the fault handling itself must not stop it."""
    try:
        fn(*args)
    except Exception:
        pass


def _print_exception(exc):
    import sys

    if hasattr(sys, "print_exception"):
        sys.print_exception(exc, sys.stderr)  # type: ignore[arg-type]  # MicroPython: a stream
    else:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)


class Superloop:
    """The handheld's main loop on `board` with the HAL objects `hal` (built from the board
    when not given): `step()` is one turn and returns the ms to sleep; `run(steps)` loops."""

    def __init__(self, board, hal=None):
        self.board = board
        self.hal = hal if hal is not None else make_hal(board)
        self.clock = self.hal["clock"]
        self.watchdog = self.hal.get("watchdog")
        waiter = self.hal.get("wait")
        self.wait = self.clock.sleep_ms if waiter is None else waiter.wait  # wait(ms): the loop's sleep
        if waiter is not None:
            waiter.watch(self.hal)
        self._button_wakes = waiter is not None and waiter.wakes_on_button()
        if getattr(board, "BUTTON_WAKES", False):  # the board's own sleep ends at a button change
            self._button_wakes = True
        self.app = None  # None in the fault state: nothing polls the app or the link
        self.faults = 0  # handheld faults in a row
        self.boots = 0
        self._polls = 0  # completed polls since this boot
        self._boot_at = 0  # ticks when this boot began
        self._turns = 0  # fault-loop turns since the fault
        if self.watchdog is not None and self.watchdog.caused_last_reset():
            self.faults = _faults_before_reset(self.hal["storage"])
        if self.faults >= _MAX_FAULTS:
            self._show_fault()  # the watchdog reset a board in the kept fault state: it stays there
        else:
            self.boot()

    def boot(self):
        self.boots += 1
        self._polls = 0
        self._boot_at = self.clock.ticks_ms()
        try:
            self.app = boot(self.board, self.hal)[0]
        except Exception as e:
            self._fault(e)

    def step(self):
        if self.app is None:
            return self._fault_turn()
        try:
            self.app.poll()
            ms = self.sleep_ms()
        except Exception as e:
            self._fault(e)
            return _FAULT_TURN_MS
        if self.watchdog is not None:
            self.watchdog.feed()
        self._polls += 1
        if self.faults and self.clock.ticks_diff(self.clock.ticks_ms(), self._boot_at) >= _STABLE_MS:
            self.faults = 0
            _quietly(self.hal["storage"].remove, _FAULTS_FILE)
        return ms

    def sleep_ms(self):
        """How long the loop may sleep after a poll: until the app's next deadline, capped."""
        app = self.app
        if app is None:
            return _FAULT_TURN_MS
        clock = self.clock
        now = clock.ticks_ms()
        ms = clock.ticks_diff(app.next_deadline(now), now)
        cap = _MAX_SLEEP_MS
        if not self._button_wakes:
            cap = _SAMPLE_DOWN_MS if app.gesture.down else _SAMPLE_UP_MS
        if ms > cap:
            return cap
        return ms if ms > 0 else 0

    def run(self, steps=-1):
        """Loop for `steps` turns (-1: for ever)."""
        while steps != 0:
            self.wait(self.step())
            steps -= 1

    @property
    def in_fault(self):
        return self.app is None

    def _fault(self, exc):
        app = self.app
        self.app = None
        self.faults += 1
        self._turns = 0
        gc.collect()
        _quietly(_print_exception, exc)
        _quietly(self._log_fault, app, exc)
        _quietly(self.hal["storage"].replace, _FAULTS_FILE, bytes((min(self.faults, 255),)))
        app = None
        self._show_fault()

    def _show_fault(self):
        _quietly(self.hal["display"].show, FAULT_SCREEN)
        self._fault_turn()

    def _log_fault(self, app, exc):
        """FAULT_HANDHELD in the app's log (a fault at boot: the log opened afresh), at the
        pump time when it is known and loggable."""
        t = -1
        if app is None:
            log = eventlog.EventLog(self.hal["storage"])
        else:
            log = app.log
            try:
                t = app.now_s()
            except Exception:
                pass
            if t is None or not 0 <= t < 0xFFFFFFFF:
                t = -1
        name = type(exc).__name__
        code = eventlog.HANDHELD_EXCEPTIONS.index(name) if name in eventlog.HANDHELD_EXCEPTIONS else 0
        log.append(eventlog.FAULT, t, eventlog.FAULT_HANDHELD, code, self.faults)

    def _fault_turn(self):
        """One turn of the fault state: red blinking light, a beep every 2 s. While the fault
        is retried, no watchdog feed (a board with one is reset by it) and the in-process
        reboot when no watchdog reset the board in time. In the kept fault state (`_MAX_FAULTS`
        in a row) each turn feeds the watchdog: the board stays on the fault screen instead of
        a reset every few seconds; a turn that hangs is still caught by the watchdog."""
        self._turns += 1
        _quietly(self.hal["indicator"].set, RED, True)
        buzzer = self.hal["buzzer"]
        if self._turns % _FAULT_BEEP_TURNS == 1:
            _quietly(buzzer.on, _FAULT_HZ)
        else:
            _quietly(buzzer.off)
        if self.faults < _MAX_FAULTS:
            if self._turns * _FAULT_TURN_MS >= _FAULT_REBOOT_MS:
                gc.collect()
                self.boot()
        else:
            self._turns %= _FAULT_BEEP_TURNS  # a state that lasts: a small int, the same beeps
            if self.watchdog is not None:
                self.watchdog.feed()
        return _FAULT_TURN_MS


def run(board_name):
    Superloop(load_board(board_name)).run()
