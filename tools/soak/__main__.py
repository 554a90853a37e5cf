"""`python -m tools.soak [--steps N] [--seed S]`, `python -m tools.soak fuzz --inputs N`,
`python -m tools.soak powercut [--days D]`: the stress campaigns (see tools/soak/__init__.py).

Each prints progress and a summary; the exit status is 1 when any invariant was violated (or an
exception escaped a decoder, or a committed record was lost), 2 for bad arguments.
"""

import sys

from tools import cli_args
from tools.soak import report

_COMMANDS = ("soak", "fuzz", "powercut")


MAX_COUNT = 10**9  # steps or inputs: about a week of wall time at the soak's speed
MAX_DAYS = 366  # powercut: about an hour of wall time per 60 days (docs/benchmarks.md)
_positive = cli_args.whole(1, MAX_COUNT, what="a whole number from 1 to %d" % MAX_COUNT)
_seed = cli_args.whole(0, 2**64, what="a seed from 0 to 2**64")
_days = cli_args.number(0, MAX_DAYS, lo_open=True, what="a number of days above 0 and at most %d" % MAX_DAYS)


def build_parser():
    ap = cli_args.Parser(
        module="tools.soak",
        description="Stress campaigns against the real handheld firmware and the pump emulator in virtual "
        "time. Default command: the random soak. Exit 1 if any invariant is violated.",
        epilog="The soak's own options (--steps N --seed S --no-clock-sets ...) are listed by "
        "`python -m tools.soak soak --help`; `python -m tools.soak --steps 1000000` runs it.",
    )
    sub = ap.add_subparsers(dest="command", parser_class=cli_args.labelled("soak"))
    s = sub.add_parser("soak", help="random actions and faults, invariants checked against the pump's record")
    _soak_args(s)
    f = sub.add_parser("fuzz", help="fuzz the frame decoder, message decoder, prescription parsers and rx verifier")
    f.add_argument("--inputs", type=_positive, default=100000, help="inputs per target (default 100000)")
    f.add_argument("--seed", type=_seed, default=1, help="random seed (default 1)")
    p = sub.add_parser("powercut", help="cut power at every byte of every storage write of a long session")
    p.add_argument("--days", type=_days, default=7.0, help="simulated days of use to record (default 7)")
    p.add_argument("--seed", type=_seed, default=1, help="seed of the recorded session (default 1)")
    p.add_argument("--no-app", action="store_true", help="check the log only, not the App booted from it (faster)")
    p.add_argument("--session", choices=("random", "outage"), default="random", help="random: the soak's mix of actions for --days; outage: a request left uncertain through a long link outage while the log ring rotates (default random)")
    return ap


def _soak_args(ap):
    ap.add_argument("--steps", type=_positive, default=100000, help="actions to run (default 100000)")
    ap.add_argument("--seed", type=_seed, default=1, help="random seed (default 1)")
    ap.add_argument("--episode-steps", type=_positive, default=50000, help="steps before a fresh world with the next prescription (default 50000)")
    ap.add_argument("--checkpoint-every", type=_positive, default=2000, help="steps between clean-link settle checks (default 2000)")
    ap.add_argument("--progress-every", type=_positive, default=None, help="steps between progress lines (default steps/20)")
    ap.add_argument("--no-clock-sets", dest="clock_sets", action="store_false", help="never set the pump's clock (by default it is set forward and back now and then)")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in _COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["soak"] + argv
    args = build_parser().parse_args(argv)
    try:
        if args.command == "fuzz":
            from tools.soak import fuzz

            return report.fuzz(fuzz.run_fuzz(args.inputs, args.seed, progress=report.fuzz_progress))
        if args.command == "powercut":
            from tools.soak import powercut

            return report.powercut(powercut.run_campaign(days=args.days, seed=args.seed, check_app=not args.no_app, progress=report.powercut_progress, session=args.session))
        from tools.soak import soak

        every = args.progress_every or max(1, args.steps // 20)
        totals = soak.run_soak(
            args.steps,
            seed=args.seed,
            episode_steps=args.episode_steps,
            checkpoint_every=args.checkpoint_every,
            progress=report.soak_progress,
            progress_every=every,
            clock_sets=args.clock_sets,
        )
        return report.soak(totals, args.seed)
    except KeyboardInterrupt:
        sys.stderr.write("soak: interrupted.\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
