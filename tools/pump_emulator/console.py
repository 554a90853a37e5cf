"""Operator commands for a running pump emulator: what a developer with a real board on the
other end of the line does to the pump while it runs. `--console` reads them from standard
input, one a line; each gets a one-line answer on standard output ("ok: ..." or "error: ...").

    alarm NAME            raise low_reservoir, empty_reservoir, motor_stall or battery_eri
    clear [NAME]          clear one alarm raised by hand, or all of them
    refill [UL]           refill the reservoir (default 20000 uL)
    clock +S | clock -S   set the pump's clock S seconds forward / back (limits keep real time)
    restart               power-cycle the pump: a bolus in progress stops, the record stays
    silent on|off         act on requests but never reply
    drop P, corrupt P, duplicate P
                          the probability (0..1) of that fault on each frame, each way
    delay MS              hold every reply back MS milliseconds of pump time
    clean                 every link fault off
    status                pump time, reservoir, alarms, bolus in progress, boluses in 24 h
    help                  this list

`execute(line, pump, port)` returns (answer, event): the line to print, and the JSON event
for the events file (None for a line that changed nothing).
"""

from firmware import messages as m
from tools.pump_emulator.pump import ALARM_BITS, DAY_S

MAX_CLOCK_SET_S = 10 * 86400
DEFAULT_REFILL_UL = 20000
_FAULTS = ("drop", "corrupt", "duplicate")
USAGE = (
    "alarm NAME", "clear [NAME]", "refill [UL]", "clock +S|-S", "restart", "silent on|off", "drop P",
    "corrupt P", "duplicate P", "delay MS", "clean", "status", "help",
)
COMMANDS = tuple(u.split()[0] for u in USAGE)


class CommandError(Exception):
    pass


def parse_clock_set(text):
    """'+3600' / '-600' -> seconds; CommandError with a sentence otherwise.

    The sign is required: a bare '3600' could be meant as a time of day, not a move."""
    if text.isdigit() and text.isascii():
        raise CommandError("say which way the clock moves: +%s (forward) or -%s (back), not %s" % (text, text, text))
    digits = text[1:]
    if text[:1] not in ("+", "-") or not digits.isdigit() or not digits.isascii():
        raise CommandError("the clock moves by a whole number of seconds, e.g. +3600 or -600, not %s" % text)
    delta = int(digits) * (-1 if text[0] == "-" else 1)
    if abs(delta) > MAX_CLOCK_SET_S:
        raise CommandError("the clock moves at most %d s (10 days) at a time, not %s" % (MAX_CLOCK_SET_S, text))
    return delta


def _alarm_name(word):
    if word not in ALARM_BITS:
        raise CommandError("unknown alarm %s (known: %s)" % (word, ", ".join(sorted(ALARM_BITS))))
    return word


def _probability(word, what):
    p = -1.0
    if word.isascii() and "_" not in word:  # float() also takes '０.５' and '0_5'
        try:
            p = float(word)
        except ValueError:
            pass
    if not 0.0 <= p <= 1.0:
        raise CommandError("%s needs a probability from 0 to 1, not %s" % (what, word))
    return p


def _whole(word, what, hi):
    if not word.isdigit() or not word.isascii() or int(word) > hi:
        raise CommandError("%s needs a whole number from 0 to %d, not %s" % (what, hi, word))
    return int(word)


def _args(words, lo, hi, usage):
    if not lo <= len(words) - 1 <= hi:
        raise CommandError("usage: %s" % usage)
    return words[1:]


