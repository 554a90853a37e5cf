"""What the simulator writes: the pump panel, the status line and the event log's lines, made
from the world (`tools.scenario.world.World`) and its pump (`tools.pump_emulator.pump.Pump`).

Plain functions of what they are given; `tools.simulator.app` puts them on the screen.
Times in the log and on the status line are scenario time (H:MM:SS since the start); the pump
panel's bolus starts are the pump's own clock, which `k` can set.
"""

from rich.text import Text

from firmware import messages as m
from tools.scenario.world import BASE_S

DAY_S = 86400
ROUTINE = ("status_req", "status")  # frames shown only in verbose mode
RECENT = 2  # boluses listed under "Last 24 h" (the panel fits 80x24)


def clock(t_s):
    """Scenario seconds -> 'H:MM:SS' (days as 'Nd H:MM:SS')."""
    t = int(t_s)
    d, t = divmod(t, DAY_S)
    h, t = divmod(t, 3600)
    mm, ss = divmod(t, 60)
    text = "%d:%02d:%02d" % (h, mm, ss)
    return ("%dd " % d + text) if d else text


def span(s):
    if s % 3600 == 0:
        return "%d h" % (s // 3600)
    if s % 60 == 0:
        return "%d min" % (s // 60)
    return "%d s" % s


def bar(fraction, width):
    fraction = max(0.0, min(1.0, fraction))
    full = int(round(fraction * width))
    return "█" * full + "░" * (width - full)


def ml(p, ug):
    """µg of the pump's drug as ml, one decimal (two below 1 ml, so a little is not 0.0)."""
    v = ug / float(p.concentration) if p.concentration else 0.0
    return ("%.1f" if v >= 1 or v == 0 else "%.2f") % v


def bolus_end_s(p, entry, ends):
    """Scenario second at which the pump ends (or ended) a started bolus: `ends` has it from
    the pump's start event (to the millisecond); else its start on the pump's monotonic clock
    (whole seconds) plus its duration, moved to scenario time (the pump's virtual time is the
    scenario's)."""
    if entry["request_id"] in ends:
        return ends[entry["request_id"]]
    return p.now_ms / 1000.0 + entry["start_mono_s"] + entry["duration_s"] - p.mono_ms / 1000.0


def note_start(e, p, ends):
    """Keep in `ends` when the bolus of a pump start event (the world's `delivered`) ends."""
    entry = p.boluses.get(e["bolus_id"])
    if entry is not None:
        ends[e["bolus_id"]] = e["t"] + entry["duration_s"]


# ---- the pump panel ----------------------------------------------------------------------------
def pump_text(w, noisy, ends):
    p = w.pump
    t = Text()
    t.append("Reservoir  ", style="bold")
    t.append("%d µg (%s ml)\n" % (p.reservoir_ug, ml(p, p.reservoir_ug)))
    t.append("Basal      ", style="bold")
    if p.alarms & m.HIGH_PRIORITY_MASK and p.basal_ug_per_h:
        t.append("%d µg/h, stopped by the alarm\n" % p.basal_ug_per_h, style="bold red")
    else:
        t.append("%d µg/h (%s ml/h)\n" % (p.basal_ug_per_h, ml(p, p.basal_ug_per_h) if p.basal_ug_per_h else "0"))
    t.append("Bolus      ", style="bold")
    act = p.active_bolus()
    shown = 0
    if act is not None:
        frac = (p.mono_ms / 1000.0 - act["start_mono_s"]) / float(act["duration_s"] or 1)
        frac = max(frac, act["delivered_ug"] / float(act["dose_ug"] or 1))
        shown = min(act["dose_ug"], int(act["dose_ug"] * max(0.0, min(1.0, frac))))
        t.append("#%d " % act["request_id"])
        t.append(bar(frac, 8), style="green")
        t.append(" %d/%d µg to %s\n" % (shown, act["dose_ug"], clock(bolus_end_s(p, act, ends))))
    else:
        t.append("none\n", style="grey50")
    started = [e for e in p.boluses.values() if e["status"] in (m.BOLUS_DELIVERING, m.BOLUS_COMPLETE, m.BOLUS_STOPPED)]
    day = p.started_within(DAY_S)
    t.append("Last 24 h  ", style="bold")
    given = sum(e["delivered_ug"] for e in day if e is not act) + (shown if act is not None and act in day else 0)
    t.append("%d bolus%s, %d µg given\n" % (len(day), "" if len(day) == 1 else "es", given))
    recent = sorted(started, key=lambda e: e["start_mono_s"])[-RECENT:]
    for e in reversed(recent):
        status = "delivering" if e is act else m.BOLUS_STATUS_NAMES.get(e["status"], "?")
        t.append("  #%-3d %s %3d µg %s\n" % (e["request_id"], clock(p.start_now_s(e) - BASE_S), e["dose_ug"], status))
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
    elif noisy:
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
        t.append("%d µg/%s, lockout %s, %d/24 h" % (rx.dose_ug, span(rx.duration_s), span(rx.lockout_s), rx.max_per_24h))
    return t


def status_text(vt_s, speed, chosen, held, w, verbose):
    """The line under the log: time, the speed and how to change it, doses (a bolus the pump
    is still delivering is counted apart)."""
    if held and chosen != 1:
        pace = "speed x1 held (x%d after)" % chosen
    else:
        pace = "speed x%d (keys 1 2 3)" % speed
    running = 1 if w.pump.active_bolus() is not None else 0
    text = "%s  %s  boot %d  doses %d%s  refused %d" % (
        clock(vt_s),
        pace,
        w.boots,
        w.counts["delivered"] - running,
        ", 1 running" if running else "",
        w.counts["denied"],
    )
    if w.counts["uncertain"]:
        text += "  uncertain %d" % w.counts["uncertain"]
    if verbose:
        text += "  [verbose]"
    return text


def interpreter_name(interpreter):
    return {"micropython": "MicroPython", "cpython": "CPython"}.get(interpreter, interpreter)


# ---- the event log -----------------------------------------------------------------------------
def describe(e, w, verbose, ends):
    """(text, style) for a world event worth a log line, or None."""
    kind = e["event"]
    if kind == "frame":
        typ = e["type"] or "?"
        if typ in ROUTINE and not verbose:
            return None
        arrow = "→ pump" if e["dir"] == "to_pump" else "← pump"
        return "%s %s #%d%s" % (arrow, typ.upper(), e["seq"], frame_detail(typ, e.get("fields") or {})), "grey62"
    if kind == "log":
        return "log %s %s" % (e["kind"].upper(), log_detail(e, w.pump, ends)), "cyan"
    if kind == "link_fault":
        if not verbose or e["fault"] == "down":
            return None
        return "link fault: %s (%s)" % (e["fault"], e["dir"]), "magenta"
    if kind == "delivered":  # the pump started it (the world's name for a start)
        until = (", until %s" % clock(ends[e["bolus_id"]])) if e["bolus_id"] in ends else ""
        return "PUMP starts bolus #%d: %d µg%s" % (e["bolus_id"], e["dose_ug"], until), "green"
    if kind == "bolus_end":
        if e["status"] == "complete":
            return "PUMP bolus #%d delivered: %d µg" % (e["bolus_id"], e["delivered_ug"]), "bold green"
        why = (" (" + e["why"] + ")") if e.get("why") else ""
        return "PUMP bolus #%d %s: %d µg given%s" % (e["bolus_id"], e["status"], e["delivered_ug"], why), "bold yellow"
    if kind == "alarm" and e.get("side") == "pump":
        return "PUMP alarms: %s" % (", ".join(e["alarms"]) or "none"), "bold red" if e["alarms"] else "yellow"
    if kind == "reboot":
        return "handheld power lost: reboot", "bold magenta"
    if kind == "link":
        return "link %s" % e["state"], "bold magenta"
    if kind == "duplicate_request":
        return "PUMP duplicate request #%d: same answer, applied once" % e["bolus_id"], "yellow"
    if kind == "refill":
        return "PUMP refilled: %d µg (%s ml)" % (e["reservoir_ug"], ml(w.pump, e["reservoir_ug"])), "yellow"
    if kind == "pump_clock":
        return "PUMP clock set %+d min (its limits count real time)" % (e["delta_s"] // 60), "yellow"
    if kind == "firmware_output":
        return "firmware: " + e["text"], "red"
    if kind in SILENT:
        return None
    return kind, ""


# shown on the panels, or as the handheld's log records they come from
SILENT = ("display", "indicator", "buzzer", "bolus_progress", "request", "pump", "alarm")
SILENT += ("fault", "boot", "synced", "settled", "uncertain", "rx_change")


def frame_detail(typ, f):
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


def delivered_detail(rid, dose_ug, p, ends):
    """The handheld's DELIVERED record is written when the pump accepts the bolus and says
    when it started; the pump is still delivering it. Say so, and until when."""
    entry = p.boluses.get(rid)
    if entry is None or entry["status"] not in (m.BOLUS_DELIVERING, m.BOLUS_COMPLETE, m.BOLUS_STOPPED):
        return "#%d %d µg: the pump started it" % (rid, dose_ug)
    if entry["status"] == m.BOLUS_DELIVERING:
        return "#%d %d µg: accepted, delivering until %s" % (rid, dose_ug, clock(bolus_end_s(p, entry, ends)))
    return "#%d %d µg: accepted, the pump has %s it" % (rid, dose_ug, "delivered" if entry["status"] == m.BOLUS_COMPLETE else "stopped")


def log_detail(e, p, ends):
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
        return delivered_detail(a, b, p, ends)
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
