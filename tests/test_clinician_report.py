"""The clinic report (issue 14): its figures checked against a log built here record by record
(per-day counts, µg, presses per dose, reasons in words, alarm durations, heat-map cells, faults
grouped, prescriptions matched by version), the timeline keeping markers 30 s apart legible, the
HTML well-formed and self-contained, and anything that is not an event log refused."""

import html.parser
import os
import re
import struct
import zlib

import pytest

from firmware import eventlog as ev
from firmware import policy
from hal.fakes import MemStorage
from tests.test_clinician_program import Run
from tools.clinician import report_data, report_rx, report_timeline
from tools.clinician import report_words as words

H = 3600
D0 = 20000 * 86400  # Fri 04 Oct 2024 00:00 on the pump's clock
D1 = D0 + 86400
D2 = D1 + 86400
NEXT_UNKNOWN = 0xFFFFFFFF
RX_TEXT = "version=2\ndose_ug=500\nduration_s=60\nlockout_s=3600\nmax_per_24h=4\ncap_ug=0\ncap_window_s=0\n"


def code(name):
    return policy.REASON_CODES[name]


def build_log():
    """Two days of use and one alarm into a third; every figure below is counted by hand."""
    log = ev.EventLog(MemStorage())
    log.open()
    log.append(ev.BOOT, -1, 1)
    log.append(ev.PRESS, -1)
    log.append(ev.DENIED, -1, code("not_synced"), NEXT_UNKNOWN)
    log.append(ev.RX_CHANGE, -1, 1, 0, 4)  # version 1 refused: rollback
    log.append(ev.RX_CHANGE, -1, 2, 1, 0)  # version 2 installed, time unknown
    log.append(ev.FAULT, -1, ev.FAULT_HANDHELD, 3, 1)  # a ValueError
    # day 0
    log.append(ev.SYNCED, D0 + 8 * H - 10, 0x50554D50, 0)
    for t, rid in ((D0 + 8 * H, 1), (D0 + 12 * H, 2)):
        log.append(ev.PRESS, t)
        log.append(ev.GRANTED, t, rid, 500, 60)
        log.append(ev.DELIVERED, t + 1, rid, 500, t + 1)
    log.append(ev.PRESS, D0 + 8 * H + 30)  # 30 s after the 08:00 press
    log.append(ev.DENIED, D0 + 8 * H + 30, code("lockout"), D0 + 9 * H + 1)
    for t in (D0 + 12 * H + 1800, D0 + 12 * H + 2400):
        log.append(ev.PRESS, t)
        log.append(ev.DENIED, t, code("lockout"), D0 + 13 * H + 1)
    log.append(ev.FAULT, D0 + 10 * H, ev.FAULT_LINK, 0)
    t = D0 + 20 * H
    log.append(ev.PRESS, t)
    log.append(ev.GRANTED, t, 3, 500, 60)
    log.append(ev.PUMP_REFUSED, t + 1, 3, 1)  # the pump said lockout
    # day 1
    log.append(ev.FAULT, D1 + 3 * H, ev.FAULT_PUMP_CLOCK, 3600, 0)
    t = D1 + 9 * H
    log.append(ev.PRESS, t)
    log.append(ev.GRANTED, t, 4, 500, 60)
    log.append(ev.UNCERTAIN, t + 5, 4, 500)
    log.append(ev.FAULT, D1 + 9 * H + 240, ev.FAULT_LINK, 0)
    log.append(ev.PRESS, D1 + 9 * H + 300)
    log.append(ev.DENIED, D1 + 9 * H + 300, code("no_link"), NEXT_UNKNOWN)
    log.append(ev.SETTLED, D1 + 9 * H + 600, 4, 1, t + 2)
    t = D1 + 10 * H + 30 * 60
    log.append(ev.PRESS, t)
    log.append(ev.GRANTED, t, 5, 500, 60)
    log.append(ev.UNCERTAIN, t + 5, 5, 500)
    log.append(ev.FAULT, t + 6, ev.FAULT_LINK, 0)
    log.append(ev.SETTLED, t + 900, 5, 0, 0)
    t = D1 + 11 * H + 15 * 60
    log.append(ev.PRESS, t)
    log.append(ev.GRANTED, t, 6, 500, 60)
    log.append(ev.DELIVERED, t + 1, 6, 500, t + 1)
    log.append(ev.ALARM, D1 + 14 * H, 0x04, 0x04)  # motor stall
    log.append(ev.ALARM, D1 + 14 * H + 25 * 60, 0, 0)  # cleared 25 min later
    log.append(ev.PRESS, D1 + 23 * H)
    log.append(ev.DENIED, D1 + 23 * H, code("max_24h"), D2 + 8 * H + 1)
    log.append(ev.ALARM, D1 + 22 * H, 0x01, 0x01)  # low reservoir ...
    log.append(ev.BOOT, -1, 2)
    log.append(ev.ALARM, D2 + 1 * H, 0x01, 0x01)  # ... re-learnt after a reboot: the same alarm
    log.append(ev.SYNCED, D2 + 2 * H, 0x50554D50, 4)
    return list(log.records())


