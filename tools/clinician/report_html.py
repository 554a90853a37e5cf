"""The clinic report as one self-contained HTML page (inline CSS and SVG; nothing fetched).

`page(s, plist, verified, source, charted, listed)` returns the text. Sections, in the order a
review goes: header (device, period in calendar dates, clock, prescriptions), at a glance,
per day, daily chart, hour-of-day heat map, timeline, alarms, refusals explained, faults
(grouped, then every one), log integrity.
"""

from html import escape as e

from tools.clinician import report_svg as svg
from tools.clinician import report_timeline
from tools.clinician import report_words as words

MAX_FAULT_ROWS = 1000  # faults listed one by one (a damaged log can hold tens of thousands)
MAX_ROWS = 200  # alarms, prescriptions and refused installs listed one by one
MAX_IN_CELL = 8  # alarms named in one day's cell

CSS = """body{font-family:system-ui,sans-serif;margin:1.5em 2em;max-width:78em;color:#111}
h1{margin:.2em 0}h2{border-bottom:2px solid #333;padding-bottom:.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.4em 0;font-size:.95em}td.r{min-width:12.5em}td.a{min-width:12em}td,th{border:1px solid #bbb;padding:.2em .45em;text-align:left;vertical-align:top}
th{background:#eee}td.d{white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums}tr.total td{font-weight:bold;background:#f4f4f4}
.warn{background:#fde0c5}.bad{color:#a00;font-weight:bold}.ok{color:#05602f}.note{color:#444;font-size:.92em}
dl.head{display:grid;grid-template-columns:12em auto;gap:.2em 1em}dl.head dt{font-weight:bold}dl.head dd{margin:0}
.legend span{display:inline-flex;align-items:center;gap:.3em;margin-right:1.2em;white-space:nowrap}
details summary{cursor:pointer;font-weight:bold}.chart{overflow-x:auto}"""


def _td(v, cls="n"):
    return "<td class='%s'>%s</td>" % (cls, v)


def ratio_text(d):
    r = d.ratio()
    return "%.1f" % r if r is not None else ("&ndash;" if not d.presses else "none given")


def refused_text(d, sep="<br>"):
    if not d.refused:
        return "0"
    parts = sorted(d.refused.items(), key=lambda kv: (-kv[1], kv[0]))
    return "<b>%d</b>%s%s" % (d.refused_total(), sep if sep == "<br>" else ": ", sep.join(
        "%d &times; %s" % (n, e(words.reason_words(k))) for k, n in parts))


def alarm_line(a, last_t):
    secs = a.seconds(last_t)
    if a.cleared:
        lasted = "for " + words.duration(secs) if secs is not None else "duration unknown"
    else:
        lasted = "ongoing at end of log" + (" (%s so far)" % words.duration(secs) if secs is not None else "")
    return "%s %s, %s" % (words.alarm_words(a.name), words.clock(a.start) if a.start >= 0 else "(time unknown)", lasted)


def _header(s, plist, verified, source):
    rows = [("Device", "patient handheld event log <code>%s</code>; %s" % (e(source), _pumps(s)))]
    if s.first_t is None:
        rows.append(("Period", "no record with a known time"))
    else:
        n = len(s.known_days())
        rows.append(("Period", "%s to %s (pump clock): %d day%s with records" % (
            e(words.stamp(s.first_t)), e(words.stamp(s.last_t)), n, "" if n == 1 else "s")))
    rows.append(("Clock", e(clock_text(s))))
    rows.append(("Records", "%d intact%s; handheld started %d time%s" % (
        len(verified.records), ", LOG DAMAGED (see Log integrity)" if verified.bad_bytes else ", none damaged",
        s.boots, "" if s.boots == 1 else "s")))
    out = ["<dl class='head'>"] + ["<dt>%s</dt><dd>%s</dd>" % r for r in rows] + ["</dl>"]
    out.append("<h2 id='prescription'>Prescriptions in force</h2>")
    out.append("<table><tr><th>version</th><th>in force from</th><th>how the report knows</th><th>dose</th><th>lockout</th><th>max per 24 h</th><th>amount cap</th><th>requests in the log</th></tr>")
    for p in plist[-MAX_ROWS:]:
        rx = p.rx
        frm = "start of the log" if p.from_t is None else e(words.stamp(p.from_t))
        asked = "; ".join("%d &micro;g over %s: %d" % (d, e(words.duration(dur)), n) for d, dur, n in p.doses) or "none"
        if p.mismatch:
            asked = "<span class='bad'>%s (differs from the prescription)</span>" % asked
        out.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
            p.version if p.version is not None else "unknown", frm, e(p.how) + ("<br><span class='note'>%s</span>" % e(p.note) if p.note else ""),
            "%d &micro;g over %s" % (rx.dose_ug, e(words.duration(rx.duration_s))) if rx else "not in the log",
            e(words.duration(p.lockout_s)) if p.lockout_s else "not in the log",
            rx.max_per_24h if rx else "not in the log",
            ("%d &micro;g per %s" % (rx.cap_ug, e(words.duration(rx.cap_window_s))) if rx.cap_ug else "none") if rx else "not in the log",
            asked))
    out.append("</table>" + _more(len(plist), MAX_ROWS, "prescriptions"))
    refused = [c for c in s.rx_changes if not c["accepted"]][-MAX_ROWS:]
    if refused:
        out.append("<p>Prescriptions the handheld refused: %s.</p>" % "; ".join(
            "version %d (%s), %s" % (c["version"], e(str(words.RX_REFUSALS.get(c["code"], "code %d" % c["code"]))), e(words.stamp(c["t"]))) for c in refused))
    return "".join(out)


