"""Command line of the clinician tool: `python -m tools.clinician SUBCOMMAND ...`.

Subcommands: keygen, pair, program, pull-log, verify-log, report (each has --help). Every
error is one sentence on stderr and a non-zero exit code (tools/clinician/errors.py).
"""

import argparse
import os
import sys

from tools import cli_args
from tools.clinician.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_DEVICE,
    EXIT_OK,
    EXIT_USAGE,
    ClinicianError,
)

MAX_LOCKOUT_S = 86400  # a prescription's longest lockout (firmware/prescription.py)
EPILOG = """exit codes: 0 done, 1 a check failed or a device refused, 2 bad arguments or no
confirmation, 3 wrong key or device not paired, 4 device, port or file missing, 130 interrupted.
This is a demonstrator, not a medical device."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ClinicianError("Bad arguments: %s (see --help)." % message.rstrip("."), EXIT_USAGE)


# ASCII digits only (int() also takes fullwidth ones, which the prescription file parser
# refuses), within a u32: the prescription's own checks then name the field.
_int = cli_args.whole(0, 0xFFFFFFFF)


def _add_target(p, what="handheld"):
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--board-dir", metavar="DIR", help="the %s is a host board folder (vboard folder or its data/)" % what)
    g.add_argument("--port", metavar="DEV", help="the %s is on this serial port (driven with mpremote)" % what)
    p.add_argument(
        "--device-dir",
        metavar="PATH",
        default="data",
        help="with --port: the board's storage folder on the device (default: data, i.e. /data on boards)",
    )
    p.add_argument(
        "--timeout", metavar="S", type=cli_args.number(0, 3600, lo_open=True, what="a number of seconds above 0 and at most 3600"), default=30.0, help="with --port: seconds to wait for each mpremote step (default 30)"
    )


def build_parser():
    p = _Parser(
        prog=cli_args.prog("tools.clinician"),
        description="The clinician's tool for the patient handheld: pair, program a signed prescription, "
        "pull and check the event log, report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="SUBCOMMAND", parser_class=_Parser)
    sub.required = True

    k = sub.add_parser("keygen", help="make a new 32-byte pairing key", epilog=EPILOG)
    k.add_argument("--out", metavar="FILE", required=True, help="where to write the key (refuses to overwrite)")
    k.add_argument("--force", action="store_true", help="overwrite an existing key file")

    pa = sub.add_parser("pair", help="give the handheld its key (key.bin); the pump gets the same file as --key")
    pa.add_argument("--key", metavar="FILE", required=True, help="the pairing key (from keygen)")
    _add_target(pa)
    pa.add_argument("--force", action="store_true", help="replace a different key already on the handheld")

    pr = sub.add_parser(
        "program",
        help="sign a prescription and write it to the pump and the handheld",
        description="Validate, sign, show old and new values side by side, confirm, then write the pump's "
        "file first and the handheld second, each atomically. An interrupted session leaves each device "
        "with a complete prescription (the old or the new one); run it again to finish.",
        epilog=EPILOG,
    )
    pr.add_argument("--key", metavar="FILE", required=True, help="the pairing key (from keygen)")
    pr.add_argument("--rx", metavar="FILE", help="prescription text file (key=value: every field)")
    for name, text in (
        ("--dose-ug", "bolus dose, µg"),
        ("--duration-s", "bolus duration, s"),
        ("--lockout-s", "lockout from the start of a bolus, s"),
        ("--max-per-24h", "maximum boluses in a rolling 24 h"),
        ("--version", "prescription version (must be higher than the one in force)"),
        ("--cap-ug", "amount cap over the window, µg (default 0: none)"),
        ("--cap-window-s", "amount cap window, s (default 0: none)"),
    ):
        pr.add_argument(name, metavar="N", type=_int, help=text)
    _add_target(pr)
    pr.add_argument("--pump-rx", metavar="FILE", help="the pump emulator's prescription file (its --rx)")
    pr.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    pl = sub.add_parser("pull-log", help="copy the handheld's event log (events.0, events.1) into one file")
    _add_target(pl)
    pl.add_argument("--out", metavar="FILE", required=True, help="the log file to write")

    vl = sub.add_parser("verify-log", help="check every record of a pulled log; exit 1 if any is damaged")
    vl.add_argument("log", metavar="FILE", help="a file from pull-log (or a raw events.N segment)")

    rp = sub.add_parser(
        "report",
        help="the clinic review of a pulled log: HTML page (inline charts) and a text summary",
        description="The clinic review of a handheld's event log. Per calendar day of the pump's clock:\n"
        "presses, doses given, ug given, presses per dose, refusals by reason, uncertain and settled\n"
        "requests, alarms with their durations; an hour-of-day heat map; a timeline with the lockout\n"
        "windows of the prescription; faults grouped. Prints the text summary; --html and --out also\n"
        "write one self-contained HTML page (nothing is fetched when it opens).",
        epilog="example: %(prog)s pulled.log --rx rx.txt --html review.html\n\n" + EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rp.add_argument("log", metavar="LOG", help="a file from pull-log (or a raw events.N segment)")
    rp.add_argument("--html", metavar="FILE", help="write the HTML report to FILE")
    rp.add_argument("--out", metavar="DIR", help="write the HTML report to DIR/index.html (DIR is made if missing)")
    rp.add_argument(
        "--rx",
        metavar="FILE",
        action="append",
        default=[],
        help="a prescription file (key=value text, or a signed rx.bin) the log refers to; repeat for each version. "
        "The log holds each version and dose but not the lockout or the 24 h maximum: with it the timeline draws "
        "the lockout windows",
    )
    rp.add_argument(
        "--lockout-s",
        metavar="N",
        type=cli_args.whole(1, MAX_LOCKOUT_S, what="a lockout from 1 to %d s" % MAX_LOCKOUT_S),
        help="the prescription's lockout, when you have no --rx file for it (never guessed from the log)",
    )
    return p


def _handheld(args):
    from tools.clinician import targets

    if args.board_dir is not None:
        return targets.BoardDir(args.board_dir)
    return targets.SerialBoard(args.port, device_dir=args.device_dir, timeout_s=args.timeout)


def cmd_keygen(args, out):
    if os.path.exists(args.out) and not args.force:
        raise ClinicianError("%s already exists; pass --force to replace it." % args.out, EXIT_USAGE)
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        raise ClinicianError("There is no folder %s." % folder, EXIT_NO_DEVICE)
    key = os.urandom(32)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    out("wrote a new 32-byte key to %s; give the same file to the handheld (pair) and the pump (--key)" % args.out)
    return EXIT_OK


def cmd_pair(args, out):
    from tools.clinician import program

    key = program.load_key(args.key)
    hh = _handheld(args)
    current = hh.read(["key.bin"])["key.bin"]
    if current == key:
        out("the %s already holds this key" % hh.where())
        return EXIT_OK
    if current is not None and not args.force:
        raise ClinicianError(
            "The %s already has a different key; pass --force to replace it (its prescription will then need re-programming)."
            % hh.where(),
            EXIT_USAGE,
        )
    hh.write_key(key)
    if hh.read(["key.bin"])["key.bin"] != key:
        raise ClinicianError("Reading back the key from the %s gave different bytes." % hh.where())
    out("paired the %s with %s" % (hh.where(), args.key))
    return EXIT_OK


def _tty_ask(prompt):
    if not (sys.stdin is not None and sys.stdin.isatty()):
        raise ClinicianError(
            "Refusing to program without confirmation: there is no terminal to ask on (pass --yes to confirm).",
            EXIT_USAGE,
        )
    try:
        answer = input(prompt)
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def cmd_program(args, out, ask):
    from tools.clinician import program, targets

    values = {name: getattr(args, name) for name in program.FIELDS}
    if args.rx is not None and any(v is not None for v in values.values()):
        raise ClinicianError("Give either --rx FILE or the prescription options, not both.", EXIT_USAGE)
    key = program.load_key(args.key)
    rx = program.build_rx(args.rx, values)
    chosen = []
    if args.pump_rx is not None:
        chosen.append(targets.PumpFile(args.pump_rx, key))  # the pump first: it is the authority
    chosen.append(_handheld(args))
    session = program.Session(rx, key, chosen, key_name=args.key)
    session.inspect()
    out(session.table())
    if not session.pending():
        out("nothing to do: every device already holds version %d" % rx.version)
        return EXIT_OK
    if not args.yes:
        where = " and ".join(s.target.where() for s in session.pending())
        if not ask("Write version %d to the %s? [y/N] " % (rx.version, where)):
            raise ClinicianError("Not confirmed; nothing was written.", EXIT_USAGE)
    session.write(out)
    out("done: restart the handheld so that it loads version %d" % rx.version)
    return EXIT_OK


def cmd_pull_log(args, out):
    from tools.clinician import logfile

    hh = _handheld(args)
    got = hh.read(list(logfile.SEGMENTS))
    if all(got[n] is None for n in logfile.SEGMENTS):
        raise ClinicianError("The %s has no event log (no events.0 or events.1)." % hh.where())
    data = logfile.pack([(n, got[n]) for n in logfile.SEGMENTS])
    from tools.clinician.targets import write_atomic

    try:
        write_atomic(args.out, data)
    except OSError as e:
        raise ClinicianError("Cannot write %s: %s." % (args.out, e.strerror), EXIT_NO_DEVICE)
    sizes = ", ".join("%s %d bytes" % (n, len(got[n] or b"")) for n in logfile.SEGMENTS)
    out("copied the event log of the %s (%s) to %s" % (hh.where(), sizes, args.out))
    return EXIT_OK


def cmd_verify_log(args, out):
    from tools.clinician import logfile

    result = logfile.verify(logfile.read(args.log))
    for line in result.lines():
        out(line)
    if result.bad_bytes:
        first = result.bad_ranges[0]
        raise ClinicianError(
            "The log %s is damaged: %d bad bytes, the first at offset %d." % (args.log, result.bad_bytes, first[0]),
            EXIT_FAILED,
        )
    return EXIT_OK


def cmd_report(args, out):
    from tools.clinician import logfile, report

    parsed = logfile.verify(logfile.read(args.log))
    logfile.require_log(parsed, args.log)
    if not parsed.records:
        raise ClinicianError("The log %s holds no records: there is nothing to report." % args.log, EXIT_FAILED)
    summary = report.build(
        parsed, out_dir=args.out, html_path=args.html, rx_files=args.rx, lockout_s=args.lockout_s, source=args.log
    )
    out(summary)
    return EXIT_OK


def main(argv=None, out=None, err=None, ask=None):
    """Run one subcommand; returns the exit code. `out`/`err` print a line; `ask` asks yes/no."""
    out = out or (lambda line: print(line, flush=True))
    err = err or (lambda line: print(line, file=sys.stderr, flush=True))
    ask = ask or _tty_ask
    args = None
    try:
        args = build_parser().parse_args(argv)
        if args.command == "keygen":
            return cmd_keygen(args, out)
        if args.command == "pair":
            return cmd_pair(args, out)
        if args.command == "program":
            return cmd_program(args, out, ask)
        if args.command == "pull-log":
            return cmd_pull_log(args, out)
        if args.command == "verify-log":
            return cmd_verify_log(args, out)
        if args.command == "report":
            return cmd_report(args, out)
        raise ClinicianError("Unknown subcommand %s." % args.command, EXIT_USAGE)
    except ClinicianError as e:
        err(e.message)
        return e.code
    except KeyboardInterrupt:
        if args is not None and args.command in ("program", "pair"):
            err("Interrupted: each device still holds a complete prescription (old or new); run the command again to finish.")
        else:
            err("Interrupted.")
        return EXIT_INTERRUPTED
    except SystemExit as e:  # --help, or argparse quitting on its own
        return e.code if isinstance(e.code, int) else EXIT_OK
    except BrokenPipeError:
        return EXIT_FAILED
    except OSError as e:
        err("%s%s." % (e.strerror or "I/O error", (": " + e.filename) if getattr(e, "filename", None) else ""))
        return EXIT_FAILED
