"""Argument checks shared by the host tools: bad input is refused with one sentence.

`whole(lo, hi)` and `number(lo, hi)` make argparse `type=` functions: ASCII only (Python's
int() and float() also take fullwidth or Arabic-Indic digits, which the firmware's parsers
refuse), finite (no nan or inf), within bounds. `parse_whole`/`parse_number` are the same
checks for other parsers (they raise ValueError with the sentence). `heap_size` checks a
MicroPython heap size such as 192K. `Parser` is an ArgumentParser whose usage errors are one
line and exit 2, and whose usage line names the command as it was typed (`pp-scenario` from the
console script, `python -m tools.scenario` otherwise: `SCRIPTS`). `output_path` refuses a folder or a missing folder where a file is written,
`read_limited` reads a file only up to a size and `read_text` also requires UTF-8 text.
"""

import argparse
import math
import os
import re
import sys

MAX_TEXT_BYTES = 1 << 20  # a scenario, a prescription, an expected outcome: far smaller
_MAX_NUMBER_CHARS = 40


class InputError(Exception):
    """A file or path that cannot be used: `str(e)` is one sentence without its full stop."""


def _checked_text(text, what):
    if not isinstance(text, str) or not text.strip() or len(text) > _MAX_NUMBER_CHARS or not text.isascii():
        raise ValueError("%s is not %s" % (_show(text), what))
    return text.strip()


def _show(text):
    text = str(text)
    return repr(text) if len(text) <= _MAX_NUMBER_CHARS else repr(text[:_MAX_NUMBER_CHARS] + "...")


def _bounds(x, text, lo, hi, lo_open):
    if lo is not None and (x <= lo if lo_open else x < lo):
        raise ValueError("%s must be %s %s" % (text, "more than" if lo_open else "at least", _fmt(lo)))
    if hi is not None and x > hi:
        raise ValueError("%s must be at most %s" % (text, _fmt(hi)))
    return x


def _fmt(x):
    return "%d" % x if x == int(x) else "%g" % x


def parse_whole(text, lo=None, hi=None, base=10):
    """An int from ASCII digits (base 0: also 0x.. as Python writes it) within [lo, hi]."""
    s = _checked_text(text, "a whole number")
    try:
        x = int(s, base)
    except ValueError:
        raise ValueError("%s is not a whole number" % _show(text))
    return _bounds(x, s, lo, hi, False)


def parse_number(text, lo=None, hi=None, lo_open=False):
    """A finite float from ASCII text within [lo, hi] (or (lo, hi] with `lo_open`)."""
    s = _checked_text(text, "a number")
    try:
        x = float(s)
    except ValueError:
        raise ValueError("%s is not a number" % _show(text))
    if not math.isfinite(x):
        raise ValueError("%s is not a finite number" % s)
    return _bounds(x, s, lo, hi, lo_open)


def _argtype(fn, name, what, *a, **kw):
    def check(text):
        try:
            return fn(text, *a, **kw)
        except ValueError as e:
            raise argparse.ArgumentTypeError("%s is not %s" % (_show(text), what) if what else str(e))

    check.__name__ = name  # argparse names the type in some messages
    return check


def whole(lo=None, hi=None, base=10, what=None):
    """argparse type: a whole number in [lo, hi]; `what` ("a port number from 1 to 65535")
    makes every refusal "'x' is not <what>"."""
    return _argtype(parse_whole, "whole number", what, lo, hi, base)


def number(lo=None, hi=None, lo_open=False, what=None):
    """argparse type: a finite number in [lo, hi] ((lo, hi] with lo_open); `what` as for whole."""
    return _argtype(parse_number, "number", what, lo, hi, lo_open)


HEAP_MIN = 16 * 1024
HEAP_MAX = 1 << 30
_HEAP = re.compile(r"^([0-9]{1,10})([KkMm]?)$")


def heap_size(text):
    """argparse type: a MicroPython heap size (`-X heapsize=`), e.g. 192K or 2M."""
    m = _HEAP.match(text) if isinstance(text, str) and text.isascii() else None
    if not m:
        raise argparse.ArgumentTypeError("%s is not a heap size; write a number of bytes with K or M, e.g. 192K" % _show(text))
    size = int(m.group(1)) * {"": 1, "k": 1024, "m": 1 << 20}[m.group(2).lower()]
    if not HEAP_MIN <= size <= HEAP_MAX:
        raise argparse.ArgumentTypeError("%s is not a heap size between 16K and 1024M" % text)
    return text


# The console scripts of pyproject.toml's [project.scripts], by the module each runs (a test
# checks the two agree).
SCRIPTS = {
    "tools.simulator": "pp-sim",
    "tools.pump_emulator": "pump-emulator",
    "tools.scenario": "pp-scenario",
    "tools.clinician": "pp-clinician",
    "tools.deploy": "pp-deploy",
    "tools.vboard": "pp-vboard",
    "tools.mcu": "pp-mcu",
    "tools.typecheck": "pp-typecheck",
    "tools.soak": "pp-soak",
    "tools.bench": "pp-bench",
}

# Exit codes every tool keeps (the clinician tool adds 3 and 4, see its --help).
EXIT_OK = 0
EXIT_FAILED = 1  # a check failed, a file or device could not be used, the run went wrong
EXIT_USAGE = 2  # bad arguments: nothing was done


def prog(module):
    """How the user ran `module`: its console script's name, or `python -m module`."""
    script = SCRIPTS.get(module)
    if script and os.path.basename(sys.argv[0] if sys.argv else "") == script:
        return script
    return "python -m " + module


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, `LABEL: message (see --help).`, exit 2.

    `module` ("tools.scenario") names the program as the user ran it (see `prog`); `label`
    starts each error line (default: the module's last part)."""

    def __init__(self, *args, label=None, module=None, **kw):
        if module is not None:
            kw.setdefault("prog", prog(module))
        super().__init__(*args, **kw)
        self.label = label or (module.rsplit(".", 1)[-1] if module else self.prog)

    def error(self, message):
        self.exit(EXIT_USAGE, "%s: %s (see --help).\n" % (self.label, message.rstrip(".")))


def labelled(label):
    """A Parser class for `add_subparsers(parser_class=...)` whose errors start with `label`."""

    class Labelled(Parser):
        def __init__(self, *args, **kw):
            kw.setdefault("label", label)
            super().__init__(*args, **kw)

    return Labelled


def output_path(path, what="the output file"):
    """Refuse (InputError) a path that is a folder, or whose folder does not exist."""
    if os.path.isdir(path):
        raise InputError("%s %s is a folder; give a file name" % (what, path))
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError("%s %s cannot be written: there is no folder %s" % (what, path, folder))
    return path


def read_limited(path, what="the file", max_bytes=MAX_TEXT_BYTES):
    """The bytes of `path`; InputError for a folder, an unreadable file or one above max_bytes."""
    if os.path.isdir(path):
        raise InputError("%s %s is a folder, not a file" % (what, path))
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise InputError("cannot read %s %s: %s" % (what, path, e.strerror or e))
    if len(data) > max_bytes:
        raise InputError("%s %s is larger than %d bytes, too large to be one" % (what, path, max_bytes))
    return data


def read_text(path, what="the file", max_bytes=MAX_TEXT_BYTES):
    """The UTF-8 text of `path` (see read_limited); InputError for binary content."""
    data = read_limited(path, what, max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError("%s %s is not text (a byte at offset %d is not UTF-8)" % (what, path, e.start))
    if "\x00" in text:
        raise InputError("%s %s is not text (it holds NUL bytes)" % (what, path))
    return text