def _pumps(s):
    if not s.pumps:
        return "no pump synchronisation in the log"
    return "pump id%s %s (from its synchronisation replies)" % ("s" if len(s.pumps) > 1 else "", ", then ".join("0x%08X" % p for p in s.pumps))


def clock_text(s):
    text = ("Times are the pump's clock as the handheld logged it: the handheld keeps no calendar of its "
            "own, it stamps each record with the pump time it last learnt plus the time since, and "
            "re-learns it at every exchange; a difference over 5 s is logged as a clock set.")
    if s.clock_sets:
        text += " Clock sets: " + "; ".join("%s %s" % (
            words.stamp(t), ("back " if back else "forward ") + words.duration(n)) for t, n, back in s.clock_sets) + "."
    else:
        text += " Offset to the handheld: none logged (no clock set in this period)."
    if s.last_t is not None and s.last_t < words.CLOCK_SET_S:
        text += " The dates are before %d: the pump's clock was never set to the calendar." % words.CLOCK_SET_YEAR
    return text


def _glance(s, total):
    items = ["%d presses, %d doses given (%d &micro;g); demand-to-delivery ratio %s (presses per dose given)" % (
        total.presses, total.given, total.ug, ratio_text(total))]
    items.append("refused %s" % refused_text(total, "; "))
    high = [d for d in s.ordered() if d.key is not None and d.ratio() is not None and d.ratio() >= 2]
    if high:
        items.append("<span class='bad'>2 or more presses per dose on %s</span> (unmet demand: review the analgesia)" % ", ".join(
            e(words.date_label(d.key)) for d in high))
    maxed = [d for d in s.ordered() if d.key is not None and d.refused.get("max_24h")]
    if maxed:
        items.append("<span class='bad'>24-hour maximum reached on %s</span>" % ", ".join(e(words.date_label(d.key)) for d in maxed))
    ongoing = [a for a in s.alarms if not a.cleared]
    items.append("%d alarm%s%s" % (len(s.alarms), "" if len(s.alarms) == 1 else "s",
                                   ("; <span class='bad'>still active at end of log: %s</span>" % ", ".join(e(words.alarm_words(a.name)) for a in ongoing)) if ongoing else ""))
    open_q = [q for q in s.requests.values() if q.outcome == "uncertain_open"]
    if open_q:
        items.append("<span class='bad'>%d request%s with no reply, not settled</span> (counted as given for every limit)" % (len(open_q), "" if len(open_q) == 1 else "s"))
    sent = sum(1 for q in s.requests.values() if q.outcome == "no_outcome")
    if sent:
        items.append("%d request%s sent with no outcome in the log (the log ends before it)" % (sent, "" if sent == 1 else "s"))
    items.append("%d fault%s logged" % (len(s.faults), "" if len(s.faults) == 1 else "s"))
    return "<ul>%s</ul>" % "".join("<li>%s</li>" % i for i in items)


