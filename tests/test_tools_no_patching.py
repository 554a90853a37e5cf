"""Tools stand on their own (issue 13): nothing in tools/ patches code at run time. Read from the
source: no tool puts code in place of a method or function of firmware/ or hal/
(`storage.append = self.append`, `setattr(gesture, "update", ...)`), nor assigns to an attribute
of an imported module of the project (`eventlog.RECORD_SIZE = ...`, `driver.command = ...`). What a tool needs
to observe or change comes through a public seam or parameter (`MemStorage(on_append=...)`,
`Gesture.on_sample`, `Handheld(root=..., code=...)`)."""

import ast
import os

from tests.mp import REPO


def _py_files(folder):
    for d, _, fs in os.walk(os.path.join(REPO, folder)):
        for f in sorted(fs):
            if f.endswith(".py"):
                yield os.path.join(d, f)


def _parse(path):
    with open(path) as f:
        return ast.parse(f.read(), filename=path)


def device_callables():
    """Names of every method and function defined in firmware/ and hal/."""
    names = set()
    for folder in ("firmware", "hal"):
        for path in _py_files(folder):
            for node in ast.walk(_parse(path)):
                if isinstance(node, ast.FunctionDef) and not node.name.startswith("__"):
                    names.add(node.name)
    return names


def _device_modules(tree):
    """Local names bound to modules of this project (firmware, hal, tools) by a file's imports."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in PACKAGES:
                    bound.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
            for a in node.names:
                if _is_module(node.module + "." + a.name):
                    bound.add(a.asname or a.name)
    return bound


PACKAGES = ("firmware", "hal", "tools")


def _is_module(dotted):
    base = os.path.join(REPO, *dotted.split("."))
    return os.path.isfile(base + ".py") or os.path.isfile(os.path.join(base, "__init__.py"))


def _function_like(value, local_defs, callables):
    """True for a value that is code: a lambda, a function of this file, a bound method."""
    if isinstance(value, ast.Lambda):
        return True
    if isinstance(value, ast.Name):
        return value.id in local_defs
    if isinstance(value, ast.Attribute):
        return value.attr in local_defs or value.attr in callables
    return False


def patches(tree, callables):
    """(line, what) for each run-time patch of firmware/hal code in one parsed file: an
    attribute of an imported firmware/hal module assigned, or code put in place of a method or
    function the firmware or the HAL defines (by assignment or setattr)."""
    modules = _device_modules(tree)
    local_defs = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Lambda)) and hasattr(n, "name")}
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            if not isinstance(t, ast.Attribute):
                continue
            owner = t.value
            if isinstance(owner, ast.Name) and owner.id in modules:
                found.append((node.lineno, "assigns %s.%s (a module of the project)" % (owner.id, t.attr)))
            elif (
                t.attr in callables
                and not (isinstance(owner, ast.Name) and owner.id == "self")
                and _function_like(node.value, local_defs, callables)
            ):
                found.append((node.lineno, "puts code in place of .%s (a firmware/hal method)" % t.attr))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" and len(node.args) == 3:
            name, value = node.args[1], node.args[2]
            named = isinstance(name, ast.Constant) and name.value in callables
            if named or _function_like(value, local_defs, callables):
                found.append((node.lineno, "setattr(..., %s, %s)" % (ast.unparse(name), ast.unparse(value))))
    return found


def test_no_tool_patches_firmware_or_hal_at_run_time():
    callables = device_callables()
    assert {"append", "update", "read", "poll", "bolus_tag"} <= callables
    found = []
    for path in _py_files("tools"):
        rel = os.path.relpath(path, REPO)
        for line, what in patches(_parse(path), callables):
            found.append("%s:%d %s" % (rel, line, what))
    assert found == []


def test_the_check_finds_the_patches_the_tools_used_to_make():
    """The soak's observers (lines 6-8) and tools/bench/heap.py's swap of the scenario driver's
    entry and command (lines 18-19)."""
    callables = device_callables()
    old = (
        "from firmware import eventlog as ev\n"
        "class World:\n"
        "    def __init__(self, sys):\n"
        "        self.storage = sys.storage\n"
        "        self._append = self.storage.append\n"
        "        self.storage.append = self._observed_append\n"
        "        setattr(sys.app.gesture, 'update', self._observed)\n"
        "        ev.RECORD_SIZE = 13\n"
        "        self.update = None\n"
        "    def _observed_append(self, name, data):\n"
        "        self._append(name, data)\n"
        "    def _observed(self, now, raw):\n"
        "        return None\n"
        "from tools.scenario import driver\n"
        "def entry(code):\n"
        "    def command(interpreter, heap):\n"
        "        return [], {}\n"
        "    driver._CODE = code\n"
        "    driver.command = command\n"
        "    return driver.REPO\n"
    )
    lines = sorted(line for line, _ in patches(ast.parse(old), callables))
    assert lines == [6, 7, 8, 18, 19]  # not the reads of lines 5 and 20, nor a plain value given to self.update
