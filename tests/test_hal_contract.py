"""Every HAL implementation against `hal/contract.py`: each class in hal/ (fakes, host, lockstep,
machine ones) and each class a board's HAL table names has every method of the contract of its
role, taking the contract's parameters (same names, same order, optional where the contract
makes them optional, nothing more required). Read from the source (the machine classes import
`machine`, which CPython has not). And the storage error contract: only a missing file is
empty, any other failure raises, a short write is completed or raises."""

import ast
import glob
import os

import pytest

from boards import registry
from hal import contract
from hal import storage as hal_storage
from hal.fakes import Faulty, MemStorage
from hal.storage import FileStorage
from tests.mp import MICROPYTHON, REPO, run_mp



def contract_of(role):
    """The contract class of a board's HAL role: the role's name capitalised ("storage" ->
    Storage); a role without one is an error (the contract must state every role)."""
    name = role[:1].upper() + role[1:]
    assert name in _classes("hal.contract"), "hal/contract.py has no class %s for the role %r" % (name, role)
    return name


# Classes in hal/ that no board table names, by the contract they implement.
IMPLEMENTATIONS = {
    ("hal.fakes", "FakeClock"): "Clock",
    ("hal.fakes", "ScriptedButton"): "Button",
    ("hal.fakes", "FakeIndicator"): "Indicator",
    ("hal.fakes", "FakeBuzzer"): "Buzzer",
    ("hal.fakes", "FakeDisplay"): "Display",
    ("hal.fakes", "FakeWatchdog"): "Watchdog",
    ("hal.fakes", "MemStorage"): "Storage",
    ("hal.fakes", "_End"): "Serial",  # each end of FakeSerialPair
    ("hal.machine_indicator", "LedIndicator"): "Indicator",
    ("hal.machine_indicator", "NeoPixelIndicator"): "Indicator",
}

# Classes in hal/ that are not a HAL object of any role, and why.
NOT_HAL = {
    ("hal.contract", "*"): "the contract itself",
    ("hal.contract", "Oversized"): "an exception",
    ("hal.fakes", "Faulty"): "a wrapper that forwards any method of the object it wraps",
    ("hal.fakes", "PowerLoss"): "an exception",
    ("hal.fakes", "_Inbox"): "a byte buffer of FakeSerialPair",
    ("hal.fakes", "FakeSerialPair"): "holds two Serial ends, `a` and `b`",
    ("hal.linkfaults", "Rng"): "a random generator",
    ("hal.linkfaults", "LinkFaults"): "the link-fault model a serial double applies",
    ("hal.lockstep", "Hub"): "the lockstep board's line to the host",
    ("hal.machine_display", "SSD1306"): "the display driver under machine_display.Display",
    ("hal.machine_indicator", "_Phase"): "the blink timer of the indicators",
}


def _module_path(module):
    return os.path.join(REPO, *module.split(".")) + ".py"


def _classes(module):
    """{class name: ast.ClassDef} of a module under REPO."""
    with open(_module_path(module)) as f:
        tree = ast.parse(f.read())
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _methods(module, name):
    """{method name: ast.arguments} of a class, its bases in the same module or imported from
    hal/ included (a subclass's own definition wins)."""
    cls = _classes(module)[name]
    found = {}
    for base in cls.bases:
        if not isinstance(base, ast.Name):
            continue
        base_module = module if base.id in _classes(module) else _imported_from(module, base.id)
        if base_module is not None and base_module.startswith("hal."):
            found.update(_methods(base_module, base.id))
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node.args
            if node.name == "__init__":  # `self.ticks_ms = time.ticks_ms`: the port's own function
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Assign) and isinstance(sub.value, ast.Attribute):
                        for t in sub.targets:
                            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                                found.setdefault(t.attr, BOUND)
    return found


BOUND = "bound"  # a method bound in __init__ to a function of the port (its parameters are the port's)


def _imported_from(module, name):
    with open(_module_path(module)) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
            return node.module
    return None


def _params(args):
    """([positional parameter names after self], number of them that are required)."""
    names = [a.arg for a in args.posonlyargs + args.args][1:]
    return names, len(names) - len(args.defaults)


def implementations():
    """[(module, class, contract class name, where it was found)] for every HAL object."""
    found = {}
    for board_name in registry.names():
        board = registry.load(board_name)
        for role, spec in board.HAL.items():
            found[(spec[0], spec[1])] = (contract_of(role), "board %s (%s)" % (board_name, role))
    for key, contract_name in IMPLEMENTATIONS.items():
        found.setdefault(key, (contract_name, "hal/ (%s)" % key[1]))
    return [(m, c, role, where) for (m, c), (role, where) in sorted(found.items())]


