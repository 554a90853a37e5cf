"""The clinic report from a pulled event log: per-day counts, plots and an HTML page.

`summarize(records)` turns firmware.eventlog records into per-day figures (presses, given,
refused by reason, uncertain/settled, alarms); `build(verified, out_dir)` writes index.html,
timeline.png, daily.png and alarms.png (matplotlib, Agg backend) and returns the plain-text
summary. Days are pump days (pump time // 86400); records with unknown time are counted apart.
"""

import bisect
import collections
import html
import os

from firmware import eventlog as ev
from firmware import messages, policy
from tools.clinician.errors import EXIT_NO_DEVICE, ClinicianError

DAY_S = 86400
NO_NEXT = 0xFFFFFFFF
UNKNOWN_DAY = "unknown"
RX_REFUSALS = {1: "unsigned", 2: "bad_signature", 3: "malformed", 4: "rollback", 5: "no_key"}
MAX_CHART_DAYS = 31  # the plots show at most this many days (the last ones with records)
MAX_LOCKOUT_S = 86400  # a prescription's longest lockout: a longer one is not shaded
MAX_LISTED = 50  # alarms and faults named one by one in the text summary


def hhmmss(t_s):
    t = t_s % DAY_S
    return "%02d:%02d:%02d" % (t // 3600, t // 60 % 60, t % 60)


def when(t_s):
    if t_s is None or t_s < 0:
        return "time unknown"
    return "day %d %s" % (t_s // DAY_S, hhmmss(t_s))


class Day:
    def __init__(self, day):
        self.day = day
        self.presses = 0
        self.granted = 0  # requests sent to the pump
        self.given = 0  # delivered (pump confirmed, or settled as delivered)
        self.refused = collections.Counter()  # reason name -> count (pump reasons as pump:x)
        self.uncertain = 0
        self.settled_given = 0
        self.settled_not = 0
        self.alarms = collections.Counter()  # alarm name -> times raised
        self.faults = collections.Counter()

    def refused_total(self):
        return sum(self.refused.values())

    def refused_text(self):
        if not self.refused:
            return "0"
        parts = ", ".join("%s %d" % (k, v) for k, v in sorted(self.refused.items(), key=lambda kv: (-kv[1], kv[0])))
        return "%d (%s)" % (self.refused_total(), parts)


class Summary:
    def __init__(self):
        self.days = {}  # day int or UNKNOWN_DAY -> Day
        self.points = []  # (t_s, outcome) outcome: 'given', 'uncertain', 'not_given', or a refusal reason
        self.starts = []  # pump start_s of delivered boluses
        self.alarm_events = []  # (t_s, name)
        self.faults = []  # (t_s, name, detail)
        self.rx_changes = []  # (t_s, version, accepted, refusal name)
        self.lockout_s = None
        self.lockout_source = ""  # 'given' or 'inferred from lockout denials'
        self.records = 0

    def day(self, t_s):
        key = t_s // DAY_S if t_s is not None and t_s >= 0 else UNKNOWN_DAY
        if key not in self.days:
            self.days[key] = Day(key)
        return self.days[key]

    def ordered_days(self):
        known = sorted(k for k in self.days if k != UNKNOWN_DAY)
        return [self.days[k] for k in known] + ([self.days[UNKNOWN_DAY]] if UNKNOWN_DAY in self.days else [])

    def totals(self):
        t = Day("total")
        for d in self.days.values():
            t.presses += d.presses
            t.granted += d.granted
            t.given += d.given
            t.refused.update(d.refused)
            t.uncertain += d.uncertain
            t.settled_given += d.settled_given
            t.settled_not += d.settled_not
            t.alarms.update(d.alarms)
            t.faults.update(d.faults)
        return t


def summarize(records, lockout_s=None):
    s = Summary()
    s.records = len(records)
    granted_at = {}  # request_id -> t_s of the GRANTED record
    outcome = {}  # request_id -> 'given' / 'pump:x' / 'uncertain' / 'not_given'
    denials = []  # (t_s, next_s) for lockout denials
    for r in records:
        k = r.kind
        if k == ev.PRESS:
            s.day(r.t_s).presses += 1
        elif k == ev.DENIED:
            reason = policy.REASON_NAMES.get(r.a, "code %d" % r.a)
            s.day(r.t_s).refused[reason] += 1
            if r.t_s >= 0:
                s.points.append((r.t_s, reason))
            if r.a == policy.REASON_CODES[policy.LOCKOUT] and r.b != NO_NEXT and r.t_s >= 0:
                denials.append((r.t_s, r.b))
        elif k == ev.GRANTED:
            s.day(r.t_s).granted += 1
            granted_at[r.a] = r.t_s
            outcome.setdefault(r.a, "sent")
        elif k == ev.DELIVERED:
            if outcome.get(r.a) != "given":
                s.day(granted_at.get(r.a, r.t_s)).given += 1
                s.starts.append(r.c)
            outcome[r.a] = "given"
        elif k == ev.PUMP_REFUSED:
            reason = "pump:" + messages.PUMP_REASONS.get(r.b, str(r.b))
            s.day(granted_at.get(r.a, r.t_s)).refused[reason] += 1
            outcome[r.a] = reason
        elif k == ev.UNCERTAIN:
            if outcome.get(r.a) != "uncertain":
                s.day(granted_at.get(r.a, r.t_s)).uncertain += 1
            outcome[r.a] = "uncertain"
        elif k == ev.SETTLED:
            d = s.day(granted_at.get(r.a, r.t_s))
            if r.b:
                d.settled_given += 1
                if outcome.get(r.a) != "given":
                    d.given += 1
                    s.starts.append(r.c)
                outcome[r.a] = "given"
            else:
                d.settled_not += 1
                outcome[r.a] = "not_given"
        elif k == ev.ALARM:
            for bit in messages.ALARM_ORDER:
                if r.b & bit:
                    name = messages.ALARM_NAMES[bit]
                    s.day(r.t_s).alarms[name] += 1
                    s.alarm_events.append((r.t_s, name))
        elif k == ev.FAULT:
            name = ev.FAULT_NAMES.get(r.a, "fault %d" % r.a)
            s.day(r.t_s).faults[name] += 1
            s.faults.append((r.t_s, name, r.b))
        elif k == ev.RX_CHANGE:
            s.rx_changes.append((r.t_s, r.a, bool(r.b), RX_REFUSALS.get(r.c, "") if not r.b else ""))
    for rid, t in granted_at.items():
        if t >= 0:
            s.points.append((t, outcome.get(rid, "sent")))
    s.points.sort()
    s.starts.sort()
    if lockout_s is not None:
        s.lockout_s, s.lockout_source = lockout_s, "given"
    else:
        s.lockout_s = _infer_lockout(s.starts, denials)
        s.lockout_source = "inferred from lockout denials" if s.lockout_s else ""
    return s


def _infer_lockout(starts, denials):
    """The most common (next_s - start of the bolus before the denial) over lockout denials
    (`starts` sorted); None when there is none, or it is longer than any prescription allows."""
    guesses = collections.Counter()
    for t, next_s in denials:
        i = bisect.bisect_right(starts, t)
        if i and next_s > starts[i - 1]:
            guesses[next_s - starts[i - 1]] += 1
    if not guesses:
        return None
    guess = guesses.most_common(1)[0][0]
    return guess if guess <= MAX_LOCKOUT_S else None


def charted_days(s):
    """The pump days the plots show: the last MAX_CHART_DAYS days that have timed records (a
    log may span decades of pump time; only days with records are drawn, side by side)."""
    return [d.day for d in s.ordered_days() if d.day != UNKNOWN_DAY][-MAX_CHART_DAYS:]


def _listed(items, most=MAX_LISTED):
    """'a; b; c', or the first `most` and how many more (a damaged log can hold thousands)."""
    if len(items) <= most:
        return "; ".join(items)
    return "; ".join(items[:most]) + "; and %d more (see the table)" % (len(items) - most)


def text_summary(s, verified, source):
    lines = []
    span = [d.day for d in s.ordered_days() if d.day != UNKNOWN_DAY]
    days = ("pump days %d..%d" % (span[0], span[-1])) if span else "no timed records"
    lines.append("Event log %s: %d intact records, %s." % (source, len(verified.records), days))
    if verified.bad_bytes:
        first = verified.bad_ranges[0][0] if verified.bad_ranges else 0
        lines.append(
            "LOG DAMAGED: %d bad bytes (%d record slots, first at file offset %d); this report covers the %d intact records."
            % (verified.bad_bytes, verified.damaged_slots(), first, len(verified.records))
        )
    else:
        lines.append("Log integrity: every record intact (0 bad bytes).")
    for t, version, ok, why in s.rx_changes:
        lines.append("Prescription: version %d %s (%s)." % (version, "accepted" if ok else "REFUSED: " + (why or "?"), when(t)))
    lines.append("Per day: presses (attempts), given (delivered), refused by reason, uncertain/settled, alarms")
    for d in s.ordered_days():
        label = "day %s" % d.day if d.day != UNKNOWN_DAY else "time unknown"
        alarms = ", ".join("%s x%d" % kv for kv in sorted(d.alarms.items())) or "none"
        lines.append(
            "  %s: presses %d, given %d, refused %s; uncertain %d, settled %d (%d delivered, %d not); alarms: %s"
            % (label, d.presses, d.given, d.refused_text(), d.uncertain, d.settled_given + d.settled_not, d.settled_given, d.settled_not, alarms)
        )
    t = s.totals()
    lines.append(
        "Total: presses %d, given %d, refused %s; uncertain %d, settled %d."
        % (t.presses, t.given, t.refused_text(), t.uncertain, t.settled_given + t.settled_not)
    )
    if s.alarm_events:
        lines.append("Alarms raised: " + _listed(["%s %s" % (name, when(ts)) for ts, name in s.alarm_events]))
    else:
        lines.append("Alarms raised: none.")
    if s.faults:
        lines.append("Faults: " + _listed(["%s %s" % (name, when(ts)) for ts, name, _ in s.faults]))
    if s.lockout_s:
        lines.append("Lockout shaded in the timeline: %d s (%s)." % (s.lockout_s, s.lockout_source))
    if len(span) > MAX_CHART_DAYS:
        shown = charted_days(s)
        lines.append(
            "Plots: the last %d of the %d days with records (pump days %d..%d); the table covers every day."
            % (len(shown), len(span), shown[0], shown[-1])
        )
    return "\n".join(lines)


# ---- plots -------------------------------------------------------------------------------
_COLOURS = {"given": "#2e7d32", "uncertain": "#ef6c00", "not_given": "#757575", "sent": "#1565c0"}
_REFUSED_PALETTE = ["#c62828", "#6a1b9a", "#ad1457", "#4e342e", "#283593", "#00838f", "#9e9d24", "#d84315", "#37474f"]


def _plots(s, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.patches import Rectangle

    days = charted_days(s)
    pos = {day: i for i, day in enumerate(days)}  # x position of each charted day
    n = max(1, len(days))
    ticks = list(range(len(days)))

    # 1. timeline: one column per charted day, presses at their time of day
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * n + 3), 6))
    if s.lockout_s and days:
        first = True
        lockout = min(s.lockout_s, MAX_LOCKOUT_S)
        for start in s.starts[bisect.bisect_left(s.starts, days[0] * DAY_S - lockout) :]:
            t, end = start, start + lockout
            while t < end:  # at most two days: a lockout is at most one day long
                day, sec = divmod(t, DAY_S)
                seg = min(end - t, DAY_S - sec)
                if day in pos:
                    ax.add_patch(
                        Rectangle(
                            (pos[day] - 0.4, sec / 3600.0), 0.8, seg / 3600.0, color="#ffcc80", alpha=0.45, lw=0,
                            label="lockout window" if first else None,
                        )
                    )
                    first = False
                t += seg
    shown = collections.defaultdict(list)  # outcome -> times in the charted days
    for t, o in s.points:
        if t // DAY_S in pos:
            shown[o].append(t)
    outcomes = sorted(shown, key=lambda o: (o.startswith("pump:") or o not in _COLOURS, o))
    refused = [o for o in outcomes if o not in _COLOURS]
    if len(refused) > len(_REFUSED_PALETTE):  # one colour each, the rest (a damaged log's codes) as one
        keep = refused[: len(_REFUSED_PALETTE) - 1]
        shown["other"] = [t for o in refused[len(keep) :] for t in shown[o]]
        outcomes = [o for o in outcomes if o in _COLOURS] + keep + ["other"]
    refused_i = 0
    for o in outcomes:
        xs = [pos[t // DAY_S] for t in shown[o]]
        ys = [(t % DAY_S) / 3600.0 for t in shown[o]]
        if o in _COLOURS:
            ax.scatter(xs, ys, marker="o", s=46, color=_COLOURS[o], label=o.replace("_", " "), zorder=3)
        else:
            colour = _REFUSED_PALETTE[refused_i % len(_REFUSED_PALETTE)]
            refused_i += 1
            ax.scatter(xs, ys, marker="x", s=46, color=colour, label="refused: " + o, zorder=3)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(24, 0)
    ax.set_yticks(range(0, 25, 3))
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(d) for d in days], rotation=45 if n > 12 else 0)
    ax.set_xlabel("pump day")
    ax.set_ylabel("time of day (h)")
    ax.set_title("Presses: given and refused (with reason)")
    if s.points or s.starts:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "timeline.png"), dpi=90)
    plt.close(fig)

    # 2. daily counts: attempted (presses) and given
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * n + 2), 4))
    attempted = [s.days[d].presses for d in days]
    given = [s.days[d].given for d in days]
    ax.bar([x - 0.2 for x in ticks], attempted, width=0.4, color="#90a4ae", label="attempted (presses)")
    ax.bar([x + 0.2 for x in ticks], given, width=0.4, color="#2e7d32", label="given")
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(d) for d in days], rotation=45 if n > 12 else 0)
    ax.set_xlabel("pump day")
    ax.set_ylabel("count")
    ax.set_title("Daily attempted and given")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "daily.png"), dpi=90)
    plt.close(fig)

    # 3. alarms over time
    fig, ax = plt.subplots(figsize=(8, 3))
    names = [messages.ALARM_NAMES[b] for b in messages.ALARM_ORDER]
    timed = [(t, name) for t, name in s.alarm_events if t >= 0 and t // DAY_S in pos]
    if timed:
        xs = [pos[t // DAY_S] + (t % DAY_S) / float(DAY_S) for t, _ in timed]
        ax.scatter(xs, [names.index(name) for _, name in timed], marker="v", s=60, color="#c62828", zorder=3)
        ax.set_xlim(-0.1, n + 0.1)
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(d) for d in days], rotation=45 if n > 12 else 0)
    else:
        ax.text(0.5, 0.5, "no alarms", transform=ax.transAxes, ha="center", va="center")
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.set_xlabel("pump day")
    ax.set_title("Alarms raised")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "alarms.png"), dpi=90)
    plt.close(fig)
    return ["timeline.png", "daily.png", "alarms.png"]


