"""The clinic report's timeline (inline SVG): one lane per day, 00:00 to 24:00 of the pump's clock.

In each lane: alarms as a band at the top (from raised to cleared), doses on the upper row, refused
presses on the lower row, and behind both the lockout window after each dose, drawn from the
prescription in force (report_rx), never guessed from the refusals. Markers (report_svg.MARKERS)
closer than their size are moved up or down; a marker that still has no room is counted in a
"+N" beside the one it would hide, so nothing overlaps illegibly. Each marker has a tooltip.
"""

import bisect
from html import escape

from tools.clinician import report_rx
from tools.clinician import report_svg as svg
from tools.clinician import report_words as words

DAY_S = 86400
LEFT, PLOT_W, LANE_H, TOP = 112, 1000, 86, 26
ALARM_Y, DOSE_Y, REFUSED_Y = 2, 31, 63  # within a lane
R = 5.5
DODGE_DOSE = (0, -12, 12)  # a crowded dose row spreads up first, the refusal row down
DODGE_REFUSED = (0, 12, -12)


def _x(sec):
    return LEFT + PLOT_W * sec / float(DAY_S)


def _segments(start, end, lanes):
    """(lane index, x0, x1) pieces of [start, end) in pump time on the charted days (`lanes`:
    day -> lane); only charted days are visited, however long the span."""
    days = sorted(lanes)
    lo = bisect.bisect_left(days, start // DAY_S)
    hi = bisect.bisect_right(days, (end - 1) // DAY_S)
    out = []
    for day in days[lo:hi]:
        t0, t1 = max(start, day * DAY_S), min(end, (day + 1) * DAY_S)
        if t1 > t0:
            out.append((lanes[day], _x(t0 - day * DAY_S), _x(t1 - day * DAY_S)))
    return out


class _Row:
    """Places markers along one row of one lane without overlaps."""

    def __init__(self, y, dodge):
        self.y = y
        self.dodge = dodge
        self.placed = []  # [x, y, extra count]

    def place(self, x):
        for dy in self.dodge:
            y = self.y + dy
            if all(abs(x - px) >= 2 * R + 1 or abs(y - py) >= 2 * R + 1 for px, py, _ in self.placed[-8:]):
                self.placed.append([x, y, 0])
                return y
        nearest = min(self.placed[-8:], key=lambda p: abs(p[0] - x))
        nearest[2] += 1
        return None


def timeline(s, plist, days):
    """SVG for the charted `days` (Day objects, oldest first) and the set of marker keys used."""
    lanes = {d.key: i for i, d in enumerate(days)}
    w, h = LEFT + PLOT_W + 20, TOP + LANE_H * max(1, len(days)) + 24
    body = []
    back, fore = [], []
    labels = words.short_labels([d.key for d in days])
    for i, d in enumerate(days):
        y0 = TOP + i * LANE_H
        if i % 2:
            back.append("<rect x='%d' y='%d' width='%d' height='%d' fill='#f6f6f6'/>" % (LEFT, y0, PLOT_W, LANE_H))
        back.append(svg._text(LEFT - 8, y0 + DOSE_Y + 4, labels[i], 12, "end", weight="bold"))
        back.append(svg._text(LEFT - 8, y0 + DOSE_Y + 18, "doses", 10, "end", "#555"))
        back.append(svg._text(LEFT - 8, y0 + REFUSED_Y + 4, "refused", 10, "end", "#555"))
        back.append("<line x1='%d' x2='%d' y1='%d' y2='%d' stroke='#e6e6e6' stroke-dasharray='3 3'/>" % (
            LEFT, LEFT + PLOT_W, y0 + (DOSE_Y + REFUSED_Y) // 2, y0 + (DOSE_Y + REFUSED_Y) // 2))
        back.append("<line x1='%d' x2='%d' y1='%d' y2='%d' stroke='#bbb'/>" % (LEFT, LEFT + PLOT_W, y0 + LANE_H, y0 + LANE_H))
    for hr in range(25):
        x = _x(hr * 3600)
        back.append("<line x1='%.1f' x2='%.1f' y1='%d' y2='%d' stroke='%s'/>" % (x, x, TOP, h - 24, "#999" if hr % 6 == 0 else "#e2e2e2"))
        if hr % 2 == 0:
            back.append(svg._text(x, TOP - 8, "%02d:00" % hr, 11, "middle"))
            back.append(svg._text(x, h - 8, "%02d:00" % hr, 11, "middle"))
    used = set()
    shown_lockout = _lockouts(s, plist, lanes, back)
    _alarms(s, lanes, back)
    faulted = _faults(s, lanes, fore)
    rows = {}
    if days:
        first, last = days[0].key * DAY_S, (days[-1].key + 1) * DAY_S
        for t, outcome in s.events:
            if t < first or t >= last or t // DAY_S not in lanes:
                continue
            key = svg.marker_key(outcome)
            lane = lanes[t // DAY_S]
            upper = key in svg.DOSE_ROW
            row = rows.get((lane, upper))
            if row is None:
                y_row = TOP + lane * LANE_H + (DOSE_Y if upper else REFUSED_Y)
                row = rows[(lane, upper)] = _Row(y_row, DODGE_DOSE if upper else DODGE_REFUSED)
            x = _x(t % DAY_S)
            y = row.place(x)
            if y is None:
                continue
            used.add(key)
            label, kind, colour, filled = svg.MARKERS[key]
            title = "%s: %s" % (words.stamp(t, seconds=True), label if key != "other" and key != "pump" else words.reason_words(outcome))
            fore.append(svg.shape(kind, x, y, R, colour, filled, title))
    for row in rows.values():
        for x, y, extra in row.placed:
            if extra:
                fore.append(svg._text(x + R + 2, y + 4, "+%d" % extra, 10, colour="#000", weight="bold"))
    body = back + fore
    if faulted:
        used.add("fault")
    return svg._svg(w, h, body, "Timeline of presses, doses, refusals, lockout windows and alarms"), used, shown_lockout


def fault_mark(x, y, title=""):
    """A fault: a small black bar hanging from the top of its lane."""
    tip = "<title>%s</title>" % escape(title) if title else ""
    return "<rect x='%.1f' y='%d' width='3' height='12' fill='#000'>%s</rect>" % (x - 1.5, y, tip)


def _faults(s, lanes, out):
    """A mark at the top of the lane for each fault with a known time (link lost, clock set...)."""
    n = 0
    for t, code, b, c in s.faults:
        if t < 0 or t // DAY_S not in lanes:
            continue
        detail = words.fault_detail(code, b, c)
        title = "%s: %s%s" % (words.stamp(t, seconds=True), words.fault_words(code), (" (%s)" % detail) if detail else "")
        out.append(fault_mark(_x(t % DAY_S), TOP + lanes[t // DAY_S] * LANE_H + 1, title))
        n += 1
    return n


def _lockouts(s, plist, lanes, out):
    """Shade the lockout after each dose given (from its start), when the prescription in force
    says how long it is. Returns whether any was drawn."""
    drawn = False
    for start in s.given_starts():
        lockout = report_rx.lockout_at(plist, start)
        if not lockout:
            continue
        for lane, x0, x1 in _segments(start, start + lockout, lanes):
            y0 = TOP + lane * LANE_H
            out.append("<rect x='%.1f' y='%d' width='%.1f' height='%d' fill='%s' fill-opacity='0.22'><title>lockout %s from %s</title></rect>" % (
                x0, y0 + 14, max(1.0, x1 - x0), LANE_H - 16, svg.ORANGE,
                escape(words.duration(lockout)), escape(words.stamp(start))))
            drawn = True
    return drawn


def _alarms(s, lanes, out):
    for a in s.alarms:
        if a.start < 0:
            continue
        end = a.end if a.cleared else s.last_t
        if end is None or end < a.start:
            continue
        high = words.alarm_priority(a.name) == "high"
        colour = svg.PURPLE if high else svg.YELLOW
        title = "%s (%s priority) from %s, %s" % (
            words.alarm_words(a.name), words.alarm_priority(a.name), words.stamp(a.start),
            ("for " + words.duration(end - a.start)) if a.cleared else "ongoing at end of log")
        for lane, x0, x1 in _segments(a.start, max(end, a.start + 60), lanes):
            y0 = TOP + lane * LANE_H + ALARM_Y
            out.append("<rect x='%.1f' y='%d' width='%.1f' height='11' fill='%s' stroke='#333' stroke-width='0.6'><title>%s</title></rect>" % (
                x0, y0, max(2.0, x1 - x0), colour, escape(title)))
            if x1 - x0 > 90:
                out.append(svg._text(x0 + 3, y0 + 9, words.alarm_words(a.name), 9, colour="#000"))

