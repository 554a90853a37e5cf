"""`python -m tools.scenario FILE [--seed N] [--out FILE] [--interpreter cpython|micropython]`

Runs a scenario (docs/scenarios.md) through the real firmware and the pump emulator in
virtual time and writes one JSON object per event (the summary last). `--check EXPECT` compares
the outcome with an expected-outcome file and exits 1 on a mismatch.
Exit codes: 0 done (and as expected), 1 not as expected, 2 bad scenario or arguments,
3 the firmware crashed.
"""

import json
import sys

from tools import cli_args
from tools.scenario import expect as expect_mod
from tools.scenario.driver import INTERPRETERS, FirmwareCrashed
from tools.scenario.parse import ScenarioError, parse
from tools.scenario.run import run


def _fail(msg, code):
    sys.stderr.write("scenario: " + msg + "\n")
    return code


def main(argv=None):
    ap = cli_args.Parser(
        module="tools.scenario",
        description="Run a patient scenario through the real handheld firmware (lockstep board) and the "
        "pump emulator in virtual time; prints one JSON object per event.",
    )
    ap.add_argument("file", help="the scenario (.scn); see docs/scenarios.md")
    ap.add_argument("--seed", type=cli_args.whole(0, 2**64), default=1, help="seed of the link-fault and button-noise generator (default 1)")
    ap.add_argument("--out", default=None, help="write the JSON lines here instead of stdout")
    ap.add_argument("--interpreter", choices=INTERPRETERS, default="cpython", help="run the firmware on CPython (default) or the MicroPython unix port")
    ap.add_argument("--heap", type=cli_args.heap_size, default=None, help="MicroPython heap size (default 256K); needs a MicroPython --interpreter")
    ap.add_argument("--unpaired", action="store_true", help="no link key: a plain rx.txt and unauthenticated requests (default: paired, signed rx.bin)")
    ap.add_argument("--trace", action="store_true", help="also report frames, link faults, screen changes and every log record")
    ap.add_argument("--check", metavar="EXPECT", default=None, help="compare with an expected-outcome file (.expect.json); exit 1 on a mismatch")
    ap.add_argument("--log-out", metavar="FILE", default=None, help="save the handheld's event log here (for python -m tools.clinician report)")
    ap.add_argument("--stats", action="store_true", help="print speed figures (sim-days per wall second, steps per second) on stderr")
    args = ap.parse_args(argv)
    if args.heap is not None and args.interpreter == "cpython":
        ap.error("--heap sets the MicroPython heap and the firmware runs on CPython here: add --interpreter micropython")

    try:
        text = cli_args.read_text(args.file, "the scenario")
        for path, what in ((args.out, "the output file"), (args.log_out, "the log file")):
            if path is not None:
                cli_args.output_path(path, what)
    except cli_args.InputError as e:
        return _fail("%s." % e, 2)
    expected = None
    if args.check:
        try:
            expected = expect_mod.load(args.check)
        except cli_args.InputError as e:
            return _fail("%s." % e, 2)
        except ValueError as e:
            return _fail("the expected outcome %s is not valid: %s." % (args.check, str(e).rstrip(".")), 2)
    try:
        scenario = parse(text)
    except ScenarioError as e:
        if expected is not None and expected.get("error"):
            problems = expect_mod.check_error(expected, e)
            if problems:
                return _fail("%s:%d: %s (not the expected error: %s)." % (args.file, e.line, e.message, "; ".join(problems)), 1)
            return 0
        return _fail("%s:%d: %s." % (args.file, e.line, e.message), 2)
    if expected is not None and expected.get("error"):
        return _fail("%s ran, but an error was expected." % args.file, 1)

    try:
        out = open(args.out, "w") if args.out else sys.stdout
    except OSError as e:
        return _fail("cannot write %s: %s." % (args.out, e.strerror), 2)
    events = []

    def emit(event):
        events.append(event)
        out.write(json.dumps(event, separators=(", ", ": ")) + "\n")

    stats = {}
    try:
        try:
            run(scenario, seed=args.seed, interpreter=args.interpreter, emit=emit, trace=args.trace, heap=args.heap, stats=stats, paired=not args.unpaired, log_out=args.log_out)
        finally:
            if out is not sys.stdout:
                out.close()
            else:
                out.flush()
    except FirmwareCrashed as e:
        msg = "the firmware crashed (%s) at t=%s." % (e.reason, events[-1]["t"] if events else 0)
        if e.output:
            msg += "\n" + "\n".join("  | " + x for x in e.output.splitlines())
        return _fail(msg, 3)
    except FileNotFoundError as e:
        return _fail(str(e) + ".", 2)
    except OSError as e:  # the log could not be saved (--log-out): the run's events are out already
        return _fail("cannot write %s: %s." % (e.filename or args.log_out, e.strerror or e), 1)
    except KeyboardInterrupt:
        return _fail("interrupted.", 130)
    if args.stats:
        sys.stderr.write(
            "scenario: %.1f h simulated in %.2f s on %s: %.2f sim-days per wall second, %d steps (%.0f steps/s), %d firmware polls\n"
            % (stats["sim_s"] / 3600, stats["wall_s"], args.interpreter, stats["sim_days_per_wall_s"], stats["steps"], stats["steps_per_s"], stats["wakes"])
        )
    if expected is not None:
        problems = expect_mod.check(expected, events, scenario.rx)
        if problems:
            for p in problems[:20]:
                sys.stderr.write("scenario: not as expected: %s\n" % p)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
