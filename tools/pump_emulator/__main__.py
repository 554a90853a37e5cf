"""Run the pump emulator on a pseudo-terminal or a real serial port, in (accelerated) real time.

    python -m tools.pump_emulator --pty --rx rx.txt --record pump.json --events -
prints `pump emulator on /dev/pts/N`; point the handheld (or a test) at that device. Ctrl-C or
SIGTERM stops it cleanly (the record is written). `--help` lists every option. With `--console`
it takes operator commands on standard input while it runs (tools/pump_emulator/console.py).

The parts: cli.py (options), line.py (the serial line and event sink), rxload.py (key,
prescription and record checks), console.py (operator commands), port.py and pump.py.
"""

import os
import select
import signal
import sys
import time

from tools.pump_emulator import console
from tools.pump_emulator.cli import CliError, build_parser
from tools.pump_emulator.line import EventSink, Pty, SerialPort
from tools.pump_emulator.port import PumpPort
from tools.pump_emulator.pump import Pump, RecordError
from tools.pump_emulator.rxload import check_record, load_key, load_prescription, reload_rx, rx_dict

_SAVE_EVERY_S = 1.0  # save the record and look for a changed --rx this often
_MAX_WAIT_S = 0.02


def run(args):
    args.pairing_key = load_key(args)
    check_record(args.record)
    rx = load_prescription(args)
    events = EventSink(args.events)
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
        from tools.security import pump_auth

        pump.verify_bolus = pump_auth.make_pump_verifier(args.pairing_key, store=pump)
    port = PumpPort(
        pump,
        seed=args.seed,
        drop=args.drop,
        corrupt=args.corrupt,
        duplicate=args.duplicate,
        delay_ms=args.delay_ms,
        silent=args.silent,
    )
    line = Pty() if args.pty else SerialPort(args.port, args.baud)
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
            "rx": None if rx is None else rx_dict(rx),
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
                    reload_rx(args, pump, events, rx_state)
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
