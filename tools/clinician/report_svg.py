"""The clinic report's charts as inline SVG (no scripts, no fonts or images fetched).

`daily_bars(days)`: presses and doses given per day, whole-number axis. `heatmap(days, total)`:
demands and doses by hour of day, one row per day and one for the period. `timeline(s, plist,
days)`: one lane per day over 24 h; doses on the upper row (with the lockout window of the
prescription in force, when known), refusals on the lower row, alarms as a band above.
Markers differ in shape and colour (Okabe-Ito palette, safe for colour-blind readers); markers
closer than their size are moved apart vertically, and any that still collide are counted.
"""

from html import escape

from tools.clinician import report_data as data
from tools.clinician import report_words as words

DAY_S = 86400
# Okabe & Ito (2008), "Color Universal Design".
ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILLION, PURPLE, BLACK = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
GREY = "#999999"
# outcome or reason key -> (legend label, shape, colour, filled)
MARKERS = {
    data.GIVEN: ("dose given", "circle", GREEN, True),
    data.UNCERTAIN_GIVEN: ("no reply; pump's record: given", "diamond", BLUE, True),
    data.UNCERTAIN_NOT: ("no reply; pump's record: not given", "diamond", BLUE, False),
    data.UNCERTAIN_OPEN: ("no reply; not settled by end of log", "diamond", BLACK, False),
    data.NO_OUTCOME: ("sent; no outcome in the log", "circle", BLACK, False),
    "lockout": ("refused: lockout", "tri_down", ORANGE, True),
    "max_24h": ("refused: 24-hour maximum", "square", VERMILLION, True),
    "alarm": ("refused: pump alarm", "cross", PURPLE, True),
    "no_link": ("refused: no link to the pump", "tri_up", SKY, True),
    "pump": ("refused by the pump", "square", BLACK, False),
    "other": ("refused: other reason (see table)", "circle", VERMILLION, False),
}
DOSE_ROW = (data.GIVEN, data.UNCERTAIN_GIVEN, data.UNCERTAIN_NOT, data.UNCERTAIN_OPEN, data.NO_OUTCOME)


def marker_key(outcome):
    if outcome in MARKERS:
        return outcome
    return "pump" if outcome.startswith("pump:") else "other"


def shape(kind, x, y, r, colour, filled, title=""):
    fill = colour if filled else "#ffffff"
    sw = 1.6
    if kind == "circle":
        body = "<circle cx='%.1f' cy='%.1f' r='%.1f'" % (x, y, r)
    elif kind == "square":
        body = "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f'" % (x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7)
    elif kind == "diamond":
        body = "<polygon points='%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f'" % (x, y - r * 1.15, x + r * 1.15, y, x, y + r * 1.15, x - r * 1.15, y)
    elif kind in ("tri_down", "tri_up"):
        k = 1 if kind == "tri_down" else -1
        body = "<polygon points='%.1f,%.1f %.1f,%.1f %.1f,%.1f'" % (x - r * 1.1, y - k * r * 0.8, x + r * 1.1, y - k * r * 0.8, x, y + k * r * 1.1)
    else:  # cross
        d = r * 0.9
        tip = "<title>%s</title>" % escape(title) if title else ""
        return ("<path d='M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f' stroke='%s' stroke-width='3.2' stroke-linecap='round'>%s</path>"
                % (x - d, y - d, x + d, y + d, x - d, y + d, x + d, y - d, colour, tip))
    stroke = BLACK if filled and colour in (YELLOW, SKY, ORANGE) else colour
    tip = "<title>%s</title>" % escape(title) if title else ""
    return "%s fill='%s' stroke='%s' stroke-width='%.1f'>%s%s" % (
        body, fill, stroke, sw, tip, "</circle>" if kind == "circle" else ("</rect>" if kind == "square" else "</polygon>"))


def legend_swatch(key, size=16):
    label, kind, colour, filled = MARKERS[key]
    return "<svg width='%d' height='%d' role='img' aria-label='%s'>%s</svg>" % (
        size, size, escape(label), shape(kind, size / 2.0, size / 2.0, size / 2.0 - 3, colour, filled))


def int_step(top, ticks=5):
    """A whole-number tick step (1, 2, 5, 10, 20, 50, ...) giving at most `ticks` steps."""
    base = 1
    while True:
        for m in (1, 2, 5):
            if top <= ticks * base * m:
                return base * m
        base *= 10


def _text(x, y, s, size=12, anchor="start", colour="#222", weight="normal"):
    return "<text x='%.1f' y='%.1f' font-size='%d' text-anchor='%s' fill='%s' font-weight='%s'>%s</text>" % (
        x, y, size, anchor, colour, weight, escape(str(s)))


