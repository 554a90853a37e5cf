"""Bad input to a host tool gets one sentence on stderr and a non-zero exit, in bounded time and
memory, and loses nothing (issue 11, defect 8): every command runs as a real subprocess, under
a 2 GB address-space limit and a 60 s timeout, and every file it was given is left as it was.
Exit status 2 is a bad argument (argparse's convention), 1 any other refusal.
"""

import os
import resource
import struct
import subprocess
import sys
import zlib

import pytest

from tests.mp import REPO

MEMORY_LIMIT = 2 << 30
BINARY = bytes(range(256)) * 8 + b"\xff\xfe\x00"  # not UTF-8, not a record
SCENARIO = "prescription dose_ug=100 duration_s=60 lockout_s=600 max_per_24h=6\nat 0:00:10 press\nend 0:10:00\n"
RX_TEXT = "version=1\ndose_ug=100\nduration_s=60\nlockout_s=600\nmax_per_24h=6\ncap_ug=0\ncap_window_s=0\n"


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_tool(module, args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "tools." + module] + list(args),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        preexec_fn=_limits,
    )


def record(seq, kind, t_s, a=0, b=0, c=0):
    """One firmware.eventlog record (26 bytes: body and CRC32)."""
    body = struct.pack("<BBIIIII", 0xE5, kind, seq, t_s, a, b, c)
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def snapshot(root):
    """Every folder and file under `root`, with the file bytes."""
    out = {}
    for folder, dirs, files in os.walk(root):
        out[os.path.relpath(folder, root) + "/"] = None
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                out[os.path.relpath(os.path.join(folder, name), root)] = f.read()
    return out


@pytest.fixture
def files(tmp_path):
    def put(name, data):
        p = tmp_path / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        return str(p)

    (tmp_path / "folder").mkdir()
    (tmp_path / "board" / "data").mkdir(parents=True)
    key = bytes(range(1, 33))
    return {
        "tmp": str(tmp_path),
        "folder": str(tmp_path / "folder"),
        "board": str(tmp_path / "board"),
        "binary": put("binary.scn", BINARY),
        "scn": put("ok.scn", SCENARIO),
        "long": put("long.scn", SCENARIO.replace("end 0:10:00", "end 99999999:00:00")),
        "fullwidth": put("fullwidth.scn", SCENARIO.replace("at 0:00:10", "at ０:００:１０")),
        "unknown": put("unknown.expect.json", '{"sumary": {"granted": 99}}'),
        "record": put("pump.json", BINARY),
        "key32": put("key32.bin", key),
        "key31": put("key31.bin", key[:31]),
        "key12": put("key12.bin", key[:12]),
        "rx": put("rx.txt", RX_TEXT),
        "garbage": put("rx.bin", "garbage\n"),
        "notlog": put("notlog.bin", BINARY),
        "log": put("events.0", record(1, 2, 1000100) + record(2, 3, 1000100, 1, 100, 60) + record(3, 5, 1000101, 1, 100, 1000101)),
        "plain": put("plain.txt", "not a program\n"),
    }


REPORT = ["report", "{log}", "--out", "{tmp}/report"]
DEPLOY = ["--board", "host", "--dry-run", "--build", "{tmp}/build"]
VBOARD = ["--dir", "{tmp}/vb"]

