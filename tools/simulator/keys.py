"""The simulator's keys, in one table: the app's bindings, the key bar at the bottom, the `?`
list, `--help` and the README's key table are all made from `KEYS` (a test holds the README to
`readme_table()`).

Each entry: what the bar shows (`shown`, `label`), how much it matters when the bar is too
narrow for all (`rank`: 0 is always shown), what it does, and the (key, action) pairs it binds.
"""

import textwrap
from typing import NamedTuple

from textual.binding import Binding, BindingType


class Key(NamedTuple):
    shown: str  # on the bar
    label: str
    rank: int  # 0: always on the bar; the highest goes first when it is too narrow
    does: str
    binds: tuple  # ((key, action), ...)


KEYS = (
    Key("mouse", "", 9, "hold HOLD TO DOSE down, then let go: the bolus button", ()),
    Key("spc", "Dose", 0, "a complete press: held 1.5 seconds (the handheld needs one)", (("space", "press"), ("b", "press"))),
    Key("t", "Hold", 4, "toggle the button down / up (hold it as long as you like)", (("t", "toggle_button"),)),
    Key("1-3", "Speed", 0, "time x1, x60, x600 (x600 waits out a lockout); starts at x60", (("1", "speed(0)"), ("2", "speed(1)"), ("3", "speed(2)"))),
    Key("l", "Link", 1, "cut or restore the link", (("l", "link"),)),
    Key("n", "Noise", 2, "make the link noisy (frames lost, corrupted, repeated) or clean", (("n", "noisy"),)),
    Key("r", "Reboot", 1, "reboot the handheld (its power is lost)", (("r", "reboot"),)),
    Key("a", "Alarm", 1, "next pump alarm: motor, empty reservoir, low reservoir, battery", (("a", "alarm"),)),
    Key("c", "Clear", 1, "clear the alarms; puts back the drug `a` took for a reservoir one", (("c", "clear"),)),
    Key("f", "Fill", 2, "refill the reservoir (20 ml)", (("f", "refill"),)),
    Key("k", "Clock", 3, "set the pump's clock an hour forward (its limits keep real time)", (("k", "pump_clock"),)),
    Key("v", "Verbose", 3, "verbose log: also the routine status frames on the link", (("v", "verbose"),)),
    Key("?", "Keys", 0, "list these keys", (("question_mark", "keys"),)),
    Key("q", "Quit", 0, "quit", (("q", "quit_sim"),)),
)
DOES_MAX = 66  # each `does` is one line of the `?` list at 80 columns and of --help

_NAMES = {"question_mark": "?"}


def bindings() -> "list[BindingType]":
    """The app's BINDINGS: every key of the table; the bar is drawn by `key_bar`, not textual."""
    return [Binding(key, action, k.label, show=False) for k in KEYS for key, action in k.binds]


def _keys_of(k) -> "list[str]":
    """The keys as typed: ['space', 'b'], ['?'] (the bar's `shown` for the mouse)."""
    return [str(_NAMES.get(key, key)) for key, _ in k.binds] or [k.shown]


def key_bar(width):
    """The bottom bar as [(key, label)] that fits in `width` columns: the least needed keys
    (highest rank) go first when it is too narrow; rank 0 stays whatever the width."""
    shown = [k for k in KEYS if k.binds]
    while True:
        if sum(len(k.shown) + len(k.label) + 2 for k in shown) <= width or all(k.rank == 0 for k in shown):
            return [(k.shown, k.label) for k in shown]
        worst = max(k.rank for k in shown)
        drop = [k for k in shown if k.rank == worst][-1]
        shown.remove(drop)


def help_lines(width=9 + DOES_MAX):
    """Each entry's keys and what it does, wrapped to `width` (the `?` list and `--help`)."""
    out = []
    for k in KEYS:
        out += textwrap.wrap(k.does, width, initial_indent="%-8s " % "/".join(_keys_of(k)), subsequent_indent=" " * 9)
    return out


def help_epilog():
    """The keys for `--help` (printed as they are: RawDescriptionHelpFormatter)."""
    return "keys:\n" + "\n".join("  " + line for line in help_lines())


def readme_table():
    """The README's key table, as markdown."""
    rows = ["| key | does |", "|---|---|"]
    for k in KEYS:
        cell = " ".join("`%s`" % name for name in _keys_of(k)) if k.binds else k.shown
        rows.append("| %s | %s |" % (cell, k.does))
    return "\n".join(rows) + "\n"