@pytest.fixture(scope="module")
def summary():
    return report_data.summarize(build_log())


def test_per_day_counts_ug_and_ratio(summary):
    d0, d1 = summary.days[D0 // 86400], summary.days[D1 // 86400]
    assert (d0.presses, d0.given, d0.ug, d0.ratio()) == (6, 2, 1000, 3.0)
    assert dict(d0.refused) == {"lockout": 3, "pump:lockout": 1}
    assert (d1.presses, d1.given, d1.ug, d1.ratio()) == (5, 2, 1000, 2.5)
    assert dict(d1.refused) == {"no_link": 1, "max_24h": 1}
    assert (d1.uncertain, d1.settled_given, d1.settled_not) == (2, 1, 1)
    unknown = summary.days[None]
    assert (unknown.presses, dict(unknown.refused)) == (1, {"not_synced": 1})
    total = summary.totals()
    assert (total.presses, total.given, total.ug, total.refused_total()) == (12, 4, 2000, 7)


def test_heat_map_cells(summary):
    d0 = summary.days[D0 // 86400]
    assert [(h, n) for h, n in enumerate(d0.demand_h) if n] == [(8, 2), (12, 3), (20, 1)]
    assert [(h, n) for h, n in enumerate(d0.given_h) if n] == [(8, 1), (12, 1)]
    total = summary.totals()
    assert [(h, n) for h, n in enumerate(total.demand_h) if n] == [(8, 2), (9, 2), (10, 1), (11, 1), (12, 3), (20, 1), (23, 1)]
    assert [(h, n) for h, n in enumerate(total.given_h) if n] == [(8, 1), (9, 1), (11, 1), (12, 1)]


def test_alarm_durations(summary):
    stall, low = summary.alarms
    assert (stall.name, stall.start, stall.cleared, stall.seconds(summary.last_t)) == ("motor_stall", D1 + 14 * H, True, 25 * 60)
    # raised at 22:00, re-learnt after a reboot at 01:00 (one episode), active at the last record 02:00
    assert (low.name, low.start, low.cleared, low.seconds(summary.last_t)) == ("low_reservoir", D1 + 22 * H, False, 4 * H)


def test_faults_grouped(summary):
    groups = summary.fault_groups()
    assert groups == [
        (ev.FAULT_LINK, 3, D0 + 10 * H, D1 + 10 * H + 30 * 60 + 6),
        (ev.FAULT_PUMP_CLOCK, 1, D1 + 3 * H, D1 + 3 * H),
        (ev.FAULT_HANDHELD, 1, -1, -1),
    ]
    assert summary.clock_sets == [(D1 + 3 * H, 3600, False)]
    assert words.fault_detail(ev.FAULT_HANDHELD, 3, 1) == "ValueError, 1 in a row"
    assert words.fault_detail(ev.FAULT_PUMP_CLOCK, 3600, 0) == "forward by 1 h 00 min"


def test_prescription_matched_by_version(summary, tmp_path):
    rx_file = tmp_path / "rx.txt"
    rx_file.write_text(RX_TEXT)
    plist = report_rx.periods(summary, [report_rx.load(str(rx_file))])
    assert len(plist) == 1
    p = plist[0]
    # installed at an unknown time, before the first timed record: in force from that record
    assert (p.version, p.from_t, p.lockout_s, p.mismatch) == (2, D0 + 8 * H - 10, 3600, False)
    assert p.doses == [(500, 60, 6)]
    none = report_rx.periods(summary, [])
    assert (none[0].version, none[0].lockout_s) == (2, None) and "--rx" in none[0].note
    assert report_rx.lockout_at(plist, D0 + 9 * H) == 3600


def test_words_not_codes():
    assert words.reason_words("max_24h") == "24-hour maximum reached"
    assert words.reason_words("no_link") == "no link to the pump"
    assert words.reason_words("pump:lockout") == "refused by the pump: within the lockout interval"
    assert words.patient_read("lockout") == "Not given: too soon"  # the handheld's own screen text
    assert words.alarm_words("battery_eri") == "pump battery at replacement time (ERI)"
    assert words.stamp(D0 + 8 * H) == "Fri 04 Oct 2024 08:00"
    assert words.duration(25 * 60) == "25 min" and words.duration(4 * H) == "4 h 00 min"


def test_timeline_keeps_presses_30_s_apart_legible():
    row = report_timeline._Row(100, report_timeline.DODGE_REFUSED)
    x0 = report_timeline._x(8 * H)
    ys = [row.place(x0), row.place(report_timeline._x(8 * H + 30)), row.place(report_timeline._x(8 * H + 60))]
    assert ys[0] == 100
    placed = [y for y in ys if y is not None]
    assert len(placed) == 3
    gap = 2 * report_timeline.R
    for i in range(3):
        for j in range(i):
            assert abs(placed[i] - placed[j]) >= gap
    assert row.place(report_timeline._x(8 * H + 90)) is None  # a fourth has no room: counted as +1
    assert [p[2] for p in row.placed] == [0, 0, 1]  # beside the nearest one


class _Checker(html.parser.HTMLParser):
    VOID = {"meta", "br", "link", "img", "input", "hr", "line", "rect", "circle", "polygon", "path"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.ids, self.text = [], [], set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for name in ("src", "href"):
            if name in a:
                self.errors.append("external reference %s=%s" % (name, a[name]))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes %s" % (tag, self.stack[-1:] or "nothing"))
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _write(tmp_path, records_log=None):
    path = tmp_path / "events.0"
    records = records_log or build_log()
    raw = b"".join(_raw(r) for r in records)
    path.write_bytes(raw)
    return str(path)


def _raw(r):
    body = struct.pack("<BBIIIII", 0xE5, r.kind, r.seq, 0xFFFFFFFF if r.t_s < 0 else r.t_s, r.a, r.b, r.c)
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def test_html_is_well_formed_self_contained_with_every_section(tmp_path):
    log = _write(tmp_path)
    rx_file = tmp_path / "rx.txt"
    rx_file.write_text(RX_TEXT)
    out = tmp_path / "review.html"
    r = Run(["report", log, "--rx", str(rx_file), "--html", str(out)])
    assert r.code == 0, r.stderr
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    c = _Checker()
    c.feed(page)
    c.close()
    assert c.errors == [] and c.stack == []
    assert {"prescription", "glance", "days", "daily", "hours", "timeline", "alarms", "reasons", "faults", "integrity"} <= c.ids
    text = " ".join(c.text)
    assert "Fri 04 Oct 2024 07:59 to Sun 06 Oct 2024 02:00 (pump clock)" in text
    assert "3 × within the lockout interval" in text and "24-hour maximum reached" in text
    assert "max_24h" not in text and "no_link" not in text
    assert "ongoing at end of log" in text and "25 min" in text
    assert "forward 1 h 00 min" in text  # the clock set, in the header
    assert page.count("<svg xmlns=") == 3  # daily bars, heat map, timeline
    # heat-map cells carry their count; the lockout windows come from the prescription
    assert "Fri 04 Oct 12:00-12:59: 3</title>" in page
    assert page.count("<title>lockout 1 h 00 min from ") == 4
    # the timeline draws the press 30 s after a dose and the dose, each with its own marker
    assert "Fri 04 Oct 2024 08:00:00: dose given" in page and "Fri 04 Oct 2024 08:00:30: refused: lockout" in page
    assert re.search(r"<td class='d'>Fri 04 Oct 2024</td><td class='n'>6</td><td class='n'>2</td><td class='n'>1000</td><td class='n'>3.0</td>", page)


def test_text_summary_and_out_folder(tmp_path):
    log = _write(tmp_path)
    r = Run(["report", log, "--out", str(tmp_path / "rep")])
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "  Sat 05 Oct 2024: presses 5, given 2 (1000 ug), presses per dose 2.5, refused 2 (24-hour maximum reached 1; no link to the pump 1); no reply 2, settled 1 given / 1 not" in lines
    assert "Alarm: motor stall raised Sat 05 Oct 2024 14:00, cleared Sat 05 Oct 2024 14:25 (25 min)." in lines
    assert "Alarm: reservoir low raised Sat 05 Oct 2024 22:00, ongoing at end of log." in lines
    assert any(ln.startswith("Faults: link to the pump lost x3; pump clock set x1;") for ln in lines)
    assert any(ln.startswith("Prescription version 2; in force from Fri 04 Oct 2024 07:59") for ln in lines)
    assert (tmp_path / "rep" / "index.html").stat().st_size > 10000


def test_not_a_log_is_refused(tmp_path):
    readme = os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")
    r = Run(["report", readme, "--html", str(tmp_path / "r.html")])
    assert r.code == 1 and len(r.err) == 1 and "is not an event log" in r.stderr and r.stdout == ""
    assert not (tmp_path / "r.html").exists()
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    r = Run(["report", str(empty)])
    assert r.code == 1 and r.err == ["The log %s holds no records: there is nothing to report." % empty]


def test_torn_log_still_reports_what_is_readable(tmp_path):
    log = _write(tmp_path)
    with open(log, "ab") as f:
        f.write(b"\xe5\x02\x99\x00")  # a record torn by a power cut
    r = Run(["report", log, "--html", str(tmp_path / "r.html")])
    assert r.code == 0, r.stderr
    assert "LOG DAMAGED: 4 bad bytes" in r.stdout
    assert "Log damaged: 4 bad bytes" in (tmp_path / "r.html").read_text()


def test_bad_rx_file_is_one_sentence(tmp_path):
    log = _write(tmp_path)
    bad = tmp_path / "rx.txt"
    bad.write_text("version=2\n")
    r = Run(["report", log, "--rx", str(bad)])
    assert r.code == 2 and len(r.err) == 1 and r.stderr.startswith("--rx %s is not a valid prescription" % bad)


def test_decades_of_pump_time_stay_bounded(tmp_path):
    """One press every 37 days from 1970 to 2025 and an alarm never cleared: the page draws
    the last 31 days with records, the alarm band only on them."""
    recs = build_log()[:6]
    seq = 100
    for i in range(600):
        recs.append(ev.Record(seq + i, ev.PRESS, 1000100 + i * 37 * 86400 // 12, 0, 0, 0))
    recs.append(ev.Record(seq + 700, ev.ALARM, 1000200, 0x02, 0x02, 0))
    recs.append(ev.Record(seq + 701, ev.PRESS, 1764730000, 0, 0, 0))
    log = _write(tmp_path, recs)
    out = tmp_path / "r.html"
    r = Run(["report", log, "--html", str(out), "--lockout-s", "86400"])
    assert r.code == 0, r.stderr
    page = out.read_text()
    assert "The charts show the last 31 of the 601 days with records." in page
    assert "The table lists the last 366 of the 602 days with records" in page
    assert page.count("reservoir empty (high priority) from") == 31
    assert len(page) < 2_000_000


def test_a_request_the_log_ends_before_is_named(tmp_path):
    recs = build_log()
    last = recs[-1].seq
    t = D2 + 3 * H
    recs += [ev.Record(last + 1, ev.PRESS, t, 0, 0, 0), ev.Record(last + 2, ev.GRANTED, t, 7, 500, 60)]
    s = report_data.summarize(recs)
    assert s.requests[7].outcome == report_data.NO_OUTCOME
    d2 = s.days[D2 // 86400]
    assert (d2.presses, d2.given, d2.refused_total()) == (1, 0, 0)
    out = tmp_path / "r.html"
    r = Run(["report", _write(tmp_path, recs), "--html", str(out)])
    assert r.code == 0, r.stderr
    page = out.read_text()
    assert "1 request sent with no outcome in the log (the log ends before it)" in page
    assert "Sun 06 Oct 2024 03:00:00: sent; no outcome in the log" in page
