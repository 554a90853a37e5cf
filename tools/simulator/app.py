"""The simulator's terminal app: the handheld as the patient sees it, the pump beside it, and a
scrolling log of frames and firmware log records, all driven by `tools.scenario.world.World`
(the real firmware on the lockstep board) in real time times a speed factor.

`SimulatorApp(interpreter="micropython", speed=60)`; `python -m tools.simulator` runs it. The
keys are in `tools.simulator.keys`, the panels' and the log's text in `tools.simulator.text`.
"""

import time

from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import RichLog, Static

from tools.scenario.world import World
from tools.simulator import keys, text
from tools.simulator.text import clock

SPEEDS = (1, 60, 600)
TICK_S = 0.05  # the UI advances the world this often
TICK_BUDGET_S = 0.04  # at most this much wall time per tick in the firmware and pump
ALARM_CYCLE = ("motor_stall", "empty_reservoir", "low_reservoir", "battery_eri")
RESERVOIR_ALARMS = ("empty_reservoir", "low_reservoir")  # `a` shows these by taking drug out
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


class KeyBar(Widget):
    """The bottom line: as many keys as the width allows, the essential ones always."""

    DEFAULT_CSS = "KeyBar { height: 1; background: $panel; }"

    def render(self):
        out = Text()
        for shown, label in keys.key_bar(self.size.width):
            out.append(" ")
            out.append(shown, style="bold reverse")
            out.append(" " + label)
        return out


class KeysScreen(ModalScreen):
    """`?`: every key and what it does; any key closes it."""

    DEFAULT_CSS = "KeysScreen { align: center middle; } #keys { width: auto; max-width: 100%; height: auto; border: round $accent; padding: 0 1; background: $surface; }"

    def compose(self) -> ComposeResult:
        yield Static("\n".join(keys.help_lines()) + "\n\n(any key closes this)", id="keys")

    def on_mount(self):
        self.query_one("#keys").border_title = "Keys"

    def on_key(self, event):
        event.stop()
        self.dismiss()

    def on_click(self, event):
        self.dismiss()


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
    BINDINGS = keys.bindings()

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
        self._taken_ul = None  # what `a` took out of the reservoir to show a reservoir alarm
        self._refill_note = None  # how the log names the refill being made now
        self.ends = {}  # bolus id -> scenario second its delivery ends, from the pump's start
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
        yield KeyBar(id="keybar")

    def on_mount(self):
        self.query_one("#handheld").border_title = "Handheld (%s)" % text.interpreter_name(self.interpreter)
        self.query_one("#pump").border_title = "Pump"
        self.query_one("#log").border_title = "Events"
        self.note("time runs x%d (%s a second): keys 1 2 3 set x1 x60 x600" % (self.speed, {1: "a second", 60: "a minute", 600: "ten minutes"}[self.speed]))
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
        self.query_one("#pump", Static).update(text.pump_text(w, self.noisy, self.ends))
        status = text.status_text(self.vt / 1000.0, self.effective_speed(), self.speed, w.level, w, self.verbose)
        self.query_one("#status", Static).update(status)

    # ---- the log ---------------------------------------------------------------------------
    def on_world_event(self, e):
        if e["event"] == "refill" and self._refill_note:
            line = (self._refill_note % (e["reservoir_ug"], text.ml(self.world.pump, e["reservoir_ug"])), "yellow")
        else:
            if e["event"] == "delivered":  # the pump starts a bolus: when will it end
                text.note_start(e, self.world.pump, self.ends)
            line = text.describe(e, self.world, self.verbose, self.ends)
        if line is not None:
            self.write(clock(e.get("t", 0)), *line)

    def note(self, message):
        """A line of the simulator's own (not from the world) at the time on the screen."""
        self.write(clock(self.vt / 1000.0), message, "italic")

    def write(self, stamp, message, style):
        self.lines.append(stamp + " " + message)
        try:
            log = self.query_one("#log", RichLog)
        except Exception:
            return
        out = Text(stamp + " ", style="grey50")
        out.append(message, style=style)
        log.write(out)

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
        if self._alarm_i >= 0 and ALARM_CYCLE[self._alarm_i] not in RESERVOIR_ALARMS:
            self.world.pump_clear(ALARM_CYCLE[self._alarm_i])
        self._alarm_i = (self._alarm_i + 1) % len(ALARM_CYCLE)
        name = ALARM_CYCLE[self._alarm_i]
        if name not in RESERVOIR_ALARMS:
            self._put_back()
            self.world.pump_alarm(name)
            return
        # the pump raises these from what its reservoir holds: take the drug out (c or the next
        # a put it back; f refills), so that the panel and the alarm agree
        p = self.world.pump
        if self._taken_ul is None:
            self._taken_ul = p.reservoir_ug * 1000.0 / p.concentration
        left_ul = min(self._taken_ul, p.low_reservoir_ul // 2) if name == "low_reservoir" else 0
        self._refill(left_ul, "PUMP reservoir set by hand to %d µg (%s ml)")

    def _put_back(self):
        if self._taken_ul is not None:
            taken, self._taken_ul = self._taken_ul, None
            self._refill(taken, "PUMP reservoir put back: %d µg (%s ml)")

    def _refill(self, volume_ul, note):
        self._refill_note = note
        try:
            self.world.pump_refill(volume_ul)
        finally:
            self._refill_note = None

    def action_clear(self):
        if not self.catch_up():
            return
        self._alarm_i = -1
        self._put_back()
        self.world.pump_clear()

    def action_refill(self):
        if not self.catch_up():
            return
        self._taken_ul = None  # a refill replaces what was there
        self.world.pump_refill(self.pump_cfg.get("reservoir_ul", 20000))

    def action_pump_clock(self):
        if not self.catch_up():
            return
        self.world.pump_clock(3600)

    def action_verbose(self):
        self.verbose = not self.verbose

    def action_keys(self):
        self.push_screen(KeysScreen())

    def action_quit_sim(self):
        self.shutdown()
        self.exit()

    def shutdown(self):
        self.world.close()

    def on_unmount(self):
        self.shutdown()