def _days_table(s, listed, total):
    head = ("<table><tr><th>date (pump clock)</th><th>presses</th><th>doses given</th><th>&micro;g given</th>"
            "<th>demand-to-delivery ratio (presses per dose)</th><th>refused, by reason</th><th>no reply (uncertain)</th>"
            "<th>settled: given / not</th><th>alarms raised (duration)</th><th>faults</th></tr>")
    rows = []
    for d in listed:
        warn = " class='warn'" if d.ratio() is not None and d.ratio() >= 2 else ""
        alarms = "<br>".join(e(alarm_line(a, s.last_t)) for a in d.alarms[:MAX_IN_CELL]) or "none"
        if len(d.alarms) > MAX_IN_CELL:
            alarms += "<br>and %d more (see Alarms)" % (len(d.alarms) - MAX_IN_CELL)
        rows.append("<tr%s><td class='d'>%s</td>%s%s%s%s%s%s%s%s%s</tr>" % (
            warn, e(words.date_label(d.key)) if d.key is not None else "time unknown",
            _td(d.presses), _td(d.given), _td(d.ug), _td(ratio_text(d)), _td(refused_text(d), "r"),
            _td(d.uncertain), _td("%d / %d" % (d.settled_given, d.settled_not)), _td(alarms, "a"), _td(d.faults)))
    rows.append("<tr class='total'><td>period</td>%s%s%s%s%s%s%s%s%s</tr>" % (
        _td(total.presses), _td(total.given), _td(total.ug), _td(ratio_text(total)), _td(refused_text(total), "r"),
        _td(total.uncertain), _td("%d / %d" % (total.settled_given, total.settled_not)), _td("%d raised" % len(s.alarms), ""), _td(len(s.faults))))
    return head + "".join(rows) + "</table>"


def _alarms_table(s):
    if not s.alarms:
        return "<p>No alarm in the log.</p>"
    rows = []
    for a in s.alarms[-MAX_ROWS:]:
        secs = a.seconds(s.last_t)
        end = e(words.stamp(a.end)) if a.cleared else "<span class='bad'>ongoing at end of log</span>"
        lasted = e(words.duration(secs)) if secs is not None else "unknown"
        rows.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s%s</td></tr>" % (
            e(words.alarm_words(a.name)), words.alarm_priority(a.name), e(words.stamp(a.start)), end, lasted, "" if a.cleared else " so far"))
    return "<table><tr><th>alarm</th><th>priority</th><th>raised</th><th>cleared</th><th>lasted</th></tr>%s</table>%s" % (
        "".join(rows), _more(len(s.alarms), MAX_ROWS, "alarms"))


def _more(n, shown, what):
    return "" if n <= shown else "<p class='note'>The last %d of %d %s.</p>" % (shown, n, what)


def _reasons_table(total):
    if not total.refused:
        return "<p>No press was refused.</p>"
    rows = "".join("<tr><td>%s</td><td><q>%s</q></td>%s</tr>" % (
        e(words.reason_words(k)), e(words.patient_read(k)), _td(n)) for k, n in sorted(total.refused.items(), key=lambda kv: -kv[1]))
    return "<table><tr><th>reason</th><th>what the patient read on the handheld</th><th>times</th></tr>%s</table>" % rows


def _faults(s):
    if not s.faults:
        return "<p>No fault in the log.</p>"
    groups = "".join("<tr><td>%s</td>%s<td>%s</td><td>%s</td></tr>" % (
        e(words.fault_words(code)), _td(n), e(words.stamp(first)), e(words.stamp(last))) for code, n, first, last in s.fault_groups())
    listed = s.faults[-MAX_FAULT_ROWS:]
    rows = "".join("<tr><td>%s</td><td>%s</td><td>%s</td></tr>" % (
        e(words.stamp(t, seconds=True)), e(words.fault_words(code)), e(words.fault_detail(code, b, c))) for t, code, b, c in listed)
    more = _more(len(s.faults), MAX_FAULT_ROWS, "faults")
    return ("<table><tr><th>fault</th><th>times</th><th>first</th><th>last</th></tr>%s</table>"
            "<details><summary>Every fault, one per row (%d)</summary>%s<table><tr><th>when</th><th>fault</th><th>detail</th></tr>%s</table></details>"
            % (groups, len(s.faults), more, rows))


