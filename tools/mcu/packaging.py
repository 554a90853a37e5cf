"""MicroPython packaging of a board's firmware, derived from the deploy plan (tools/deploy/plan.py).

- `frozen(board)`: [(source file, name in the image)] that a frozen build holds: the modules of
  the board's import closure and the main.py and boot.py that tools.deploy writes. It is what
  `tools/mcu/board_manifest.py` (included by each `boards/<name>/manifest.py`) freezes, so a frozen
  firmware holds exactly what tools.deploy puts on that board (the board-name marker and the
  provisioned key and prescription are data, not code).
- `mip_package(board, out_dir)`: compiles the board's files into `out_dir` (as tools.deploy
  does) and writes `out_dir/package.json` for `mpremote mip install --target "" out_dir/package.json` (files land at
  the root, "/firmware/...", where tools.deploy puts them),
  which then puts the same tree on the board as tools.deploy.
"""

import json
import os

from tools.deploy import plan as pl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENTRY_DIR = os.path.join("build", "frozen")  # main.py and boot.py as tools.deploy writes them


def load_board(name):
    from boards import registry

    return registry.load(name)


def entry_files(board, repo=REPO):
    """Write the board's main.py and boot.py (tools.deploy's text) under build/frozen/<board>/
    and return that folder. Rewritten only when the text changed (keeps make's timestamps)."""
    folder = os.path.join(repo, ENTRY_DIR, board.NAME)
    os.makedirs(folder, exist_ok=True)
    for leaf, text in (("main.py", pl.main_source(board)), ("boot.py", pl.boot_source(board))):
        path = os.path.join(folder, leaf)
        try:
            with open(path) as f:
                same = f.read() == text
        except OSError:
            same = False
        if not same:
            with open(path, "w") as f:
                f.write(text)
    return folder


def frozen(board, repo=REPO):
    """[(absolute source path, path inside the image)] of a frozen build for `board`."""
    if isinstance(board, str):
        board = load_board(board)
    out = []
    for name in pl.closure(repo, pl.roots_for(board, None)):
        src = pl.source_of(repo, name)
        out.append((src, os.path.relpath(src, repo).replace(os.sep, "/")))
    entries = entry_files(board, repo)
    for leaf in ("main.py", "boot.py"):
        out.append((os.path.join(entries, leaf), leaf))
    return out


def deploy_tree(plan):
    """{remote path: sha256} of the code in a deploy plan (what a frozen build must match: the
    .mpy modules by their source name, main.py and boot.py)."""
    return {i.remote: i.sha256 for i in plan.items if i.kind in ("mpy", "entry")}


def mip_package(board, out_dir, mpy_cross=None, repo=REPO, version="0.1.0"):
    """Build the board's deploy tree into `out_dir` and write `out_dir/package.json` (urls
    relative to it, so mpremote installs from the folder). Returns (package.json path, plan)."""
    if isinstance(board, str):
        board = load_board(board)
    if mpy_cross is None:
        from tools.deploy.__main__ import _tool

        mpy_cross = _tool(None, "mpy-cross")
    plan = pl.build(board, repo, mpy_cross, out_dir)
    urls = []
    for item in plan.items:
        rel = os.path.relpath(item.local, out_dir).replace(os.sep, "/")
        if rel.startswith("../"):  # provisioned data from elsewhere: not part of the package
            continue
        urls.append([item.remote, rel])
    package = {"urls": urls, "deps": [], "version": version}
    path = os.path.join(out_dir, "package.json")
    with open(path, "w") as f:
        json.dump(package, f, indent=1)
        f.write("\n")
    return path, plan
