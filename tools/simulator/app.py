"""The simulator's terminal app: the handheld as the patient sees it, the pump beside it, and a
scrolling log of frames and firmware log records, all driven by `tools.scenario.world.World`
(the real firmware on the lockstep board) in real time times a speed factor.

`SimulatorApp(interpreter="micropython", speed=60)`; `python -m tools.simulator` runs it.
"""

import time

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Footer, RichLog, Static

from firmware import messages as m
from tools.scenario.world import BASE_S, World

SPEEDS = (1, 60, 600)
TICK_S = 0.05  # the UI advances the world this often
TICK_BUDGET_S = 0.04  # at most this much wall time per tick in the firmware and pump
ALARM_CYCLE = ("motor_stall", "empty_reservoir", "low_reservoir", "battery_eri")
NOISY = {"loss": 0.2, "corrupt": 0.01, "duplicate": 0.05}
DEFAULT_RX = {
    "version": 1,
    "dose_ug": 100,
    "duration_s": 60,
    "lockout_s": 600,
    "max_per_24h": 6,
    "cap_ug": 0,
    "cap_window_s": 0,
}
DEFAULT_PUMP = {"reservoir_ul": 20000, "concentration_ug_per_ml": 500, "basal_ug_per_h": 10, "low_reservoir_ul": 2000}
LIGHT = {"green": "bold green", "amber": "bold yellow", "red": "bold red", "off": "grey50"}
ROUTINE = ("status_req", "status")  # frames shown only in verbose mode
DAY_S = 86400


def clock(t_s):
    """Scenario seconds -> 'H:MM:SS' (days as 'Nd H:MM:SS')."""
    t = int(t_s)
    d, t = divmod(t, DAY_S)
    h, t = divmod(t, 3600)
    mm, ss = divmod(t, 60)
    text = "%d:%02d:%02d" % (h, mm, ss)
    return ("%dd " % d + text) if d else text