def _integrity(verified):
    if not verified.bad_bytes:
        return "<p class='ok'>Log intact: %d records, 0 bad bytes.</p>" % len(verified.records)
    ranges = "".join("<li>%d bytes at file offset %d (%s offset %d)</li>" % (n, off, e(name), so) for off, n, name, so in verified.bad_ranges[:200])
    return "<p class='bad'>Log damaged: %d bad bytes (%d record slots). This report covers the %d intact records.</p><ul>%s</ul>" % (
        verified.bad_bytes, verified.damaged_slots(), len(verified.records), ranges)


def _legend(used, lockout_drawn, alarms):
    items = ["<span>%s %s</span>" % (svg.legend_swatch(k), e(svg.MARKERS[k][0])) for k in svg.MARKERS if k in used]
    if "fault" in used:
        items.append("<span><svg width='10' height='14'>%s</svg> fault (link lost, clock set, ...)</span>" % report_timeline.fault_mark(5, 1))
    if lockout_drawn:
        items.append("<span><svg width='26' height='14'><rect width='26' height='14' fill='%s' fill-opacity='0.22'/></svg> lockout window (prescription)</span>" % svg.ORANGE)
    priorities = set(words.alarm_priority(a.name) for a in alarms)
    for level, colour in (("high", svg.PURPLE), ("medium", svg.YELLOW)):
        if level in priorities:
            items.append("<span><svg width='26' height='10'><rect width='26' height='9' fill='%s' stroke='#333'/></svg> %s-priority alarm</span>" % (colour, level))
    return "<p class='legend'>%s</p>" % "".join(items)


def page(s, plist, verified, source, charted, listed):
    total = s.totals()
    tl, used, lockout_drawn = report_timeline.timeline(s, plist, charted)
    notes = []
    if len(charted) < len(s.known_days()):
        notes.append("The charts show the last %d of the %d days with records." % (len(charted), len(s.known_days())))
    if len(listed) < len(s.ordered()):
        notes.append("The table lists the last %d of the %d days with records; the period totals count every day." % (len(listed), len(s.ordered())))
    untimed = s.days.get(None)
    if untimed is not None and untimed.presses:
        notes.append("%d presses have no known time (the handheld had not learnt the pump's time): they are counted under 'time unknown', not drawn." % untimed.presses)
    if not lockout_drawn:
        notes.append("No lockout window is drawn: the log does not hold the lockout (give the prescription file with --rx).")
    note = "".join("<p class='note'>%s</p>" % e(n) for n in notes)
    return "".join([
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Patient handheld review</title><style>%s</style></head><body>" % CSS,
        "<h1>Patient handheld review</h1><p class='note'>A demonstrator, not a medical device. Made by <code>pp-clinician report</code> from the handheld's event log.</p>",
        _header(s, plist, verified, source),
        "<h2 id='glance'>At a glance</h2>", _glance(s, total),
        "<h2 id='days'>Per day</h2>", note, _days_table(s, listed, total),
        "<p class='note'>A request counts on the day it was pressed. &micro;g given: the prescribed dose of each dose given (the log does not hold how much of a dose stopped part-way by an alarm was delivered). Rows with 2 or more presses per dose given are shaded.</p>",
        "<h2 id='daily'>Presses and doses given per day</h2><div class='chart'>%s</div>" % svg.daily_bars(charted),
        "<p class='legend'><span><svg width='14' height='14'><rect width='14' height='14' fill='%s'/></svg> presses (demands)</span><span><svg width='14' height='14'><rect width='14' height='14' fill='%s'/></svg> doses given</span></p>" % (svg.GREY, svg.GREEN),
        "<h2 id='hours'>Demands and doses by hour of day</h2><div class='chart'>%s</div>" % svg.heatmap(charted, total),
        "<h2 id='timeline'>Timeline</h2>", _legend(used, lockout_drawn, s.alarms),
        "<div class='chart'>%s</div>" % tl,
        "<p class='note'>Hover a marker for its time and outcome. Markers too close to sit side by side are moved up or down; &ldquo;+N&rdquo; counts any that still had no room.</p>",
        "<h2 id='alarms'>Alarms</h2>", _alarms_table(s),
        "<h2 id='reasons'>Refusals explained</h2>", _reasons_table(total),
        "<h2 id='faults'>Faults</h2>", _faults(s),
        "<h2 id='integrity'>Log integrity</h2>", _integrity(verified),
        "</body></html>\n",
    ])
