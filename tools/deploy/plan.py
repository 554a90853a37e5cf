"""Which files a board gets, compiled: the import closure of its entry point, as .mpy.

`build(board, repo, mpy_cross, out_dir, main_file=None, key=None, rx=None) -> Plan`. The roots
are the entry (firmware.main, or the imports of a `--main FILE`), the board's own module and
every HAL module its `HAL` table names; every firmware/hal/boards module they import, found by
reading the source (imports inside `try: ... except ImportError` are optional), is compiled
with mpy-cross. main.py and boot.py stay source (MicroPython only runs those as .py).
"""

import ast
import hashlib
import os
import re
import shutil
import subprocess

from tools.deploy import DeployError

PACKAGES = ("firmware", "hal", "boards")  # the only trees deploy manages (and cleans) on a board
NAME_FILE = "board_name.txt"


class Item:
    """One file for the board: where it is here, where it goes there, its hash."""

    def __init__(self, local, remote, kind):
        self.local = local
        self.remote = remote  # relative to the board's root: the cwd after a reset is "/"
        self.kind = kind  # "mpy", "entry", "marker", "data"
        with open(local, "rb") as f:
            data = f.read()
        self.size = len(data)
        self.sha256 = hashlib.sha256(data).hexdigest()


class Plan:
    def __init__(self, board, items, mpy_cross_version, mpy_version):
        self.board = board
        self.items = items
        self.mpy_cross_version = mpy_cross_version
        self.mpy_version = mpy_version  # .mpy format major version in the compiled files

    def dirs(self):
        found = set()
        for item in self.items:
            parts = item.remote.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                found.add("/".join(parts[:i]))
        return sorted(found, key=lambda d: (d.count("/"), d))

    def size(self, kind=None):
        return sum(i.size for i in self.items if kind is None or i.kind == kind)


# ---- mpy-cross ------------------------------------------------------------------------------
def mpy_cross_version(exe):
    """(version string like '1.29.0', full banner) of an mpy-cross binary."""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        raise DeployError("cannot run mpy-cross at %s: %s" % (exe, e.strerror))
    banner = (out.stdout or out.stderr).strip()
    m = re.search(r"MicroPython v(\d+\.\d+(?:\.\d+)?)", banner)
    if not m:
        raise DeployError("cannot tell the version of mpy-cross at %s (it said %r)" % (exe, banner[:80]))
    return m.group(1), banner


def check_mpy_cross(board, version):
    if not _same_release(version, board.MICROPYTHON):
        raise DeployError(
            "mpy-cross is MicroPython %s but board %s needs %s: install mpy-cross==%s.* (requirements.txt)"
            % (version, board.NAME, board.MICROPYTHON, board.MICROPYTHON)
        )


def _same_release(version, required):
    return version == required or version.startswith(required + ".")


def compile_mpy(exe, src, out, source_name):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    res = subprocess.run([exe, "-o", out, "-s", source_name, src], capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        msg = (res.stderr or res.stdout).strip().splitlines()
        raise DeployError("mpy-cross could not compile %s: %s" % (source_name, msg[-1] if msg else "no message"))


# ---- the import closure ---------------------------------------------------------------------
def module_file(repo, name):
    """Path of module `name` (dotted) inside the repo, or None (see `source_of`)."""
    base = os.path.join(repo, *name.split("."))
    if os.path.isfile(base + ".py"):
        return base + ".py"
    init = os.path.join(base, "__init__.py")
    if os.path.isfile(init):
        return init
    return None


def source_of(repo, name):
    """Path of a module already known to exist."""
    path = module_file(repo, name)
    if path is None:
        raise DeployError("%s.py disappeared while deploying" % name.replace(".", "/"))
    return path


def _optional(handlers):
    for h in handlers:
        if h.type is None:
            return True
        names = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
        for n in names:
            if isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError", "Exception"):
                return True
    return False


def imports_of(path, module):
    """[(dotted name, optional)] imported by the file at `path` (module `module`)."""
    with open(path, "rb") as f:
        try:
            tree = ast.parse(f.read(), filename=path)
        except SyntaxError as e:
            raise DeployError("%s does not parse: %s (line %s)" % (path, e.msg, e.lineno))
    is_pkg = path.endswith("__init__.py")
    package = module if is_pkg else module.rpartition(".")[0]
    found = []

    def visit(node, optional):
        if isinstance(node, ast.Try):
            opt = optional or _optional(node.handlers)
            for child in node.body:
                visit(child, opt)
            for part in (node.handlers, node.orelse, node.finalbody):
                for child in part:
                    visit(child, optional)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, optional, None))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join([p for p in parts if p] + ([base] if base else []))
            for alias in node.names:
                found.append((base, optional, alias.name))
        for child in ast.iter_child_nodes(node):
            visit(child, optional)

    for stmt in tree.body:
        visit(stmt, False)
    return found