def status(pump, port):
    act = pump.active_bolus()
    set_s = pump.clock_set_s()
    day = pump.started_within(DAY_S)
    faults = ["%s %g" % (k, getattr(port, k)) for k in _FAULTS if getattr(port, k)]
    if port.delay_ms:
        faults.append("delay %d ms" % port.delay_ms)
    if port.silent:
        faults.append("silent")
    return "pump time %d%s, reservoir %d ug, alarms %s, bolus %s, %d bolus%s in 24 h, link faults %s" % (
        pump.pump_time,
        " (clock set %+d s)" % set_s if set_s else "",
        pump.reservoir_ug,
        ", ".join(m.alarm_names(pump.alarms)) or "none",
        "#%d %d/%d ug" % (act["request_id"], act["delivered_ug"], act["dose_ug"]) if act else "none",
        len(day),
        "" if len(day) == 1 else "es",
        ", ".join(faults) or "none",
    )


def execute(line, pump, port):
    """Carry out one operator line on `pump` (already advanced to now) and `port`."""
    words = line.split()
    if not words or words[0].startswith("#"):
        return None, None
    cmd = words[0].lower()
    try:
        if cmd == "alarm":
            (name,) = _args(words, 1, 1, "alarm NAME")
            pump.raise_alarm(_alarm_name(name))
            said = "%s raised; alarms now %s" % (name, ", ".join(m.alarm_names(pump.alarms)))
        elif cmd == "clear":
            rest = _args(words, 0, 1, "clear [NAME]")
            names = [_alarm_name(rest[0])] if rest else sorted(ALARM_BITS)
            for name in names:
                pump.clear_alarm(name)
            said = "cleared; alarms now %s" % (", ".join(m.alarm_names(pump.alarms)) or "none")
        elif cmd == "refill":
            rest = _args(words, 0, 1, "refill [UL]")
            ul = _whole(rest[0], "refill", 10**6) if rest else DEFAULT_REFILL_UL
            pump.refill(ul)
            said = "refilled %d uL at %g ug/mL: reservoir %d ug" % (ul, pump.concentration, pump.reservoir_ug)
        elif cmd == "clock":
            (text,) = _args(words, 1, 1, "clock +S or clock -S")
            delta = parse_clock_set(text)
            try:
                pump.set_clock(delta)
            except ValueError as e:
                raise CommandError(str(e))
            said = "clock set %+d s: pump time %d" % (delta, pump.pump_time)
        elif cmd == "restart":
            _args(words, 0, 0, "restart")
            port.restart()
            said = "restarted"
        elif cmd == "silent":
            (word,) = _args(words, 1, 1, "silent on|off")
            if word not in ("on", "off"):
                raise CommandError("usage: silent on|off")
            port.silent = word == "on"
            said = "silent %s" % word
        elif cmd in _FAULTS:
            (word,) = _args(words, 1, 1, "%s P" % cmd)
            setattr(port, cmd, _probability(word, cmd))
            said = "%s %g" % (cmd, getattr(port, cmd))
        elif cmd == "delay":
            (word,) = _args(words, 1, 1, "delay MS")
            port.delay_ms = _whole(word, "delay", 60000)
            said = "delay %d ms" % port.delay_ms
        elif cmd == "clean":
            _args(words, 0, 0, "clean")
            port.faults.clean()
            port.silent = False
            said = "link faults off"
        elif cmd == "status":
            _args(words, 0, 0, "status")
            return "ok: " + status(pump, port), None
        elif cmd == "help":
            return "ok: " + " | ".join(USAGE), None
        else:
            raise CommandError("unknown command %s (known: %s)" % (words[0], ", ".join(COMMANDS)))
    except CommandError as e:
        return "error: %s." % e, None
    return "ok: " + said, {"event": "console", "command": " ".join(words), "result": said}


class LineReader:
    """Whole lines from a non-blocking file descriptor (the console's standard input)."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = b""
        self.open = True

    def read_lines(self, read):
        """`read(fd)` returned bytes (b"" at end of input); returns the complete lines."""
        data = read(self.fd)
        if not data:
            self.open = False
            rest, self.buf = self.buf, b""
            return [rest.decode("utf-8", "replace")] if rest.strip() else []
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        return [x.decode("utf-8", "replace") for x in lines]