def _span(s):
    if s % 3600 == 0:
        return "%d h" % (s // 3600)
    if s % 60 == 0:
        return "%d min" % (s // 60)
    return "%d s" % s


def bar(fraction, width):
    fraction = max(0.0, min(1.0, fraction))
    full = int(round(fraction * width))
    return "█" * full + "░" * (width - full)


class BolusButton(Static):
    """The bolus button: held while the mouse button is down on it; `on_change(down)`."""

    def __init__(self, label, on_change, **kw):
        super().__init__(label, **kw)
        self.on_change = on_change

    def on_mouse_down(self, event):
        self.capture_mouse()
        self.on_change(True)

    def on_mouse_up(self, event):
        self.release_mouse()
        self.on_change(False)


class SimulatorApp(App):
    TITLE = "Patient programmer simulator"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen { layout: vertical; }
    #top { height: auto; }
    #handheld { width: 28; height: auto; border: round $accent; border-title-color: $text; padding: 0 1; }
    #lcd { width: 20; height: 6; border: heavy #3a7a3a; background: #0d260d; color: #a8f0a8; }
    #light, #buzzer { height: 1; }
    #bolus { width: 20; height: 3; border: round $primary; content-align: center middle; text-style: bold; }
    #bolus.down { background: $primary; color: $text; }
    #pump { width: 1fr; height: 100%; border: round $accent; padding: 0 1; }
    #log { height: 1fr; border: round $accent; }
    #status { height: 1; background: $panel; padding: 0 1; }
    """
    BINDINGS = [
        Binding("space", "press", "Dose", key_display="spc"),
        Binding("b", "press", "Dose", show=False),
        Binding("t", "toggle_button", "Btn"),
        Binding("1", "speed(0)", "Speed", key_display="1-3"),
        Binding("2", "speed(1)", "x60", show=False),
        Binding("3", "speed(2)", "x600", show=False),
        Binding("l", "link", "Link"),
        Binding("n", "noisy", "Noise"),
        Binding("r", "reboot", "Reboot"),
        Binding("a", "alarm", "Alarm"),
        Binding("c", "clear", "Clear"),
        Binding("f", "refill", "Fill"),
        Binding("k", "pump_clock", "Clock"),
        Binding("v", "verbose", "Verbose", show=False),
        Binding("q", "quit_sim", "Quit"),
    ]

    def __init__(self, interpreter="micropython", speed=60, rx=None, pump=None, seed=1, paired=True):
        super().__init__()
        self.interpreter = interpreter
        self.speed = speed
        self.rx_fields = dict(DEFAULT_RX if rx is None else rx)
        self.pump_cfg = dict(DEFAULT_PUMP if pump is None else pump)
        self.seed = seed
        self.paired = paired
        self.world = World(
            self.rx_fields,
            self.pump_cfg,
            seed=self.seed,
            interpreter=self.interpreter,
            emit=self.on_world_event,
            trace=True,
            paired=self.paired,
            quiet_ms=1000,  # the screen's countdown moves every virtual second
            watch=True,  # and every change of screen, light or sound is seen at once
        )
        self._started = False
        self.vt = 0.0  # virtual ms the display has reached
        self._last = 0.0
        self._alarm_i = -1
        self.verbose = False
        self.noisy = False
        self.error = None
        self.lines = []  # log lines as plain text (tests read them)
        self._beeps = 0
        self._beep_until = 0.0

    # ---- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            with Vertical(id="handheld"):
                yield Static("", id="lcd")
                yield Static("", id="light")
                yield Static("", id="buzzer")
                yield BolusButton("HOLD TO DOSE", self.button, id="bolus")
            yield Static("", id="pump")
        yield RichLog(id="log", max_lines=1000, wrap=False, markup=False)
        yield Static("", id="status")
        yield Footer(compact=True)

    def on_mount(self):
        self.query_one("#handheld").border_title = "Handheld"
        self.query_one("#pump").border_title = "Pump"
        self.query_one("#log").border_title = "Events"
        try:
            self.world.start()
            self._started = True
        except Exception as e:  # the firmware could not start: say so and stop
            self.fail("the firmware did not start: %s" % e)
            return
        self._last = time.monotonic()
        self.refresh_panels()
        self.set_interval(TICK_S, self.tick)

    def fail(self, message):
        self.error = message
        self.exit(message=message)

    # ---- time ------------------------------------------------------------------------------
    def effective_speed(self):
        """The chosen speed, or real time while the button is down (a hold is felt in real
        time: at x600 a one-second press would be a ten-minute one)."""
        return 1 if self.world.level else self.speed

    def tick(self):
        if not self._started or self.world.closed:
            return
        now = time.monotonic()
        dt = now - self._last
        self._last = now
        self.vt = max(self.vt, float(self.world.t_ms)) + dt * 1000.0 * self.effective_speed()
        try:
            done = self.world.run_until(int(self.vt), max_wall_s=TICK_BUDGET_S)
        except Exception as e:
            self.fail("the simulation stopped: %s" % e)
            return
        if not done:  # slower than asked: drop the lag rather than pile it up
            self.vt = float(self.world.t_ms)
        self.refresh_panels()

    # ---- what the patient sees -------------------------------------------------------------
    def refresh_panels(self):
        try:
            self._refresh_panels()
        except NoMatches:
            return  # the app is closing and its screen is gone (a tick can still fire mid-way)

    def _refresh_panels(self):
        w = self.world
        lines = (list(w.display) + ["", "", "", ""])[:4]
        self.query_one("#lcd", Static).update("\n".join(x[:16].ljust(16) for x in lines))
        colour, blink = w.indicator
        light = Text("● ", style=LIGHT.get(colour, ""))
        light.append("light: %s%s" % (colour.upper(), " (blink)" if blink else ""))
        self.query_one("#light", Static).update(light)
        if w.beeps != self._beeps:
            self._beeps = w.beeps
            self._beep_until = time.monotonic() + 2.2  # alarm pulses are sampled once a virtual second
        if w.buzzer or time.monotonic() < self._beep_until:
            tone = Text("♪ %d Hz" % (w.buzzer or w.last_beep), style="bold magenta")
        else:
            tone = Text("♪ silent", style="grey50")
        self.query_one("#buzzer", Static).update(tone)
        btn = self.query_one("#bolus", Static)
        btn.set_class(w.level, "down")
        btn.update("PRESSED" if w.level else "HOLD TO DOSE")
        self.query_one("#pump", Static).update(self.pump_text())
        self.query_one("#status", Static).update(self.status_text())

    def pump_text(self):
        w = self.world
        p = w.pump
        t = Text()
        ml = p.reservoir_ug / float(p.concentration) if p.concentration else 0.0
        t.append("Reservoir  ", style="bold")
        t.append("%d µg (%.1f ml)\n" % (p.reservoir_ug, ml))
        t.append("Bolus      ", style="bold")
        act = p.active_bolus()
        shown = 0
        if act is not None:
            frac = (p.mono_ms / 1000.0 - act["start_mono_s"]) / float(act["duration_s"] or 1)
            frac = max(frac, act["delivered_ug"] / float(act["dose_ug"] or 1))
            shown = min(act["dose_ug"], int(act["dose_ug"] * max(0.0, min(1.0, frac))))
            t.append("#%d " % act["request_id"])
            t.append(bar(frac, 12), style="green")
            t.append(" %d/%d µg\n" % (shown, act["dose_ug"]))
        else:
            t.append("none\n", style="grey50")
        started = [e for e in p.boluses.values() if e["status"] in (m.BOLUS_DELIVERING, m.BOLUS_COMPLETE, m.BOLUS_STOPPED)]
        day = p.started_within(DAY_S)
        t.append("Last 24 h  ", style="bold")
        given = sum(e["delivered_ug"] for e in day if e is not act) + (shown if act is not None and act in day else 0)
        t.append("%d bolus%s, %d µg given\n" % (len(day), "" if len(day) == 1 else "es", given))
        recent = sorted(started, key=lambda e: e["start_mono_s"])[-3:]
        for e in reversed(recent):
            t.append("  #%-3d %s %3d µg %s\n" % (e["request_id"], clock(p.start_now_s(e) - BASE_S), e["dose_ug"], m.BOLUS_STATUS_NAMES.get(e["status"], "?")))
        t.append("Alarms     ", style="bold")
        names = m.alarm_names(p.alarms)
        if names:
            high = p.alarms & m.HIGH_PRIORITY_MASK
            t.append(", ".join(names) + "\n", style="bold red" if high else "bold yellow")
        else:
            t.append("none\n", style="grey50")
        t.append("Link       ", style="bold")
        if w.link_down:
            t.append("CUT", style="bold red")
        elif self.noisy:
            t.append("noisy (loss %d%%)" % int(w.loss * 100), style="yellow")
        else:
            t.append("ok", style="green")
        t.append("\nPump time  ", style="bold")
        t.append(clock(p.pump_time - BASE_S))
        moved = p.clock_set_s()
        if moved:
            t.append(" (clock set %+d min)" % (moved // 60), style="yellow")
        rx = p.rx
        t.append("\nRx         ", style="bold")
        if rx is None:
            t.append("none", style="bold red")
        else:
            t.append("%d µg/%s, lockout %s, %d/24 h" % (rx.dose_ug, _span(rx.duration_s), _span(rx.lockout_s), rx.max_per_24h))
        return t

    def status_text(self):
        w = self.world
        speed = self.effective_speed()
        held = " (held: x1)" if w.level and self.speed != 1 else ""
        text = "%s  x%d%s  %s  boot %d  doses %d  refused %d" % (
            clock(self.vt / 1000.0),
            speed,
            held,
            "MicroPython" if self.interpreter == "micropython" else "CPython",
            w.boots,
            w.counts["delivered"],
            w.counts["denied"],
        )
        if w.counts["uncertain"]:
            text += "  uncertain %d" % w.counts["uncertain"]
        if self.verbose:
            text += "  [verbose]"
        return text

    # ---- the log ---------------------------------------------------------------------------
    def on_world_event(self, e):
        line = self.describe(e)
        if line is None:
            return
        text, style = line
        stamp = clock(e.get("t", 0))
        self.lines.append(stamp + " " + text)
        try:
            log = self.query_one("#log", RichLog)
        except Exception:
            return
        out = Text(stamp + " ", style="grey50")
        out.append(text, style=style)
        log.write(out)

    def describe(self, e):
        """(text, style) for a world event worth a log line, or None."""
        kind = e["event"]
        if kind == "frame":
            typ = e["type"] or "?"
            if typ in ROUTINE and not self.verbose:
                return None
            arrow = "→ pump" if e["dir"] == "to_pump" else "← pump"
            detail = _frame_detail(typ, e.get("fields") or {})
            return "%s %s #%d%s" % (arrow, typ.upper(), e["seq"], detail), "grey62"
        if kind == "log":
            return "log %s %s" % (e["kind"].upper(), _log_detail(e)), "cyan"
        if kind == "link_fault":
            if not self.verbose or e["fault"] == "down":
                return None
            return "link fault: %s (%s)" % (e["fault"], e["dir"]), "magenta"
        if kind in ("display", "indicator", "buzzer", "bolus_progress", "request"):
            return None  # shown on the panels / as the log records they come from
        if kind == "delivered":
            return "PUMP starts bolus #%d: %d µg" % (e["bolus_id"], e["dose_ug"]), "bold green"
        if kind == "bolus_end":
            return "PUMP bolus #%d %s: %d µg%s" % (e["bolus_id"], e["status"], e["delivered_ug"], (" (" + e["why"] + ")") if e.get("why") else ""), "green"
        if kind == "alarm" and e.get("side") == "pump":
            return "PUMP alarms: %s" % (", ".join(e["alarms"]) or "none"), "bold red" if e["alarms"] else "yellow"
        if kind == "alarm":
            return None  # the handheld's ALARM log record says it
        if kind in ("fault", "boot", "synced", "settled", "uncertain", "rx_change"):
            return None  # log records
        if kind == "reboot":
            return "handheld power lost: reboot", "bold magenta"
        if kind == "link":
            return "link %s" % e["state"], "bold magenta"
        if kind == "duplicate_request":
            return "PUMP duplicate request #%d: same answer, applied once" % e["bolus_id"], "yellow"
        if kind == "refill":
            return "PUMP refilled: %d µg" % e["reservoir_ug"], "yellow"
        if kind == "pump_clock":
            return "PUMP clock set %+d min (its limits count real time)" % (e["delta_s"] // 60), "yellow"
        if kind == "firmware_output":
            return "firmware: " + e["text"], "red"
        if kind == "pump":
            return None
        return kind, ""

    # ---- the patient's and the tester's hands ----------------------------------------------
    def catch_up(self):
        """Bring the world to the time on the screen, so that what the user does now happens
        now (the world otherwise moves in steps of up to a second)."""
        if not self._started or self.world.closed:
            return False
        try:
            self.world.advance_to(int(self.vt))
        except Exception as e:
            self.fail("the simulation stopped: %s" % e)
            return False
        return True

    def button(self, down):
        if self.catch_up():
            self.world.set_button(down)
            self.refresh_panels()

    def action_press(self):
        if self.catch_up():
            self.world.press()

    def action_toggle_button(self):
        self.button(not self.world.level)

    def action_speed(self, i):
        self.speed = SPEEDS[int(i)]
        self.refresh_panels()

    def action_link(self):
        if not self.catch_up():
            return
        self.world.link("up" if self.world.link_down else "down")

    def action_noisy(self):
        if not self.catch_up():
            return
        self.noisy = not self.noisy
        if self.noisy:
            self.world.link("faults", NOISY)
        else:
            self.world.link("clean")

    def action_reboot(self):
        if not self.catch_up():
            return
        try:
            self.world.reboot()
        except Exception as e:
            self.fail("the firmware did not restart: %s" % e)

    def action_alarm(self):
        if not self.catch_up():
            return
        if self._alarm_i >= 0:
            self.world.pump_clear(ALARM_CYCLE[self._alarm_i])
        self._alarm_i = (self._alarm_i + 1) % len(ALARM_CYCLE)
        self.world.pump_alarm(ALARM_CYCLE[self._alarm_i])

    def action_clear(self):
        if not self.catch_up():
            return
        self._alarm_i = -1
        self.world.pump_clear()

    def action_refill(self):
        if not self.catch_up():
            return
        self.world.pump_refill(self.pump_cfg.get("reservoir_ul", 20000))

    def action_pump_clock(self):
        if not self.catch_up():
            return
        self.world.pump_clock(3600)

    def action_verbose(self):
        self.verbose = not self.verbose

    def action_quit_sim(self):
        self.shutdown()
        self.exit()

    def shutdown(self):
        self.world.close()

    def on_unmount(self):
        self.shutdown()


def _frame_detail(typ, f):
    if typ == "bolus_req":
        return " id %d %d µg" % (f.get("request_id", 0), f.get("dose_ug", 0))
    if typ == "bolus_ack":
        if f.get("accepted"):
            return " id %d accepted" % f.get("request_id", 0)
        return " id %d refused: %s" % (f.get("request_id", 0), m.PUMP_REASONS.get(f.get("reason"), "?"))
    if typ in ("record_req", "record"):
        return " id %d" % f.get("request_id", 0)
    if typ == "alarm":
        return " %s" % (", ".join(m.alarm_names(f.get("alarms", 0))) or "cleared")
    if typ == "nak":
        return " %s" % m.NAK_REASONS.get(f.get("reason"), "?")
    return ""


def _log_detail(e):
    k = e["kind"]
    a, b, c = e["a"], e["b"], e["c"]
    if k == "granted":
        return "#%d %d µg" % (a, b)
    if k == "denied":
        from firmware import policy

        reason = policy.REASON_NAMES.get(a, str(a))
        if b != 0xFFFFFFFF:
            return "%s, next %s" % (reason, clock(b - BASE_S))
        return reason
    if k == "delivered":
        return "#%d %d µg at %s" % (a, b, clock(c - BASE_S))
    if k == "pump_refused":
        return "#%d %s" % (a, m.PUMP_REASONS.get(b, str(b)))
    if k in ("uncertain",):
        return "#%d" % a
    if k == "settled":
        return "#%d %s" % (a, "delivered" if b else "NOT delivered")
    if k == "alarm":
        return ", ".join(m.alarm_names(a)) or "cleared"
    if k == "fault":
        from firmware import eventlog

        return eventlog.FAULT_NAMES.get(a, str(a))
    if k == "boot":
        return "#%d" % a
    if k == "synced":
        return "%d boluses in history" % b
    if k == "press":
        return ""
    return "a=%d b=%d c=%d" % (a, b, c)
