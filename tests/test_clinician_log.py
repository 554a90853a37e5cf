"""tools.clinician pull-log / verify-log / report on logs written by firmware.eventlog.EventLog:
container round trip, a flipped byte named by offset, report files and counts, a corrupt
log reported with what is intact."""

import os

import pytest

from firmware import eventlog as ev
from firmware import policy
from hal.fakes import MemStorage
from hal.storage import FileStorage
from tests.test_clinician_program import Run
from tools.clinician import logfile

DAY = 86400
BASE = 12 * DAY  # pump day 12
NEXT_UNKNOWN = 0xFFFFFFFF
LOCKOUT = policy.REASON_CODES["lockout"]
MAX_24H = policy.REASON_CODES["max_24h"]
NOT_SYNCED = policy.REASON_CODES["not_synced"]


def scenario(storage, segment_bytes=4096):
    """Three pump days of use with known counts (see EXPECTED)."""
    log = ev.EventLog(storage, segment_bytes=segment_bytes)
    log.open()
    log.append(ev.BOOT, -1, 1)
    log.append(ev.PRESS, -1)
    log.append(ev.DENIED, -1, NOT_SYNCED, NEXT_UNKNOWN)
    log.append(ev.SYNCED, BASE + 100, 0x50554D50, 0)
    log.append(ev.RX_CHANGE, -1, 3, 1, 0)
    rid = 1
    for day in range(3):
        t0 = BASE + day * DAY + 8 * 3600
        for k in range(4):
            t = t0 + k * 4 * 3600
            log.append(ev.PRESS, t)
            log.append(ev.GRANTED, t, rid, 500, 60)
            log.append(ev.DELIVERED, t + 1, rid, 500, t + 1)
            rid += 1
            log.append(ev.PRESS, t + 600)
            log.append(ev.DENIED, t + 600, LOCKOUT, t + 1 + 3600)
    log.append(ev.ALARM, BASE + DAY + 5000, 1, 1)  # low reservoir raised on day 13
    log.append(ev.ALARM, BASE + DAY + 9000, 3, 2)  # empty reservoir raised on day 13
    log.append(ev.PRESS, BASE + 2 * DAY + 80000)
    log.append(ev.DENIED, BASE + 2 * DAY + 80000, MAX_24H, BASE + 3 * DAY)
    t = BASE + 2 * DAY + 82000
    log.append(ev.PRESS, t)
    log.append(ev.GRANTED, t, rid, 500, 60)
    log.append(ev.UNCERTAIN, t, rid, 500)
    log.append(ev.SETTLED, t + 100, rid, 1, t + 1)
    rid += 1
    t = BASE + 2 * DAY + 84000
    log.append(ev.PRESS, t)
    log.append(ev.GRANTED, t, rid, 500, 60)
    log.append(ev.PUMP_REFUSED, t, rid, 1)  # pump said lockout
    log.append(ev.FAULT, BASE + 2 * DAY + 85000, ev.FAULT_LINK, 0)
    return log


EXPECTED_DAYS = [
    "  Tue 13 Jan 1970: presses 8, given 4 (2000 ug), presses per dose 2.0, refused 4 (within the lockout interval 4); no reply 0, settled 0 given / 0 not",
    "  Wed 14 Jan 1970: presses 8, given 4 (2000 ug), presses per dose 2.0, refused 4 (within the lockout interval 4); no reply 0, settled 0 given / 0 not",
    "  Thu 15 Jan 1970: presses 11, given 5 (2500 ug), presses per dose 2.2, refused 6 (within the lockout interval 4; 24-hour maximum reached 1; "
    "refused by the pump: within the lockout interval 1); no reply 1, settled 1 given / 0 not",
    "  time unknown: presses 1, given 0 (0 ug), presses per dose -, refused 1 (handheld not yet synchronised with the pump 1); no reply 0, settled 0 given / 0 not",
]
EXPECTED_TOTAL = (
    "Total: presses 28, given 13 (6500 ug), presses per dose 2.2, refused 15 (within the lockout interval 12; 24-hour maximum reached 1; "
    "handheld not yet synchronised with the pump 1; refused by the pump: within the lockout interval 1); no reply 1, settled 1 given / 0 not."
)