def top_level_names(path):
    """Names a module defines at its top level (assignments, defs, classes, imports)."""
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), filename=path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
    return names


def _ours(name):
    return name.split(".")[0] in PACKAGES


def closure(repo, roots, entry_path=None):
    """Ordered module names needed by `roots` (and by the file `entry_path`), parents included."""
    needed = []
    seen = set()
    queue = []

    def want(name, who, optional):
        if not name or not _ours(name):
            return
        if module_file(repo, name) is None:
            if optional:
                return
            raise DeployError("%s imports %s, but there is no %s.py" % (who, name, name.replace(".", "/")))
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            sub = ".".join(parts[:i])
            if sub not in seen:
                if module_file(repo, sub) is None:
                    raise DeployError("%s is not a package: %s/__init__.py is missing" % (sub, sub.replace(".", "/")))
                seen.add(sub)
                needed.append(sub)
                queue.append(sub)

    def resolve(source, who):
        for base, optional, attr in source:
            if attr is not None and attr != "*" and _ours(base) and module_file(repo, base + "." + attr):
                want(base + "." + attr, who, optional)
                continue
            want(base, who, optional)
            path = module_file(repo, base) if _ours(base) else None
            if attr not in (None, "*") and path and path.endswith("__init__.py") and not optional:
                if attr not in top_level_names(path):
                    raise DeployError(
                        "%s imports %s from %s, but there is no %s/%s.py" % (who, attr, base, base.replace(".", "/"), attr)
                    )

    for root, who in roots:
        want(root, who, False)
    if entry_path is not None:
        resolve(imports_of(entry_path, "__main__"), os.path.basename(entry_path))
    while queue:
        name = queue.pop(0)
        path = source_of(repo, name)
        resolve(imports_of(path, name), os.path.relpath(path, repo))
    return needed


# ---- entry files ------------------------------------------------------------------------------
def _machine_watchdog(board):
    """True when the board's watchdog is the hardware one (the REPL must then keep it fed)."""
    return board.HAL.get("watchdog", ("",))[0] == "hal.machine_watchdog"


def main_source(board):
    lines = [
        "# Written by tools/deploy for board %s: runs the handheld firmware after every reset." % board.NAME,
        "from firmware import main",
        "",
    ]
    if _machine_watchdog(board):
        lines += [
            "try:",
            "    main.run(%r)" % board.NAME,
            "except KeyboardInterrupt:",
            "    # Stopped from the REPL (a developer, mpremote): the watchdog must not reset the board.",
            "    from hal import machine_watchdog",
            "",
            "    machine_watchdog.keep_fed(%d, %d)" % _watchdog_args(board),
            "    raise",
        ]
    else:
        lines.append("main.run(%r)" % board.NAME)
    return "\n".join(lines) + "\n"