def test_every_class_in_hal_is_an_implementation_or_named_as_none():
    known = set(IMPLEMENTATIONS) | {(m, c) for m, c, _, _ in implementations()}
    unknown = []
    for path in sorted(glob.glob(os.path.join(REPO, "hal", "*.py"))):
        module = "hal." + os.path.basename(path)[:-3]
        for name in _classes(module):
            if (module, name) not in known and (module, name) not in NOT_HAL and (module, "*") not in NOT_HAL:
                unknown.append("%s.%s" % (module, name))
    assert unknown == [], "add these to IMPLEMENTATIONS (with their contract) or NOT_HAL (with why)"


def test_the_check_sees_every_board_role_and_the_fakes():
    roles = {role for _, _, role, _ in implementations()}
    assert {"Clock", "Button", "Indicator", "Buzzer", "Display", "Serial", "Storage", "Watchdog"} <= roles
    assert len(implementations()) >= 30  # fakes, host, lockstep and machine classes


@pytest.mark.parametrize("module,name,contract_name,where", implementations())
def test_implementation_has_the_contracts_methods_and_parameters(module, name, contract_name, where):
    want = _methods("hal.contract", contract_name)
    have = _methods(module, name)
    for method, args in want.items():
        assert method in have, "%s.%s (%s) has no %s()" % (module, name, where, method)
        if have[method] is BOUND:
            continue
        names, required = _params(args)
        got, got_required = _params(have[method])
        assert got[: len(names)] == names, "%s.%s.%s takes %s, the contract %s" % (module, name, method, got, names)
        assert got_required <= required, "%s.%s.%s requires more than the contract's %s" % (module, name, method, names)
        optional = names[required:]
        assert all(got.index(p) >= got_required for p in optional), "%s.%s.%s: %s must be optional" % (
            module,
            name,
            method,
            optional,
        )


def test_the_parameter_check_catches_a_mismatch():
    """The check above can fail: a storage whose read lacks the limit, or makes it required."""
    src = "class S:\n    def read(self, name):\n        pass\n    def size(self, name, limit):\n        pass\n"
    cls = ast.parse(src).body[0]
    read, size = [n.args for n in cls.body]
    want_read = _methods("hal.contract", "Storage")["read"]
    assert _params(read)[0] != _params(want_read)[0]
    assert _params(size)[1] > _params(_methods("hal.contract", "Storage")["size"])[1]


# ---- the storage error contract ----------------------------------------------------------------
def test_only_a_missing_file_reads_as_empty(tmp_path):
    st = FileStorage(str(tmp_path))
    assert st.read("events.0", 4096) is None and st.size("events.0") == 0
    st.remove("events.0")  # removing a missing file is no error
    (tmp_path / "events.1").mkdir()  # there, but it cannot be read
    with pytest.raises(OSError):
        st.read("events.1", 4096)
    with pytest.raises(OSError):
        st.append("events.1", b"x")


class ShortWriter:
    """A file that takes at most `chunk` bytes per write; `stall_after` writes then take 0."""

    def __init__(self, chunk, stall_after=None):
        self.chunk = chunk
        self.stall_after = stall_after
        self.data = bytearray()
        self.calls = 0

    def write(self, buf):
        self.calls += 1
        if self.stall_after is not None and self.calls > self.stall_after:
            return 0
        part = bytes(buf[: self.chunk])
        self.data.extend(part)
        return len(part)


def test_a_short_write_is_continued_and_a_stalled_one_raises():
    f = ShortWriter(7)
    hal_storage.write_all(f, bytes(range(26)))
    assert bytes(f.data) == bytes(range(26)) and f.calls == 4
    stalled = ShortWriter(7, stall_after=2)
    with pytest.raises(OSError):
        hal_storage.write_all(stalled, bytes(range(26)))
    assert len(stalled.data) == 14  # the prefix a torn record leaves; the log drops it at open


def test_a_failing_read_reaches_the_caller_through_every_layer():
    """MemStorage never fails by itself; a Faulty one raises, and the event log does not turn
    that into an empty log."""
    from firmware import eventlog as ev

    st = Faulty(MemStorage())
    st.fail("read", OSError(5), times=-1)
    with pytest.raises(OSError):
        ev.EventLog(st).open()


@pytest.mark.micropython
@pytest.mark.skipif(MICROPYTHON is None, reason="MicroPython unix port not installed")
def test_the_storage_error_contract_under_micropython(tmp_path):
    (tmp_path / "events.1").mkdir()
    code = (
        "from hal.storage import FileStorage\n"
        "st = FileStorage(%r)\n"
        "print(st.read('events.0', 4096), st.size('events.0'))\n"
        "try:\n"
        "    st.read('events.1', 4096)\n"
        "    print('read')\n"
        "except OSError:\n"
        "    print('raised')\n"
        "st.append('a', b'abc')\n"
        "print(st.read('a', 8))\n"
    ) % str(tmp_path)
    result = run_mp(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "0", "raised", "b'abc'"]