def _svg(w, h, body, label):
    return "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' viewBox='0 0 %d %d' role='img' aria-label='%s' font-family='sans-serif'>%s</svg>" % (
        w, h, w, h, escape(label), "".join(body))


def daily_bars(days):
    """Grouped bars per day: presses (demands) and doses given; integer y axis."""
    n = max(1, len(days))
    slot = max(28, min(120, 1000 // n))
    left, top, bottom = (44 if slot >= 70 else 84), 16, 66
    w, h = left + slot * n + 20, 250
    ph = h - top - bottom
    peak = max([d.presses for d in days] + [d.given for d in days] + [1])
    step = int_step(peak)
    ymax = -(-peak // step) * step
    body = []
    for v in range(0, ymax + 1, step):
        y = top + ph - ph * v / float(ymax)
        body.append("<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#ddd'/>" % (left, w - 10, y, y))
        body.append(_text(left - 6, y + 4, v, 11, "end"))
    bw = slot * 0.36
    labels = words.short_labels([d.key for d in days])
    for i, d in enumerate(days):
        x0 = left + i * slot + slot * 0.12
        for j, (v, colour, what) in enumerate(((d.presses, GREY, "presses"), (d.given, GREEN, "doses given"))):
            bh = ph * v / float(ymax)
            x = x0 + j * bw
            body.append("<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s'><title>%s: %d %s</title></rect>" % (
                x, top + ph - bh, bw, bh, colour, escape(words.date_label(d.key)), v, what))
            body.append(_text(x + bw / 2, top + ph - bh - 3, v, 10, "middle"))
        x = left + i * slot + slot / 2.0
        if slot >= 70:
            body.append(_text(x, h - bottom + 16, labels[i], 11, "middle"))
        else:  # too narrow for the label: slanted
            body.append("<text x='%.1f' y='%d' font-size='10' text-anchor='end' transform='rotate(-40 %.1f %d)'>%s</text>" % (
                x, h - bottom + 12, x, h - bottom + 12, escape(labels[i])))
    body.append("<line x1='%d' x2='%d' y1='%d' y2='%d' stroke='#444'/>" % (left, w - 10, top + ph, top + ph))
    body.append(_text(4, 12, "count", 11))
    return _svg(w, h, body, "Presses and doses given per day")


def _blue(v, peak):
    """A single-hue sequential blue (light to dark): readable for every colour vision."""
    if v <= 0:
        return "#ffffff"
    f = 0.25 + 0.75 * v / float(peak)
    lo, hi = (222, 235, 247), (8, 48, 107)
    return "#%02x%02x%02x" % tuple(int(a + (b - a) * f) for a, b in zip(lo, hi))


def heatmap(days, total):
    """Two grids side by side (demands, doses given): rows are days and the whole period,
    columns the 24 hours of the pump's clock; each cell shows its count."""
    cell, rowh, left, top = 21, 20, 96, 34
    rows = list(zip(words.short_labels([d.key for d in days]), days)) + [("whole period", total)]
    gap = 30
    pw = cell * 24
    w, h = left + 2 * pw + gap + 10, top + rowh * len(rows) + 30
    body = []
    for p, (attr, title) in enumerate((("demand_h", "Demands (presses)"), ("given_h", "Doses given"))):
        x0 = left + p * (pw + gap)
        body.append(_text(x0, 14, title + " by hour of day", 13, weight="bold"))
        per_day = max([max(getattr(d, attr)) for _, d in rows[:-1]] + [1])
        whole = max(getattr(total, attr) + [1])
        for hr in range(0, 24, 3):
            body.append(_text(x0 + hr * cell + cell / 2.0, top - 6, "%02d" % hr, 10, "middle"))
        for i, (label, d) in enumerate(rows):
            y = top + i * rowh + (8 if i == len(rows) - 1 else 0)
            if p == 0:
                body.append(_text(left - 6, y + 14, label, 12, "end", weight="bold" if d is total else "normal"))
            vals = getattr(d, attr)
            peak = whole if d is total else per_day
            for hr in range(24):
                v = vals[hr]
                colour = _blue(v, peak)
                body.append("<rect x='%d' y='%d' width='%d' height='%d' fill='%s' stroke='#ccc'><title>%s %02d:00-%02d:59: %d</title></rect>" % (
                    x0 + hr * cell, y, cell, rowh, colour, escape(label), hr, hr, v))
                if v:
                    dark = v / float(peak) > 0.45
                    body.append(_text(x0 + hr * cell + cell / 2.0, y + 14, v, 11, "middle", "#fff" if dark else "#111"))
    body.append(_text(left, h - 6, "Hours of the pump's clock; a darker cell is a higher count (per-day rows share one scale, the period row its own).", 11))
    return _svg(w, h, body, "Demands and doses by hour of day")
