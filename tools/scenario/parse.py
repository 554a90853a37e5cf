"""The scenario file format: `parse(text) -> Scenario`, or ScenarioError(line, message).

One command a line, '#' starts a comment, times are H:MM:SS[.fff] from the start:
    prescription dose_ug=.. duration_s=.. lockout_s=.. max_per_24h=.. [cap_ug= cap_window_s= version=]
    prescription none                 (the handheld and the pump have no prescription)
    pump [reservoir_ul=..] [concentration_ug_per_ml=..] [basal_ug_per_h=..] [low_reservoir_ul=..]
    at H:MM:SS <press | tap | bounce | hold S | reboot | link down|up|clean |
                link loss=P corrupt=P duplicate=P | pump alarm NAME | pump clear [NAME] |
                pump refill [reservoir_ul=N] | pump clock +S|-S>
    end H:MM:SS
The full description is docs/scenarios.md.
"""

from tools.cli_args import parse_number, parse_whole
from tools.pump_emulator.console import CommandError, parse_clock_set

RX_REQUIRED = ("dose_ug", "duration_s", "lockout_s", "max_per_24h")
RX_OPTIONAL = {"cap_ug": 0, "cap_window_s": 0, "version": 1}
PUMP_KEYS = {
    "reservoir_ul": 20000,
    "concentration_ug_per_ml": 1000,
    "basal_ug_per_h": 0,
    "low_reservoir_ul": 2000,
}
ALARMS = ("low_reservoir", "empty_reservoir", "motor_stall", "battery_eri")
LINK_FAULT_KEYS = ("loss", "corrupt", "duplicate")
MAX_HOLD_S = 3600
MAX_DAYS = 400  # the longest scenario: a year and some, run in seconds to a few minutes
MAX_MS = MAX_DAYS * 86400 * 1000


class ScenarioError(Exception):
    """A scenario that cannot run: `.line` (1-based, 0 when not about one line), `.message`."""

    def __init__(self, line, message):
        super().__init__("line %d: %s" % (line, message) if line else message)
        self.line = line
        self.message = message


class Event:
    """One `at` line: `t_ms`, `command` (press, tap, bounce, hold, reboot, link, pump), `args`."""

    def __init__(self, t_ms, command, args, line):
        self.t_ms = t_ms
        self.command = command
        self.args = args
        self.line = line

    def __repr__(self):
        return "Event(%d, %r, %r)" % (self.t_ms, self.command, self.args)


class Scenario:
    """`rx` (dict of prescription fields, or None for `prescription none`), `pump` (dict with
    every PUMP_KEYS key), `events` (time order), `end_ms`."""

    def __init__(self):
        self.rx = None  # type: dict | None
        self.rx_line = 0
        self.pump = dict(PUMP_KEYS)
        self.events = []
        self.end_ms = None  # type: int | None


def parse_time(text, line):
    """'H:MM:SS' or 'H:MM:SS.fff' -> milliseconds (at most MAX_DAYS)."""
    parts = text.split(":")
    if len(parts) != 3 or not text.isascii() or not parts[0].isdigit():
        raise ScenarioError(line, "%r is not a time; write H:MM:SS" % text)
    try:
        h = int(parts[0])
        mm = int(parts[1])
        sec = parts[2]
        if "." in sec:
            whole, frac = sec.split(".", 1)
            if not frac.isdigit() or len(frac) > 3:
                raise ValueError()
            ms = int(whole) * 1000 + int(frac.ljust(3, "0"))
            s = int(whole)
        else:
            s = int(sec)
            ms = s * 1000
    except ValueError:
        raise ScenarioError(line, "%r is not a time; write H:MM:SS" % text)
    if h < 0 or not 0 <= mm < 60 or not 0 <= s < 60 or len(parts[1]) != 2 or len(parts[2].split(".")[0]) != 2:
        raise ScenarioError(line, "%r is not a time; write H:MM:SS with minutes and seconds 00..59" % text)
    t = (h * 3600 + mm * 60) * 1000 + ms
    if t > MAX_MS:
        raise ScenarioError(line, "%s is past the longest scenario, %d days (%d:00:00)" % (text, MAX_DAYS, MAX_DAYS * 24))
    return t


