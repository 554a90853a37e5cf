"""tools.clinician command line: --help, and every error is one sentence on stderr with a
non-zero exit code, never a traceback (run as a real `python -m tools.clinician`)."""

import subprocess
import sys

import pytest

from tests.mp import REPO
from tests.test_clinician_program import Run


def cli(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "tools.clinician"] + list(args),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
    )


def one_sentence(stderr):
    lines = stderr.strip().splitlines()
    return len(lines) == 1 and "Traceback" not in stderr and lines[0].endswith(".")


def test_help():
    r = cli("--help")
    assert r.returncode == 0
    for sub in ("keygen", "pair", "program", "pull-log", "verify-log", "report"):
        assert sub in r.stdout
    r = cli("program", "--help")
    assert r.returncode == 0 and "--pump-rx" in r.stdout and "--yes" in r.stdout and "exit codes" in r.stdout


@pytest.mark.parametrize(
    "args,code,start",
    [
        ([], 2, "Bad arguments:"),
        (["frobnicate"], 2, "Bad arguments:"),
        (["program", "--key", "k"], 2, "Bad arguments:"),
        (["program", "--key", "k", "--board-dir", "a", "--port", "b"], 2, "Bad arguments:"),
        (["program", "--key", "k", "--board-dir", "a", "--dose-ug", "lots"], 2, "Bad arguments:"),
        (["verify-log", "/nonexistent/log.bin"], 4, "Cannot read the log /nonexistent/log.bin"),
        (["report", "/nonexistent/log.bin", "--out", "/tmp/x"], 4, "Cannot read the log"),
        (["pull-log", "--board-dir", "/nonexistent/board", "--out", "/tmp/x.bin"], 4, "There is no board folder at /nonexistent/board."),
        (["pull-log", "--port", "/dev/ttyNOPE9", "--out", "/tmp/x.bin"], 4, "There is no device at /dev/ttyNOPE9"),
        (["keygen", "--out", "/nonexistent/dir/k.key"], 4, "There is no folder /nonexistent/dir."),
    ],
)
def test_errors_are_one_sentence(args, code, start):
    r = cli(*args)
    assert r.returncode == code, r.stderr
    assert r.stderr.startswith(start), r.stderr
    assert one_sentence(r.stderr), r.stderr


def test_program_missing_board_and_key(tmp_path):
    key = tmp_path / "k.key"
    key.write_bytes(bytes(range(32)))
    args = ["--dose-ug", "500", "--duration-s", "60", "--lockout-s", "600", "--max-per-24h", "6", "--version", "1", "--yes"]
    r = cli("program", "--key", str(key), "--board-dir", str(tmp_path / "nope"), *args)
    assert r.returncode == 4 and one_sentence(r.stderr) and "no board folder" in r.stderr
    r = cli("program", "--key", str(key), "--board-dir", str(tmp_path), "--pump-rx", str(tmp_path / "no" / "rx.txt"), *args)
    assert r.returncode == 4 and one_sentence(r.stderr) and "no folder" in r.stderr
    rxfile = tmp_path / "rx.txt"
    rxfile.write_text("version=1 dose_ug=500")
    r = cli("program", "--key", str(key), "--board-dir", str(tmp_path), "--rx", str(rxfile), "--yes")
    assert r.returncode == 2 and one_sentence(r.stderr) and r.stderr.startswith("Invalid prescription: Missing field duration_s")
    r = cli("program", "--key", str(key), "--board-dir", str(tmp_path), "--rx", str(rxfile), "--dose-ug", "5", "--yes")
    assert r.returncode == 2 and "not both" in r.stderr


def test_program_without_tty_refuses(tmp_path):
    (tmp_path / "data").mkdir()
    key = tmp_path / "k.key"
    key.write_bytes(bytes(range(32)))
    (tmp_path / "data" / "key.bin").write_bytes(bytes(range(32)))
    args = ["--dose-ug", "500", "--duration-s", "60", "--lockout-s", "600", "--max-per-24h", "6", "--version", "1"]
    r = cli("program", "--key", str(key), "--board-dir", str(tmp_path), *args)
    assert r.returncode == 2
    assert r.stderr.strip() == "Refusing to program without confirmation: there is no terminal to ask on (pass --yes to confirm)."
    assert "dose_ug" in r.stdout  # the table was shown first
    assert not (tmp_path / "data" / "rx.bin").exists()


def test_report_unwritable_out(tmp_path):
    from firmware import eventlog as ev
    from hal.storage import FileStorage

    log = ev.EventLog(FileStorage(str(tmp_path)))
    log.open()
    log.append(ev.BOOT, -1, 1)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = Run(["report", str(tmp_path / "events.0"), "--out", str(blocker / "sub")])
    assert r.code == 4 and r.stderr.startswith("Cannot create the report folder")
