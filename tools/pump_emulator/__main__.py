"""Run the pump emulator on a pseudo-terminal or a real serial port, in (accelerated) real time.

    python -m tools.pump_emulator --pty --rx rx.txt --record pump.json --events -
prints `pump emulator on /dev/pts/N`; point the handheld (or a test) at that device. Ctrl-C or
SIGTERM stops it cleanly (the record is written). `--help` lists every option. With `--console`
it takes operator commands on standard input while it runs (tools/pump_emulator/console.py).
"""

import argparse
import json
import os
import select
import signal
import sys
import time

from firmware import messages as m
from tools import cli_args
from tools.pump_emulator import console
from tools.pump_emulator.port import PumpPort
from tools.pump_emulator.pump import ALARM_BITS, DEFAULT_PUMP_ID, STALE_S, Pump, RecordError

PROG = "python -m tools.pump_emulator"
_SAVE_EVERY_S = 1.0  # save the record and look for a changed --rx this often
_MAX_WAIT_S = 0.02


class CliError(Exception):
    """A user error: printed as one sentence, exit status 2 (usage) or 1 (runtime)."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CliError("%s (see --help)" % message, 2)


_probability = cli_args.number(0, 1, what="a probability from 0 to 1")
_nonneg_int = cli_args.whole(0, 0xFFFFFFFF)
_u32 = cli_args.whole(0, 0xFFFFFFFF, base=0)  # also 0x50554D50
MAX_SPEED = 10**6  # a day in under a tenth of a second: faster is no emulation
MAX_AMOUNT = 10**9  # µL, µg/mL, µg/h: far above any pump, small enough to stay exact
MAX_RECORD_BYTES = 64 << 20


def _amount(text):
    x = cli_args.number(0, MAX_AMOUNT)(text)
    return int(x) if x == int(x) else x


def _alarm(text):
    if text not in ALARM_BITS:
        raise argparse.ArgumentTypeError("unknown alarm %r (choose from %s)" % (text, ", ".join(sorted(ALARM_BITS))))
    return text


def build_parser():
    p = _Parser(
        prog=PROG,
        description="Emulate the implanted pump on a serial line: the link protocol of\n"
        "docs/protocol.md, a reservoir with basal drain, boluses delivered over their\n"
        "duration, alarms, the pump's own copy of the prescription and its limits, and a\n"
        "persistent record of every bolus request (applied at most once per request id).",
        epilog="examples:\n"
        "  %(prog)s --pty --rx rx.txt --record pump.json --events -\n"
        "  %(prog)s --pty --dose-ug 500 --duration-s 60 --lockout-s 600 --max-per-24h 6 --speed 60\n"
        "  %(prog)s --port /dev/ttyUSB0 --baud 115200 --rx rx.txt --drop 0.1 --silent\n"
        "\nThe prescription file holds key=value pairs (version, dose_ug, duration_s,\n"
        "lockout_s, max_per_24h, cap_ug, cap_window_s), read by firmware.prescription.parse_text.\n"
        "Exit status: 0 after Ctrl-C/SIGTERM, 1 on a runtime error, 2 on a usage error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--pty",
        action="store_true",
        help="create a pseudo-terminal and print its device path",
    )
    where.add_argument("--port", metavar="DEV", help="use a real serial port (pyserial), e.g. /dev/ttyUSB0")
    p.add_argument(
        "--baud",
        metavar="N",
        type=cli_args.whole(1, 10**7),
        default=115200,
        help="baud rate for --port (default 115200)",
    )

    rx = p.add_argument_group("prescription (the pump's own copy; without one every bolus is refused)")
    rx.add_argument("--rx", metavar="FILE", help="prescription text file (key=value lines); re-read when it changes")
    rx.add_argument(
        "--key",
        metavar="FILE",
        help="pairing key (32 bytes, shared with the handheld): bolus commands must carry its tag and "
        "the --rx file must be signed with it (python -m tools.clinician program --pump-rx)",
    )
    rx.add_argument("--dose-ug", metavar="N", type=_nonneg_int, help="bolus dose in µg")
    rx.add_argument("--duration-s", metavar="N", type=_nonneg_int, help="bolus duration in s")
    rx.add_argument("--lockout-s", metavar="N", type=_nonneg_int, help="lockout from the start of a bolus, s")
    rx.add_argument("--max-per-24h", metavar="N", type=_nonneg_int, help="maximum boluses in a rolling 24 h")
    rx.add_argument(
        "--cap-ug",
        metavar="N",
        type=_nonneg_int,
        default=0,
        help="amount cap incl. basal, µg (0: none)",
    )
    rx.add_argument(
        "--cap-window-s",
        metavar="N",
        type=_nonneg_int,
        default=0,
        help="amount cap window, s (0: none)",
    )
    rx.add_argument(
        "--rx-version",
        metavar="N",
        type=_nonneg_int,
        default=1,
        help="prescription version (default 1)",
    )

    pump = p.add_argument_group("pump")
    pump.add_argument(
        "--reservoir-ul",
        metavar="UL",
        type=_amount,
        help="fill the reservoir with this volume in µL (default 20000 for a new record; "
        "with an existing record the saved level is kept unless this is given)",
    )
    pump.add_argument(
        "--concentration",
        metavar="UG_PER_ML",
        type=cli_args.number(0, MAX_AMOUNT, lo_open=True, what="a positive concentration up to %d" % MAX_AMOUNT),
        help="drug concentration in µg/mL (default 1000)",
    )
    pump.add_argument(
        "--basal-ug-per-h",
        metavar="N",
        type=_amount,
        default=0,
        help="basal rate in µg/h (default 0)",
    )
    pump.add_argument(
        "--low-reservoir-ul",
        metavar="UL",
        type=_amount,
        default=2000,
        help="low-reservoir alarm level, µL",
    )
    pump.add_argument(
        "--pump-id",
        metavar="ID",
        type=_u32,
        default=DEFAULT_PUMP_ID,
        help="pump id (u32; default 0x50554D50)",
    )
    pump.add_argument(
        "--start-s",
        metavar="S",
        type=_u32,
        help="pump time at start, s (default: the host's Unix time)",
    )
    pump.add_argument(
        "--stale-s",
        metavar="S",
        type=_nonneg_int,
        default=STALE_S,
        help="stale-request tolerance, s (default 30)",
    )
    pump.add_argument(
        "--alarm",
        metavar="NAME",
        type=_alarm,
        action="append",
        default=[],
        help="raise this alarm at start (repeatable)",
    )
    pump.add_argument(
        "--console",
        action="store_true",
        help="take operator commands on standard input while running (alarm, clear, refill, "
        "clock, restart, silent, drop, corrupt, duplicate, delay, clean, status, help), one a "
        "line, each answered on standard output",
    )
    pump.add_argument("--record", metavar="FILE", help="persistent bolus record (JSON; default: memory only)")
    pump.add_argument("--events", metavar="FILE", help="append events as JSON lines to FILE ('-': stderr)")
    pump.add_argument(
        "--speed",
        metavar="X",
        type=cli_args.number(0, MAX_SPEED, lo_open=True, what="a positive speed-up factor up to %d" % MAX_SPEED),
        default=1.0,
        help="time acceleration factor (default 1)",
    )

    faults = p.add_argument_group("fault injection (seeded, repeatable)")
    faults.add_argument(
        "--drop",
        metavar="P",
        type=_probability,
        default=0.0,
        help="probability a frame is lost (each way)",
    )
    faults.add_argument(
        "--corrupt",
        metavar="P",
        type=_probability,
        default=0.0,
        help="probability a frame is corrupted",
    )
    faults.add_argument(
        "--duplicate",
        metavar="P",
        type=_probability,
        default=0.0,
        help="probability a frame is duplicated",
    )
    faults.add_argument(
        "--delay-ms",
        metavar="MS",
        type=cli_args.whole(0, 3600000),
        default=0,
        help="hold every reply back this long (pump ms, at most an hour)",
    )
    faults.add_argument(
        "--silent",
        action="store_true",
        help="act on requests but never reply (lost replies)",
    )
    faults.add_argument(
        "--seed",
        metavar="N",
        type=_nonneg_int,
        default=1,
        help="fault generator seed (default 1)",
    )
    return p


def load_key(args):
    """The pairing key from --key, or None (unpaired: bolus tags are not checked)."""
    if args.key is None:
        return None
    from firmware import rxstore

    try:
        key = cli_args.read_limited(args.key, "the key file", 4096)
    except cli_args.InputError as e:
        raise CliError(str(e))
    if not rxstore.key_ok(key):
        raise CliError("the key file %s does not hold a 32-byte pairing key" % args.key)
    return key


def _parse_rx_text(args, text):
    from firmware import prescription, rxstore

    try:
        if args.pairing_key is not None:
            return rxstore.verify_text(text, args.pairing_key)
        return prescription.parse_text(text)
    except prescription.PrescriptionError as e:
        raise CliError("the prescription file %s is invalid: %s" % (args.rx, e.reason))
    except rxstore.RxRefused as e:
        raise CliError("the prescription file %s is refused: %s" % (args.rx, e.detail))


def _reload_rx(args, pump, events, state):
    """Take a changed --rx file if it is valid (and signed, when paired); else keep the old one."""
    try:
        mtime = os.stat(args.rx).st_mtime_ns
    except OSError:
        return
    if mtime == state.get("mtime"):
        return
    state["mtime"] = mtime
    try:
        rx = _parse_rx_text(args, cli_args.read_text(args.rx, "the prescription file"))
    except cli_args.InputError as e:
        events({"event": "rx_refused", "why": str(e)})
        return
    except CliError as e:
        events({"event": "rx_refused", "why": str(e)})
        return
    if pump.rx is not None and rx.version <= pump.rx.version:
        if rx.version < pump.rx.version:
            events({"event": "rx_refused", "why": "older version %d" % rx.version})
        return
    pump.rx = rx
    events({"event": "rx_change", "rx": _rx_dict(rx)})


def load_prescription(args):
    """The pump's prescription from --rx or the flags, or None when neither was given."""
    flags = (args.dose_ug, args.duration_s, args.lockout_s, args.max_per_24h)
    given = [x is not None for x in flags]
    if args.rx is None and not any(given):
        return None
    try:
        from firmware import prescription
    except ImportError:
        raise CliError("firmware/prescription.py is missing, so no prescription can be read")
    if args.rx is not None:
        if any(given):
            raise CliError("give either --rx or the prescription flags, not both", 2)
        try:
            text = cli_args.read_text(args.rx, "the prescription file")
        except cli_args.InputError as e:
            raise CliError(str(e))
        return _parse_rx_text(args, text)
    if not all(given):
        raise CliError("give all of --dose-ug, --duration-s, --lockout-s and --max-per-24h", 2)
    fields = {
        "version": args.rx_version,
        "dose_ug": args.dose_ug,
        "duration_s": args.duration_s,
        "lockout_s": args.lockout_s,
        "max_per_24h": args.max_per_24h,
        "cap_ug": args.cap_ug,
        "cap_window_s": args.cap_window_s,
    }
    try:
        return prescription.from_fields(fields)
    except prescription.PrescriptionError as e:
        raise CliError("the prescription is invalid: %s" % e.reason, 2)