CASES = [
    # (id, module, args, exit status, words in the sentence)
    ("scenario-binary", "scenario", ["{binary}"], 2, ["not text"]),
    ("scenario-log-out-folder", "scenario", ["{scn}", "--log-out", "{folder}"], 2, ["is a folder"]),
    ("scenario-end-too-late", "scenario", ["{long}"], 2, ["long.scn:3", "400 days"]),
    ("scenario-fullwidth-time", "scenario", ["{fullwidth}"], 2, ["fullwidth.scn:2", "not a time"]),
    ("scenario-check-unknown-key", "scenario", ["{scn}", "--check", "{unknown}"], 2, ["unknown key 'sumary'"]),
    ("pump-record-binary", "pump_emulator", ["--pty", "--record", "{record}"], 1, ["pump.json", "not text"]),
    ("pump-speed-huge", "pump_emulator", ["--pty", "--speed", "1e308"], 2, ["--speed"]),
    ("pump-concentration-huge", "pump_emulator", ["--pty", "--concentration", "1e308"], 2, ["--concentration"]),
    ("clinician-timeout-nan", "clinician", ["program", "--key", "{key32}", "--rx", "{rx}", "--port", "/dev/null", "--yes", "--timeout", "nan"], 2, ["--timeout"]),
    ("clinician-dose-fullwidth", "clinician", ["program", "--key", "{key32}", "--board-dir", "{board}", "--yes", "--dose-ug", "１００"], 2, ["--dose-ug"]),
    ("clinician-lockout-negative", "clinician", REPORT + ["--lockout-s", "-5"], 2, ["--lockout-s"]),
    ("clinician-lockout-huge", "clinician", REPORT + ["--lockout-s", "99999999999999"], 2, ["--lockout-s"]),
    ("clinician-lockout-fullwidth", "clinician", REPORT + ["--lockout-s", "１２"], 2, ["--lockout-s"]),
    ("clinician-report-not-a-log", "clinician", ["report", "{notlog}", "--out", "{tmp}/report"], 1, ["not an event log"]),
    ("deploy-build-is-a-file", "deploy", ["--board", "host", "--dry-run", "--build", "{plain}"], 2, ["--build", "not a folder"]),
    ("deploy-key-31-bytes", "deploy", DEPLOY + ["--key", "{key31}"], 2, ["31 bytes"]),
    ("deploy-key-12-bytes", "deploy", DEPLOY + ["--key", "{key12}"], 2, ["12 bytes"]),
    ("deploy-rx-garbage", "deploy", DEPLOY + ["--rx", "{garbage}"], 2, ["not a signed prescription"]),
    ("deploy-rx-garbage-with-key", "deploy", DEPLOY + ["--key", "{key32}", "--rx", "{garbage}"], 2, ["--rx", "refused"]),
    ("vboard-micropython-not-executable", "vboard", VBOARD + ["--micropython", "{plain}"], 2, ["not an executable"]),
    ("vboard-info-folder", "vboard", VBOARD + ["--info", "{folder}"], 2, ["--info", "is a folder"]),
    ("vboard-heap-garbage", "vboard", VBOARD + ["--heap", "garbage"], 2, ["--heap"]),
    ("soak-powercut-days-nan", "soak", ["powercut", "--days", "nan"], 2, ["--days"]),
    ("soak-powercut-days-inf", "soak", ["powercut", "--days", "inf"], 2, ["--days"]),
]


@pytest.mark.parametrize("module,args,status,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_sentence_and_loses_nothing(files, module, args, status, words):
    before = snapshot(files["tmp"])
    res = run_tool(module, [a.format(**files) for a in args])
    assert res.returncode == status, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr[-2000:]
    for w in words:
        assert w in lines[0], lines[0]
    assert res.stdout == ""
    assert snapshot(files["tmp"]) == before  # nothing written, nothing changed, nothing removed


def test_report_over_a_huge_pump_time_span_is_bounded(tmp_path):
    """Pump times 1,000,100 .. 1,764,730,000 (20 000 days apart) once took 10.9 GB and never
    ended; now only days with records count and the charts show the last 31 of them."""
    recs = [record(1, 2, 1000100), record(2, 3, 1000100, 1, 100, 60), record(3, 5, 1000101, 1, 100, 1000101)]
    for i in range(40):  # a press on 40 days in between
        recs.append(record(4 + i, 2, 1000100 + (i + 1) * 37 * 86400))
    recs += [record(50, 2, 1764730000), record(51, 4, 1764730000, 1, 1764731000)]
    log = tmp_path / "span.log"
    log.write_bytes(b"".join(recs))
    out = tmp_path / "report"
    res = run_tool("clinician", ["report", str(log), "--out", str(out)])
    assert res.returncode == 0, res.stderr[-2000:]
    assert "  Mon 12 Jan 1970: presses 1, given 1 (100 ug)" in res.stdout and "  Wed 03 Dec 2025: presses 1, given 0" in res.stdout
    page = (out / "index.html").read_text()
    assert "The charts show the last 31 of the 42 days with records." in page
    assert 10000 < len(page) < 1000000


HEAP_CASES = [
    # issue 14: a bad --heap is a usage error (2), not "the firmware crashed" (3); CPython has no heap to set
    ("scenario-heap-garbage", "scenario", ["{scn}", "--heap", "abc"], 2, ["--heap", "'abc' is not a heap size"]),
    ("scenario-heap-garbage-micropython", "scenario", ["{scn}", "--interpreter", "micropython", "--heap", "abc"], 2, ["--heap"]),
    ("scenario-heap-on-cpython", "scenario", ["{scn}", "--heap", "64K"], 2, ["--heap", "CPython", "--interpreter micropython"]),
    ("scenario-heap-on-cpython-named", "scenario", ["{scn}", "--interpreter", "cpython", "--heap", "64K"], 2, ["--heap"]),
]


@pytest.mark.parametrize("module,args,status,words", [c[1:] for c in HEAP_CASES], ids=[c[0] for c in HEAP_CASES])
def test_scenario_heap_is_a_usage_error(files, module, args, status, words):
    test_bad_input_is_one_sentence_and_loses_nothing(files, module, args, status, words)
