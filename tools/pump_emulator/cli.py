"""The pump emulator's command line: its options, their value types, and the one-sentence
error (`CliError`) every part of `python -m tools.pump_emulator` raises for bad input."""

import argparse

from tools import cli_args
from tools.pump_emulator.pump import ALARM_BITS, DEFAULT_PUMP_ID, STALE_S


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


def _amount(text):
    x = cli_args.number(0, MAX_AMOUNT)(text)
    return int(x) if x == int(x) else x


def _alarm(text):
    if text not in ALARM_BITS:
        raise argparse.ArgumentTypeError("unknown alarm %r (choose from %s)" % (text, ", ".join(sorted(ALARM_BITS))))
    return text


def build_parser():
    p = _Parser(
        prog=cli_args.prog("tools.pump_emulator"),
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
    for flag, what in (("--drop", "lost (each way)"), ("--corrupt", "corrupted"), ("--duplicate", "duplicated")):
        faults.add_argument(flag, metavar="P", type=_probability, default=0.0, help="probability a frame is %s" % what)
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