class _EventSink:
    def __init__(self, target):
        self.f = None
        self.own = False
        if target == "-":
            self.f = sys.stderr
        elif target:
            try:
                self.f = open(target, "a")
            except OSError as e:
                raise CliError("cannot open the events file %s: %s" % (target, e.strerror))
            self.own = True

    def __call__(self, event):
        if self.f is not None:
            self.f.write(json.dumps(event, sort_keys=True) + "\n")
            self.f.flush()

    def close(self):
        if self.own and self.f is not None:
            self.f.close()


class _Pty:
    """Master end of a new pseudo-terminal, raw, non-blocking; `.path` is the slave's device."""

    def __init__(self):
        from tools.pump_emulator.rawpty import open_raw_pty

        self.fd, self._slave, self.path = open_raw_pty()

    def read(self):
        try:
            return os.read(self.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as e:
            raise CliError("the pseudo-terminal %s stopped working: %s" % (self.path, e.strerror))

    def write(self, data):
        try:
            n = os.write(self.fd, data)
        except BlockingIOError:
            return 0  # nobody is reading: the bytes are lost, as on a real line
        return n

    def close(self):
        os.close(self.fd)
        os.close(self._slave)


def _os_reason(exc):
    """'No such file or directory' rather than pyserial's nested tuples, when there is one."""
    seen = exc
    while seen is not None:
        args = getattr(seen, "args", ())
        if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):
            return args[1]
        seen = seen.__cause__ or seen.__context__
    return str(exc)