def _pairs(words, line, what):
    out = {}
    for w in words:
        if "=" not in w:
            raise ScenarioError(line, "%s expects key=value words, not %r" % (what, w))
        k, v = w.split("=", 1)
        if k in out:
            raise ScenarioError(line, "%s key %s is given twice" % (what, k))
        out[k] = v
    return out


def _int(value, key, line, lo=0, hi=None):
    try:
        n = parse_whole(value)
    except ValueError:
        raise ScenarioError(line, "%s=%s is not a whole number" % (key, value))
    if n < lo or (hi is not None and n > hi):
        raise ScenarioError(line, "%s=%s is out of range" % (key, value))
    return n


def _prob(value, key, line):
    try:
        p = parse_number(value)
    except ValueError:
        raise ScenarioError(line, "%s=%s is not a probability" % (key, value))
    if not 0.0 <= p <= 1.0:
        raise ScenarioError(line, "%s=%s is not a probability between 0 and 1" % (key, value))
    return p


def _prescription(words, line):
    if words == ["none"]:
        return None
    pairs = _pairs(words, line, "prescription")
    fields = {}
    for k, v in pairs.items():
        if k not in RX_REQUIRED and k not in RX_OPTIONAL:
            raise ScenarioError(line, "unknown prescription key %s (known: %s)" % (k, ", ".join(RX_REQUIRED + tuple(RX_OPTIONAL))))
        fields[k] = _int(v, k, line)
    for k in RX_REQUIRED:
        if k not in fields:
            raise ScenarioError(line, "the prescription has no %s" % k)
    for k, default in RX_OPTIONAL.items():
        fields.setdefault(k, default)
    try:
        from firmware import prescription
    except ImportError:  # the core module is not there yet: accept the fields as written
        return fields
    try:
        prescription.from_fields(dict(fields))
    except prescription.PrescriptionError as e:
        raise ScenarioError(line, "invalid prescription: %s" % str(getattr(e, "reason", e)).rstrip("."))
    return fields


def _pump(words, line, pump):
    for k, v in _pairs(words, line, "pump").items():
        if k not in PUMP_KEYS:
            raise ScenarioError(line, "unknown pump key %s (known: %s)" % (k, ", ".join(PUMP_KEYS)))
        pump[k] = _int(v, k, line, 0, 10**9)