def boot_source(board):
    lines = ["# Written by tools/deploy for board %s: runs first after every reset." % board.NAME]
    if _machine_watchdog(board):
        lines += [
            "# Arms the watchdog and feeds it from a timer until the firmware's main loop takes over",
            "# (hal/machine_watchdog.py), so that the REPL, mpremote and tools.deploy keep working.",
            "try:",
            "    from hal import machine_watchdog",
            "",
            "    machine_watchdog.keep_fed(%d, %d)" % _watchdog_args(board),
            "except Exception as e:",
            "    print('boot.py: watchdog:', e)",
        ]
    return "\n".join(lines) + "\n"


def _watchdog_args(board):
    kwargs = board.HAL["watchdog"][2]
    return kwargs.get("timeout_ms", 5000), kwargs.get("timer_id", -1)


def _storage_dir(board):
    return board.STORAGE_ROOT.strip("/") or "."


# ---- the plan ---------------------------------------------------------------------------------
_BUILD_MARK = ".deploy-build"


def _fresh_build_dir(out_dir, ours=False):
    """Empty `out_dir` for a new build; refuses to wipe a folder deploy did not make
    (`ours`: the default folder under build/deploy, always deploy's)."""
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not ours and not os.path.exists(os.path.join(out_dir, _BUILD_MARK)):
            raise DeployError("%s is not empty and not a deploy build folder: choose another --build" % out_dir)
        shutil.rmtree(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, _BUILD_MARK), "w") as f:
        f.write("made by tools.deploy; wiped at every build\n")


def roots_for(board, main_file):
    roots = [("boards.%s.board" % board.NAME, "board %s" % board.NAME)]
    for role in sorted(board.HAL):
        roots.append((board.HAL[role][0], "board %s (HAL %s)" % (board.NAME, role)))
    if main_file is None:
        roots.insert(0, ("firmware.main", "main.py"))
    return roots


def build(board, repo, mpy_cross, out_dir, main_file=None, key=None, rx=None, ours=False):
    version, _banner = mpy_cross_version(mpy_cross)
    check_mpy_cross(board, version)
    if main_file is None and module_file(repo, "firmware.main") is None:
        raise DeployError("firmware/main.py does not exist yet: pass --main FILE to deploy another entry point")
    if main_file is not None and not os.path.isfile(main_file):
        raise DeployError("--main %s: no such file" % main_file)
    modules = closure(repo, roots_for(board, main_file), main_file)

    _fresh_build_dir(out_dir, ours)
    items = []
    for name in modules:
        src = source_of(repo, name)
        rel = os.path.relpath(src, repo).replace(os.sep, "/")
        remote = rel[:-3] + ".mpy"
        out = os.path.join(out_dir, *remote.split("/"))
        compile_mpy(mpy_cross, src, out, rel)
        items.append(Item(out, remote, "mpy"))

    def write(name, text):
        path = os.path.join(out_dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    if main_file is None:
        items.append(Item(write("main.py", main_source(board)), "main.py", "entry"))
    else:
        shutil.copyfile(main_file, os.path.join(out_dir, "main.py"))
        items.append(Item(os.path.join(out_dir, "main.py"), "main.py", "entry"))
    items.append(Item(write("boot.py", boot_source(board)), "boot.py", "entry"))
    items.append(Item(write(NAME_FILE, board.NAME + "\n"), NAME_FILE, "marker"))
    storage = _storage_dir(board)
    for option, src, leaf in (("--key", key, "key.bin"), ("--rx", rx, "rx.bin")):
        if src is None:
            continue
        if not os.path.isfile(src):
            raise DeployError("%s %s: no such file" % (option, src))
        items.append(Item(src, (storage + "/" + leaf).lstrip("./"), "data"))

    mpy_version = None
    for item in items:
        if item.kind == "mpy":
            with open(item.local, "rb") as f:
                head = f.read(4)
            mpy_version = head[1] if head[:1] == b"M" else None
            break
    return Plan(board, items, version, mpy_version)