class _SerialPort:
    def __init__(self, dev, baud):
        try:
            import serial
        except ImportError:
            raise CliError("pyserial is not installed (pip install pyserial)")
        if not os.path.exists(dev):
            raise CliError("cannot open serial port %s: no such device" % dev)
        if baud <= 0:
            raise CliError("the baud rate must be positive", 2)
        try:
            self.ser = serial.Serial(dev, baud, timeout=0, write_timeout=0)
        except (serial.SerialException, OSError, ValueError) as e:
            raise CliError("cannot open serial port %s: %s" % (dev, _os_reason(e)))
        self.fd = self.ser.fileno()
        self.path = dev

    def read(self):
        try:
            n = self.ser.in_waiting
            return self.ser.read(n) if n else b""
        except Exception as e:  # unplugged USB adapter and the like
            raise CliError("serial port %s stopped working: %s" % (self.path, _os_reason(e)))

    def write(self, data):
        try:
            return self.ser.write(data) or 0
        except Exception:
            return 0

    def close(self):
        self.ser.close()


def check_record(path):
    """Refuse a --record that is a folder, not text or too large, before the pump reads it (a
    refused record is left as it is: nothing is written)."""
    if path is not None and os.path.exists(path):
        try:
            cli_args.read_text(path, "the record file", MAX_RECORD_BYTES)
        except cli_args.InputError as e:
            raise CliError("%s; it is left as it is" % e)


