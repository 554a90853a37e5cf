"""The clinic report from a pulled event log: a text summary and one self-contained HTML page.

`build(verified, ...)` computes the figures (report_data), matches the prescriptions
(report_rx), writes the page (report_html, with inline SVG charts from report_svg and
report_timeline) and returns the text summary (`text_summary`). Days are calendar days of the
pump's clock (report_words). Bounded for any log: only days with records count, the charts show
the last MAX_CHART_DAYS of them and the tables the last MAX_TABLE_DAYS.
"""

import os

from tools.clinician import report_data, report_html, report_rx
from tools.clinician import report_words as words
from tools.clinician.errors import EXIT_NO_DEVICE, ClinicianError
from tools.clinician.report_data import summarize  # noqa: F401 (the figures, for callers)

MAX_CHART_DAYS = 31  # days drawn in the charts: the last ones with records
MAX_TABLE_DAYS = 366  # days listed one by one in the table and the text
MAX_TEXT_ITEMS = 50  # alarms and prescriptions named one by one in the text (a damaged log can hold thousands)


def _days_text(d):
    refused = "; ".join("%s %d" % (words.reason_words(k), n) for k, n in sorted(d.refused.items(), key=lambda kv: (-kv[1], kv[0])))
    return "presses %d, given %d (%d ug), presses per dose %s, refused %d%s; no reply %d, settled %d given / %d not" % (
        d.presses, d.given, d.ug, ("%.1f" % d.ratio()) if d.ratio() is not None else "-", d.refused_total(),
        (" (%s)" % refused) if refused else "", d.uncertain, d.settled_given, d.settled_not)


def text_summary(s, plist, verified, source, listed):
    lines = []
    span = "%s to %s" % (words.stamp(s.first_t), words.stamp(s.last_t)) if s.first_t is not None else "no timed records"
    lines.append("Event log %s: %d intact records, %s (pump clock)." % (source, len(verified.records), span))
    if verified.bad_bytes:
        first = verified.bad_ranges[0][0] if verified.bad_ranges else 0
        lines.append(
            "LOG DAMAGED: %d bad bytes (%d record slots, first at file offset %d); this report covers the %d intact records."
            % (verified.bad_bytes, verified.damaged_slots(), first, len(verified.records)))
    else:
        lines.append("Log integrity: every record intact (0 bad bytes).")
    if len(plist) > MAX_TEXT_ITEMS:
        lines.append("Prescriptions: the last %d of %d (the HTML report lists more)." % (MAX_TEXT_ITEMS, len(plist)))
    for p in plist[-MAX_TEXT_ITEMS:]:
        what = "version %s" % (p.version if p.version is not None else "unknown")
        if p.rx is not None:
            what += ": %d ug over %s, lockout %s, at most %d per 24 h" % (
                p.rx.dose_ug, words.duration(p.rx.duration_s), words.duration(p.rx.lockout_s), p.rx.max_per_24h)
        frm = "the start of the log" if p.from_t is None else words.stamp(p.from_t)
        if p.version is None and p.rx is None:
            lines.append("Prescription in force from %s: unknown (%s)." % (frm, p.note))
            continue
        lines.append("Prescription %s; in force from %s (%s)%s." % (what, frm, p.how, ("; " + p.note) if p.note else ""))
    if len(listed) < len(s.ordered()):
        lines.append("Per day: the last %d of the %d days with records." % (len(listed), len(s.ordered())))
    for d in listed:
        label = words.date_label(d.key) if d.key is not None else "time unknown"
        lines.append("  %s: %s" % (label, _days_text(d)))
    lines.append("Total: " + _days_text(s.totals()) + ".")
    if len(s.alarms) > MAX_TEXT_ITEMS:
        lines.append("Alarms: the last %d of %d (the HTML report lists more)." % (MAX_TEXT_ITEMS, len(s.alarms)))
    for a in s.alarms[-MAX_TEXT_ITEMS:]:
        lines.append("Alarm: %s raised %s, %s." % (
            words.alarm_words(a.name), words.stamp(a.start),
            ("cleared %s (%s)" % (words.stamp(a.end), words.duration(a.seconds(s.last_t) or 0))) if a.cleared else "ongoing at end of log"))
    if not s.alarms:
        lines.append("Alarms: none.")
    groups = s.fault_groups()
    if groups:
        lines.append("Faults: " + "; ".join("%s x%d" % (words.fault_words(code), n) for code, n, _, _ in groups) + " (every one in the HTML report).")
    return "\n".join(lines)


def build(verified, out_dir=None, html_path=None, rx_files=(), lockout_s=None, source="log"):
    """The text summary; also writes the HTML page to `html_path` and/or `out_dir`/index.html."""
    rxs = [report_rx.load(p) for p in rx_files]
    s = report_data.summarize(verified.records)
    plist = report_rx.periods(s, rxs, lockout_s)
    ordered = s.ordered()
    listed = ordered[-MAX_TABLE_DAYS:]
    charted = [d for d in ordered if d.key is not None][-MAX_CHART_DAYS:]
    text = text_summary(s, plist, verified, source, listed)
    targets = []
    if out_dir is not None:
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as err:
            raise ClinicianError("Cannot create the report folder %s: %s." % (out_dir, err.strerror), EXIT_NO_DEVICE)
        targets.append(os.path.join(out_dir, "index.html"))
    if html_path is not None:
        targets.append(html_path)
    if targets:
        page = report_html.page(s, plist, verified, source, charted, listed)
        for path in targets:
            try:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(page)
            except OSError as err:
                raise ClinicianError("Cannot write the report %s: %s." % (path, err.strerror), EXIT_NO_DEVICE)
            text += "\nReport written to %s." % path
    return text
