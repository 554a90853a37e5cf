"""`python -m tools.mcu build|run|repl|package`: the firmware on an emulated Cortex-M (docs/boards.md).

  build   [--target T] [--variant frozen|mpy] [--heap 48K]   build (or find cached) firmware.elf
  run     [--target T] [--variant V] [--heap H] [-c CODE]      the lockstep board on the emulated
          core: step inputs on stdin, step reports on stdout (what tools.scenario drives;
          python -m tools.scenario FILE --interpreter qemu runs a scenario on it)
  repl    [--target T] [--variant V] [--heap H]                MicroPython's REPL on the terminal
          (Ctrl-A x leaves qemu)
  package --board NAME [--out DIR]                             the board's deploy tree and a mip
          package.json: mpremote mip install --target "" DIR/package.json
Targets: microbit (Cortex-M0, the default), mps2_an385 (Cortex-M3). Exit 2 for bad arguments;
exit 1 with one sentence when the toolchain or the MicroPython source is missing or a step fails.
"""

import os
import subprocess
import sys

from tools import cli_args
from tools.mcu import DEFAULT_TARGET, MCUError, TARGETS, VARIANTS

DEFAULT_CODE = "from firmware import main; main.run('lockstep')"


def _common(p):
    p.add_argument("--target", choices=sorted(TARGETS), default=DEFAULT_TARGET, help="emulated machine (default %s)" % DEFAULT_TARGET)
    p.add_argument("--variant", choices=VARIANTS, default="frozen", help="frozen firmware (default), or only glue frozen and the .mpy files copied to littlefs at boot")
    p.add_argument("--heap", type=cli_args.heap_size, default=None, help="MicroPython heap, e.g. 48K (default: the target's, 190K on the microbit)")


def parser():
    ap = cli_args.Parser(module="tools.mcu", description="The handheld firmware on MicroPython's qemu port (an emulated Cortex-M).")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=cli_args.labelled("mcu"))
    p = sub.add_parser("build", help="build or find the cached firmware.elf; prints its path")
    _common(p)
    p.add_argument("--jobs", type=cli_args.whole(1, 64, what="a number of jobs from 1 to 64"), default=2, help="make -j (default 2)")
    p = sub.add_parser("run", help="run the lockstep board on the emulated core (stdin/stdout protocol)")
    _common(p)
    p.add_argument("-c", dest="code", default=DEFAULT_CODE, help="entry code (default: %s)" % DEFAULT_CODE)
    p = sub.add_parser("repl", help="MicroPython's REPL of the emulated board on this terminal")
    _common(p)
    p = sub.add_parser("package", help="a board's deploy tree with a mip package.json")
    p.add_argument("--board", required=True, help="board name (a folder in boards/)")
    p.add_argument("--out", default=None, help="folder (default build/mip/<board>)")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        if args.cmd == "build":
            from tools.mcu import build

            elf = build.firmware(args.target, args.variant, args.heap, jobs=args.jobs)
            print(elf)
            return 0
        if args.cmd == "run":
            from tools.mcu import qemu

            return qemu.run(args.target, args.variant, args.heap, args.code)
        if args.cmd == "repl":
            from tools.mcu import build, qemu

            elf = build.firmware(args.target, args.variant, args.heap)
            argv = qemu.qemu_argv(args.target, elf)
            argv[argv.index("stdio")] = "mon:stdio"
            return subprocess.call(argv, preexec_fn=qemu._die_with_parent)
        if args.cmd == "package":
            from tools.mcu import REPO, packaging

            out = args.out or os.path.join(REPO, "build", "mip", args.board)
            path, plan = packaging.mip_package(args.board, out)
            print("%s: %d files for board %s; install with: mpremote mip install --target \"\" %s" % (path, len(plan.items), args.board, path))
            return 0
    except MCUError as e:
        sys.stderr.write("mcu: %s.\n" % str(e).rstrip("."))
        return cli_args.EXIT_FAILED
    except Exception as e:  # a deploy or board error from `package`: one sentence too
        from boards.registry import BoardError
        from tools.deploy import DeployError

        if not isinstance(e, (DeployError, BoardError)):
            raise
        sys.stderr.write("mcu: %s.\n" % str(e).rstrip("."))
        return cli_args.EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    return cli_args.EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