def run(args):
    args.pairing_key = load_key(args)
    check_record(args.record)
    rx = load_prescription(args)
    events = _EventSink(args.events)
    start_s = args.start_s if args.start_s is not None else int(time.time()) & 0xFFFFFFFF
    try:
        pump = Pump(
            rx=rx,
            pump_id=args.pump_id,
            start_s=start_s,
            reservoir_ul=args.reservoir_ul if args.reservoir_ul is not None else 20000,
            concentration_ug_per_ml=args.concentration or 1000,
            basal_ug_per_h=args.basal_ug_per_h,
            low_reservoir_ul=args.low_reservoir_ul,
            record_path=args.record,
            on_event=events,
            stale_s=args.stale_s,
        )
    except RecordError as e:
        raise CliError(e.reason)
    except OSError as e:
        raise CliError("cannot write the record file %s: %s" % (args.record, e.strerror))
    try:
        pump.save()  # fail now, not at the first bolus, if the record cannot be written
        if args.reservoir_ul is not None:
            pump.refill(args.reservoir_ul, args.concentration)
        for name in args.alarm:
            pump.raise_alarm(name)
    except OSError as e:
        raise CliError("cannot write the record file %s: %s" % (args.record, e.strerror))
    if args.pairing_key is not None:
        from firmware import auth

        pump.verify_bolus = auth.make_pump_verifier(args.pairing_key, store=pump)
    port = PumpPort(
        pump,
        seed=args.seed,
        drop=args.drop,
        corrupt=args.corrupt,
        duplicate=args.duplicate,
        delay_ms=args.delay_ms,
        silent=args.silent,
    )
    line = _Pty() if args.pty else _SerialPort(args.port, args.baud)
    stop = []

    def _stop(signum, _frame):
        stop.append(signum)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    events(
        {
            "event": "start",
            "device": line.path,
            "pump_id": pump.pump_id,
            "pump_time": pump.pump_time,
            "speed": args.speed,
            "rx": None if rx is None else _rx_dict(rx),
        }
    )
    print("pump emulator on %s" % line.path, flush=True)
    speed = args.speed
    rx_state = {}
    if args.rx is not None:
        try:
            rx_state["mtime"] = os.stat(args.rx).st_mtime_ns
        except OSError:
            pass
    t0 = time.monotonic()
    last_save = t0
    operator = console.LineReader(sys.stdin.fileno()) if args.console else None
    try:
        while not stop:
            wait = _MAX_WAIT_S
            due = port.next_due_ms()
            if due is not None:
                wait = max(0.0, min(wait, (due - pump.now_ms) / 1000.0 / speed))
            watched = [line.fd]
            if operator is not None and operator.open:
                watched.append(operator.fd)
            try:
                ready, _, _ = select.select(watched, [], [], wait)
            except InterruptedError:
                ready = []
            data = line.read() if line.fd in ready else b""
            now = time.monotonic()
            now_ms = int((now - t0) * 1000 * speed)
            if operator is not None and operator.fd in ready:
                _operate(operator, pump, port, events, now_ms)
            out = port.feed(data, now_ms)
            while out:
                n = line.write(out)
                if n <= 0:
                    break
                out = out[n:]
            if now - last_save >= _SAVE_EVERY_S:
                if args.record:
                    pump.save()
                if args.rx is not None:
                    _reload_rx(args, pump, events, rx_state)
                last_save = now
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            pump.shutdown()
        finally:
            events({"event": "stop", "stats": port.stats})
            line.close()
            events.close()
    return 0


def _operate(operator, pump, port, events, now_ms):
    """Carry out the operator's complete lines at pump time `now_ms`, answering each."""
    for text in operator.read_lines(lambda fd: os.read(fd, 4096)):
        pump.advance_to(now_ms)
        try:
            answer, event = console.execute(text, pump, port)
        except OSError as e:  # the record could not be written: say so, keep running
            answer, event = "error: cannot write the record: %s." % (e.strerror or e), None
        if event is not None:
            events(event)
        if answer is not None:
            print(answer, flush=True)


def _rx_dict(rx):
    keys = ("version", "dose_ug", "duration_s", "lockout_s", "max_per_24h", "cap_ug", "cap_window_s")
    return {k: getattr(rx, k, None) for k in keys}


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        return run(args)
    except CliError as e:
        sys.stderr.write("pump emulator: %s.\n" % str(e).rstrip("."))
        return e.status
    except KeyboardInterrupt:
        return 0
    except OSError as e:
        sys.stderr.write("pump emulator: %s.\n" % (e.strerror or e))
        return 1
    except Exception as e:  # a bug: still one line (set PUMP_EMULATOR_DEBUG=1 for the traceback)
        if os.environ.get("PUMP_EMULATOR_DEBUG"):
            raise
        sys.stderr.write("pump emulator: internal error: %s.\n" % ("%s: %s" % (type(e).__name__, e))[:300])
        return 1


if __name__ == "__main__":
    sys.exit(main())