def _command(words, line):
    if not words:
        raise ScenarioError(line, "'at TIME' needs a command")
    cmd, rest = words[0], words[1:]
    if cmd in ("press", "tap", "bounce", "reboot"):
        if rest:
            raise ScenarioError(line, "%s takes no arguments" % cmd)
        return cmd, {}
    if cmd == "hold":
        if len(rest) != 1:
            raise ScenarioError(line, "hold takes one argument, the seconds held")
        try:
            s = parse_number(rest[0])
        except ValueError:
            raise ScenarioError(line, "hold %s: the seconds held must be a number" % rest[0])
        if not 0 < s <= MAX_HOLD_S:
            raise ScenarioError(line, "hold %s: the seconds held must be above 0 and at most %d" % (rest[0], MAX_HOLD_S))
        return cmd, {"s": s}
    if cmd == "link":
        if rest in (["down"], ["up"], ["clean"]):
            return cmd, {"state": rest[0]}
        if not rest:
            raise ScenarioError(line, "link needs down, up, clean or fault probabilities")
        pairs = _pairs(rest, line, "link")
        faults = {}
        for k, v in pairs.items():
            if k not in LINK_FAULT_KEYS:
                raise ScenarioError(line, "unknown link setting %s (known: down, up, clean, %s)" % (k, ", ".join(LINK_FAULT_KEYS)))
            faults[k] = _prob(v, k, line)
        return cmd, {"state": "faults", "faults": faults}
    if cmd == "pump":
        if not rest:
            raise ScenarioError(line, "pump needs alarm NAME, clear, refill or clock +S|-S")
        sub = rest[0]
        if sub == "alarm":
            if len(rest) != 2:
                raise ScenarioError(line, "pump alarm needs one alarm name (%s)" % ", ".join(ALARMS))
            if rest[1] not in ALARMS:
                raise ScenarioError(line, "unknown alarm %s (known: %s)" % (rest[1], ", ".join(ALARMS)))
            return cmd, {"action": "alarm", "alarm": rest[1]}
        if sub == "clear":
            if len(rest) > 2:
                raise ScenarioError(line, "pump clear takes nothing or one alarm name")
            if len(rest) == 2 and rest[1] not in ALARMS:
                raise ScenarioError(line, "unknown alarm %s (known: %s)" % (rest[1], ", ".join(ALARMS)))
            return cmd, {"action": "clear", "alarm": rest[1] if len(rest) == 2 else None}
        if sub == "refill":
            pairs = _pairs(rest[1:], line, "pump refill")
            for k in pairs:
                if k != "reservoir_ul":
                    raise ScenarioError(line, "unknown pump refill key %s (known: reservoir_ul)" % k)
            ul = _int(pairs["reservoir_ul"], "reservoir_ul", line, 0, 10**9) if pairs else None
            return cmd, {"action": "refill", "reservoir_ul": ul}
        if sub == "clock":
            if len(rest) != 2:
                raise ScenarioError(line, "pump clock needs one signed number of seconds, e.g. +3600 or -600")
            try:
                delta = parse_clock_set(rest[1])
            except CommandError as e:
                raise ScenarioError(line, "pump clock: %s" % e)
            return cmd, {"action": "clock", "delta_s": delta}
        raise ScenarioError(line, "unknown pump command %s (known: alarm, clear, refill, clock)" % sub)
    raise ScenarioError(
        line, "unknown command %s (known: press, tap, bounce, hold, reboot, link, pump)" % cmd
    )


def parse(text):
    sc = Scenario()
    seen_rx = False
    seen_pump = False
    last_t = 0
    lines = text.splitlines()
    for n, raw in enumerate(lines, 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if sc.end_ms is not None:
            raise ScenarioError(n, "nothing may follow the end line")
        head = words[0]
        if head == "prescription":
            if seen_rx:
                raise ScenarioError(n, "a second prescription line (a scenario has one)")
            if sc.events:
                raise ScenarioError(n, "the prescription line must come before the first 'at' line")
            sc.rx = _prescription(words[1:], n)
            sc.rx_line = n
            seen_rx = True
        elif head == "pump":
            if seen_pump:
                raise ScenarioError(n, "a second pump line (a scenario has at most one)")
            if sc.events:
                raise ScenarioError(n, "the pump line must come before the first 'at' line (use 'at TIME pump ...')")
            _pump(words[1:], n, sc.pump)
            seen_pump = True
        elif head == "at":
            if not seen_rx:
                raise ScenarioError(n, "no prescription line before the first 'at' (write 'prescription none' for none)")
            if len(words) < 2:
                raise ScenarioError(n, "'at' needs a time and a command")
            t = parse_time(words[1], n)
            if t < last_t:
                raise ScenarioError(n, "times must not go backwards (%s is before the line above)" % words[1])
            last_t = t
            cmd, args = _command(words[2:], n)
            sc.events.append(Event(t, cmd, args, n))
        elif head == "end":
            if len(words) != 2:
                raise ScenarioError(n, "end takes one time, H:MM:SS")
            t = parse_time(words[1], n)
            if not seen_rx:
                raise ScenarioError(n, "the scenario has no prescription line (write 'prescription none' for none)")
            if t < last_t:
                raise ScenarioError(n, "the end time is before the last event")
            sc.end_ms = t
        else:
            raise ScenarioError(n, "unknown command %s (known: prescription, pump, at, end)" % head)
    if sc.end_ms is None:
        raise ScenarioError(len(lines) + 1, "the scenario has no 'end H:MM:SS' line")
    return sc