def _html(s, verified, source, text, images):
    e = html.escape
    rows = []
    for d in s.ordered_days():
        label = "day %s" % d.day if d.day != UNKNOWN_DAY else "time unknown"
        alarms = ", ".join("%s &times;%d" % (e(k), v) for k, v in sorted(d.alarms.items())) or "none"
        rows.append(
            "<tr><td>%s</td><td>%d</td><td>%d</td><td>%s</td><td>%d</td><td>%d</td><td>%s</td></tr>"
            % (e(label), d.presses, d.given, e(d.refused_text()), d.uncertain, d.settled_given + d.settled_not, alarms)
        )
    t = s.totals()
    rows.append(
        "<tr class='total'><td>total</td><td>%d</td><td>%d</td><td>%s</td><td>%d</td><td>%d</td><td>%d raised</td></tr>"
        % (t.presses, t.given, e(t.refused_text()), t.uncertain, t.settled_given + t.settled_not, sum(t.alarms.values()))
    )
    if verified.bad_bytes:
        integrity = "<p class='bad'>Log damaged: %d bad bytes (%d record slots). The report covers the %d intact records.</p><ul>%s</ul>" % (
            verified.bad_bytes,
            verified.damaged_slots(),
            len(verified.records),
            "".join(
                "<li>%d bytes at file offset %d (%s offset %d)</li>" % (n, off, e(name), so)
                for off, n, name, so in verified.bad_ranges
            ),
        )
    else:
        integrity = "<p class='ok'>Log intact: %d records, 0 bad bytes.</p>" % len(verified.records)
    reasons = "".join("<tr><td>%s</td><td>%d</td></tr>" % (e(k), v) for k, v in sorted(t.refused.items()))
    alarms = "".join("<li>%s: %s</li>" % (e(when(ts)), e(n)) for ts, n in s.alarm_events) or "<li>none</li>"
    imgs = "".join("<figure><img src='%s' alt='%s'></figure>" % (i, i) for i in images)
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Patient handheld report</title>
<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}
td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left}.total td{font-weight:bold}
.bad{color:#b71c1c;font-weight:bold}.ok{color:#1b5e20}pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}
img{max-width:100%%}</style></head><body>
<h1>Patient handheld report</h1>
<p>Source: %s. Days are pump days (pump time / 86400 s). A demonstrator, not a medical device.</p>
<h2>Log integrity</h2>%s
<h2>Per day</h2>
<table><tr><th>day</th><th>presses (attempts)</th><th>given</th><th>refused (by reason)</th><th>uncertain</th><th>settled</th><th>alarms</th></tr>
%s</table>
<h2>Refused, by reason</h2><table><tr><th>reason</th><th>count</th></tr>%s</table>
<h2>Alarms</h2><ul>%s</ul>
<h2>Plots</h2>%s
<h2>Summary (as printed)</h2><pre>%s</pre>
</body></html>
""" % (e(source), integrity, "\n".join(rows), reasons, alarms, imgs, e(text))


def build(verified, out_dir, lockout_s=None, source="log"):
    """Write the report into out_dir; returns the text summary."""
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as err:
        raise ClinicianError("Cannot create the report folder %s: %s." % (out_dir, err.strerror), EXIT_NO_DEVICE)
    s = summarize(verified.records, lockout_s)
    text = text_summary(s, verified, source)
    images = _plots(s, out_dir)
    with open(os.path.join(out_dir, "index.html"), "w", encoding="utf-8") as f:
        f.write(_html(s, verified, source, text, images))
    return text + "\nReport written to %s." % os.path.join(out_dir, "index.html")