@pytest.fixture
def board(tmp_path):
    root = tmp_path / "vb"
    (root / "data").mkdir(parents=True)
    log = scenario(FileStorage(str(root / "data")))
    return {"root": str(root), "data": root / "data", "tmp": tmp_path, "count": log.count}


def pull(board):
    out = str(board["tmp"] / "log.bin")
    r = Run(["pull-log", "--board-dir", board["root"], "--out", out])
    assert r.code == 0, r.stderr
    return out


def test_pull_log_container(board):
    path = pull(board)
    with open(path, "rb") as f:
        blob = f.read()
    assert blob.startswith(b"PPLOG1\n")
    segs = logfile.unpack(blob)
    assert [s.name for s in segs] == ["events.0", "events.1"]
    assert segs[0].data == (board["data"] / "events.0").read_bytes()
    assert segs[1].data == b"" and not (board["data"] / "events.1").exists()  # not rotated yet
    assert blob[segs[0].offset : segs[0].offset + 26] == segs[0].data[:26]


def test_pull_log_no_log(tmp_path):
    (tmp_path / "empty").mkdir()
    r = Run(["pull-log", "--board-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "x.bin")])
    assert r.code == 1 and r.stderr == "The board folder %s has no event log (no events.0 or events.1)." % (tmp_path / "empty")


def test_verify_log_intact_across_both_segments(tmp_path):
    root = tmp_path / "vb"
    root.mkdir()
    log = scenario(FileStorage(str(root)), segment_bytes=26 * 40)  # forces a rotation
    assert (root / "events.1").stat().st_size > 0
    out = str(tmp_path / "log.bin")
    assert Run(["pull-log", "--board-dir", str(root), "--out", out]).code == 0
    r = Run(["verify-log", out])
    assert r.code == 0, r.stderr
    assert "total: %d intact records, 0 bad bytes: the log is intact" % log.count in r.stdout
    verified = logfile.verify(logfile.read(out))
    assert [x.seq for x in verified.records] == [x.seq for x in log.records()]


def test_verify_log_flipped_byte_named(board):
    path = pull(board)
    with open(path, "rb") as f:
        blob = bytearray(f.read())
    seg0 = logfile.unpack(bytes(blob))[0]
    target = seg0.offset + 26 * 5 + 9  # inside the sixth record
    blob[target] ^= 0x40
    with open(path, "wb") as f:
        f.write(blob)
    r = Run(["verify-log", path])
    assert r.code == 1
    start = seg0.offset + 26 * 5
    assert r.stderr == "The log %s is damaged: 26 bad bytes, the first at offset %d." % (path, start)
    assert "events.0: %d intact records, 26 bad bytes" % (board["count"] - 1) in r.stdout
    assert "bad: 26 bytes at file offset %d (events.0 offset 130)" % start in r.stdout


def test_verify_raw_segment_with_torn_tail(tmp_path):
    s = MemStorage()
    log = scenario(s)
    raw = bytes(s.files["events.0"]) + b"\xe5\x02\x00"  # a torn append
    p = tmp_path / "events.0"
    p.write_bytes(raw)
    r = Run(["verify-log", str(p)])
    assert r.code == 1
    assert "%d intact records, 3 bad bytes" % log.count in r.stdout
    assert "the first at offset %d" % (26 * log.count) in r.stderr


def test_every_single_byte_flip_detected(tmp_path):
    s = MemStorage()
    scenario(s)
    data = bytes(s.files["events.0"])[: 26 * 8]
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        v = logfile.verify([logfile.Segment("events.0", 0, bytes(bad))])
        assert v.bad_bytes == 26 and v.bad_ranges == [(i - i % 26, 26, "events.0", i - i % 26)]


def test_container_cut_short(board, tmp_path):
    path = pull(board)
    with open(path, "rb") as f:
        blob = f.read()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(blob[:100])
    r = Run(["verify-log", str(cut)])
    assert r.code == 1 and "cut short" in r.stderr and len(r.err) == 1


def test_report(board):
    path = pull(board)
    out = board["tmp"] / "report"
    r = Run(["report", path, "--out", str(out)])
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    for expected in EXPECTED_DAYS + [EXPECTED_TOTAL]:
        assert expected in lines, expected
    assert "Log integrity: every record intact (0 bad bytes)." in lines
    assert (
        "Prescription version 3; in force from Tue 13 Jan 1970 08:00 (installed at a time the log does not hold; in force from "
        "the next timed record); the log holds its version only; give its file with --rx for the lockout and limits." in lines
    )
    assert "Alarm: reservoir low raised Wed 14 Jan 1970 01:23, ongoing at end of log." in lines
    assert "Alarm: reservoir empty raised Wed 14 Jan 1970 02:30, ongoing at end of log." in lines
    assert "Faults: link to the pump lost x1 (every one in the HTML report)." in lines
    html = (out / "index.html").read_text()
    assert "<td class='d'>Wed 14 Jan 1970</td><td class='n'>8</td><td class='n'>4</td><td class='n'>2000</td><td class='n'>2.0</td>" in html
    assert "<td>period</td><td class='n'>28</td><td class='n'>13</td><td class='n'>6500</td>" in html
    assert "Log intact: %d records, 0 bad bytes." % board["count"] in html
    assert "No lockout window is drawn: the log does not hold the lockout" in html
    assert "<img" not in html and "src=" not in html  # one self-contained page


def test_report_lockout_given_is_drawn_never_inferred(board):
    path = pull(board)
    r = Run(["report", path, "--html", str(board["tmp"] / "r.html"), "--lockout-s", "1800"])
    assert r.code == 0, r.stderr
    html = (board["tmp"] / "r.html").read_text()
    assert html.count("<title>lockout 30 min from ") == 13  # one per dose given
    assert "No lockout window is drawn" not in html


def test_report_on_corrupt_log(board):
    path = pull(board)
    with open(path, "rb") as f:
        blob = bytearray(f.read())
    seg0 = logfile.unpack(bytes(blob))[0]
    # damage two records: the 2nd PRESS of day 12 (a lockout attempt) and its DENIED
    first = seg0.offset + 26 * 8
    blob[first + 3] ^= 0xFF
    blob[first + 26 + 3] ^= 0xFF
    with open(path, "wb") as f:
        f.write(blob)
    out = board["tmp"] / "r2"
    r = Run(["report", path, "--out", str(out)])
    assert r.code == 0, r.stderr
    assert (
        "LOG DAMAGED: 52 bad bytes (2 record slots, first at file offset %d); this report covers the %d intact records."
        % (first, board["count"] - 2)
        in r.stdout
    )
    assert "  Tue 13 Jan 1970: presses 7, given 4 (2000 ug), presses per dose 1.8, refused 3 (within the lockout interval 3);" in r.stdout
    html = (out / "index.html").read_text()
    assert "Log damaged: 52 bad bytes (2 record slots)" in html
    assert "52 bytes at file offset %d (events.0 offset 208)" % first in html


def test_report_on_garbage_file(tmp_path):
    """A file that is not an event log (no intact record) is refused, not reported as a
    damaged log with nothing in it (issue 11, defect 8); verify-log still shows the damage."""
    p = tmp_path / "junk.bin"
    p.write_bytes(os.urandom(300))
    r = Run(["report", str(p), "--out", str(tmp_path / "r")])
    assert r.code == 1 and len(r.err) == 1 and r.stdout == ""
    assert r.stderr.startswith("The file %s is not an event log: only 0 of its 300 bytes are intact records" % p)
    assert not (tmp_path / "r").exists()
    v = Run(["verify-log", str(p)])
    assert v.code == 1 and "0 intact records" in v.stdout
