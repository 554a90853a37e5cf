"""tools.clinician program/pair/keygen on a host board folder and the pump emulator's file:
validation, side-by-side table, confirmation, wrong key, rollback, and interruption at every
step never leaving the pump without a valid prescription."""

import os

import pytest

from firmware import prescription, rxstore
from tools.clinician import cli, targets
from tools.security import rx_sign

KEY = bytes(range(32))
OTHER = bytes(range(64, 96))


class Run:
    def __init__(self, argv, answer=None):
        self.out = []
        self.err = []
        self.asked = []

        def ask(prompt):
            self.asked.append(prompt)
            if answer is None:
                return cli._tty_ask(prompt)
            return answer

        self.code = cli.main(argv, out=self.out.append, err=self.err.append, ask=ask)
        self.stdout = "\n".join(self.out)
        self.stderr = "\n".join(self.err)


@pytest.fixture
def site(tmp_path):
    board = tmp_path / "board"
    (board / "data").mkdir(parents=True)
    (board / "data" / "key.bin").write_bytes(KEY)
    keyfile = tmp_path / "pair.key"
    keyfile.write_bytes(KEY)
    pump = tmp_path / "pump" / "rx.txt"
    pump.parent.mkdir()
    return {"board": str(board), "data": board / "data", "key": str(keyfile), "pump": str(pump), "tmp": tmp_path}


def rx_args(version=1, dose=500, duration=60, lockout=600, max24=6, extra=()):
    return [
        "--dose-ug", str(dose), "--duration-s", str(duration), "--lockout-s", str(lockout),
        "--max-per-24h", str(max24), "--version", str(version),
    ] + list(extra)


def program(site, version=1, dose=500, yes=True, pump=True, answer=None, extra=()):
    argv = ["program", "--key", site["key"], "--board-dir", site["board"]] + rx_args(version, dose, extra=extra)
    if pump:
        argv += ["--pump-rx", site["pump"]]
    if yes:
        argv.append("--yes")
    return Run(argv, answer=answer)


def handheld_rx(site):
    return rxstore.RxStore(targets.FileStorage(str(site["data"])), KEY).load()[0]


def pump_rx(site):
    with open(site["pump"], "rb") as f:
        return rx_sign.verify_text(f.read(), KEY)


def test_program_both_devices(site):
    r = program(site, version=1)
    assert r.code == 0, r.stderr
    assert handheld_rx(site).version == 1
    assert pump_rx(site).dose_ug == 500
    # the emulator's own reader takes the file as it is
    with open(site["pump"]) as f:
        assert prescription.parse_text(f.read()).version == 1
    assert "wrote version 1 to the pump prescription file" in r.stdout
    assert r.stdout.index("pump prescription file") < r.stdout.index("board folder")
    assert "restart the handheld" in r.stdout
    assert sorted(os.listdir(site["data"])) == ["key.bin", "rx.bin"]
    assert sorted(os.listdir(os.path.dirname(site["pump"]))) == ["rx.txt"]


def test_table_shows_old_and_new_side_by_side(site):
    assert program(site, version=1, dose=500).code == 0
    r = program(site, version=2, dose=750)
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    head = lines[0].split()
    assert head == ["field", "pump", "now", "handheld", "now", "new"]
    dose = [ln for ln in lines if ln.startswith("dose_ug")][0].split()
    assert dose[:4] == ["dose_ug", "500", "500", "750"] and "changed" in dose[-1]
    lockout = [ln for ln in lines if ln.startswith("lockout_s")][0]
    assert "changed" not in lockout
    assert handheld_rx(site).dose_ug == 750 and pump_rx(site).dose_ug == 750


def test_first_programming_shows_dash(site):
    r = program(site, version=1)
    assert [ln for ln in r.out[0].splitlines() if ln.startswith("version")][0].split()[:4] == ["version", "-", "-", "1"]


def test_rx_file_input(site):
    rxfile = site["tmp"] / "rx.txt"
    rxfile.write_text("# clinic\nversion=3 dose_ug=200 duration_s=30\nlockout_s=900 max_per_24h=4\ncap_ug=2000 cap_window_s=14400\n")
    r = Run(["program", "--key", site["key"], "--board-dir", site["board"], "--rx", str(rxfile), "--yes"])
    assert r.code == 0, r.stderr
    got = handheld_rx(site)
    assert (got.version, got.dose_ug, got.cap_ug, got.cap_window_s) == (3, 200, 2000, 14400)


@pytest.mark.parametrize(
    "args,needle",
    [
        (rx_args(dose=0), "Invalid prescription: dose_ug must be 1..100000, not 0."),
        (rx_args(lockout=30), "Invalid prescription: lockout_s (30) must not be shorter than duration_s (60)."),
        (rx_args(extra=["--cap-ug", "100"]), "Invalid prescription: cap_ug and cap_window_s must both be 0 or both be set."),
        (["--dose-ug", "500"], "(missing: --version --duration-s --lockout-s --max-per-24h)."),
        (rx_args(version=0), "Invalid prescription: version"),
    ],
)
def test_invalid_prescription_clear_reason(site, args, needle):
    r = Run(["program", "--key", site["key"], "--board-dir", site["board"], "--yes"] + args)
    assert r.code == 2
    assert needle in r.stderr
    assert len(r.err) == 1 and "Traceback" not in r.stderr
    assert not (site["data"] / "rx.bin").exists()


def test_rollback_and_same_version_refused_old_kept(site):
    assert program(site, version=5).code == 0
    before = (site["data"] / "rx.bin").read_bytes(), open(site["pump"], "rb").read()
    r = program(site, version=4, dose=900)
    assert r.code == 2 and "Version 4 is not newer than version 5" in r.stderr
    r = program(site, version=5, dose=900)
    assert r.code == 2 and "Version 5 is not newer than version 5" in r.stderr
    assert ((site["data"] / "rx.bin").read_bytes(), open(site["pump"], "rb").read()) == before


def test_same_prescription_again_is_a_no_op(site):
    assert program(site, version=2).code == 0
    r = program(site, version=2)
    assert r.code == 0 and "nothing to do" in r.stdout


def test_wrong_key_current_rx(site):
    assert program(site, version=1).code == 0
    (site["tmp"] / "other.key").write_bytes(OTHER)
    r = Run(["program", "--key", str(site["tmp"] / "other.key"), "--board-dir", site["board"], "--yes"] + rx_args(version=2))
    assert r.code == 3
    assert r.stderr.startswith("Wrong key:") and "does not verify" in r.stderr
    assert handheld_rx(site).version == 1


def test_wrong_key_on_handheld_without_rx(site):
    (site["data"] / "key.bin").write_bytes(OTHER)
    r = program(site, version=1)
    assert r.code == 3 and "Wrong key" in r.stderr
    assert not os.path.exists(site["pump"])  # checked before anything was written


def test_wrong_key_on_pump_file(site):
    with open(site["pump"], "w") as f:
        f.write(rx_sign.sign_text(prescription.from_fields(dict(
            version=1, dose_ug=500, duration_s=60, lockout_s=600, max_per_24h=6, cap_ug=0, cap_window_s=0)), OTHER))
    r = program(site, version=2)
    assert r.code == 3 and "Wrong key" in r.stderr and "pump" in r.stderr
    assert not (site["data"] / "rx.bin").exists()


def test_handheld_not_paired(site):
    (site["data"] / "key.bin").unlink()
    r = program(site, version=1)
    assert r.code == 3 and "has no key; pair it first" in r.stderr


def test_unsigned_pump_file_is_replaced(site):
    with open(site["pump"], "w") as f:
        f.write("version=1 dose_ug=500 duration_s=60 lockout_s=600 max_per_24h=6 cap_ug=0 cap_window_s=0\n")
    r = program(site, version=1)
    assert r.code == 0, r.stderr
    assert "invalid (unsigned)" in r.stdout
    assert pump_rx(site).version == 1


def test_confirmation(site):
    r = program(site, version=1, yes=False, answer=False)
    assert r.code == 2 and "Not confirmed; nothing was written." == r.stderr
    assert r.asked and "Write version 1" in r.asked[0]
    assert not (site["data"] / "rx.bin").exists() and not os.path.exists(site["pump"])
    r = program(site, version=1, yes=False, answer=True)
    assert r.code == 0 and handheld_rx(site).version == 1


def test_no_tty_no_yes_refuses(site, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    r = program(site, version=1, yes=False)
    assert r.code == 2
    assert r.stderr == "Refusing to program without confirmation: there is no terminal to ask on (pass --yes to confirm)."
    assert not os.path.exists(site["pump"])


# ---- interruption ---------------------------------------------------------------------------
class Interrupt(BaseException):
    """Stands for Ctrl-C or a power cut of the clinician's computer."""


def _valid_pump(site):
    """The pump file exists and holds a valid signed prescription: returns its version."""
    assert os.path.exists(site["pump"]), "the pump was left without a prescription file"
    return pump_rx(site).version


def _points():
    """Every place a session can stop: each os call the write path makes."""
    return ["write_file", "replace", "fsync_dir", "handheld"]


@pytest.mark.parametrize("where", _points())
@pytest.mark.parametrize("inside", [False, True])
def test_interrupted_session_leaves_old_or_new(site, monkeypatch, where, inside):
    assert program(site, version=1, dose=500).code == 0
    real_write, real_replace, real_open = targets.write_file, os.replace, os.open
    real_install = targets.BoardDir.install

    def write_file(path, data):
        if where == "write_file":
            if inside:  # a prefix of the temp file reaches the disk, then the stop
                with open(path, "wb") as f:
                    f.write(data[: len(data) // 2])
            raise Interrupt()
        return real_write(path, data)

    def replace(src, dst):
        if where == "replace":
            if inside:
                real_replace(src, dst)  # renamed, then stopped before the next step
            raise Interrupt()
        return real_replace(src, dst)

    def os_open(path, flags, *a):
        if where == "fsync_dir" and os.path.isdir(path):
            raise Interrupt()
        return real_open(path, flags, *a)

    def install(self, blob):
        if where == "handheld":
            if inside:
                # the device's own atomic replace: rx.bin.tmp written, not yet renamed
                with open(os.path.join(self.root, "rx.bin.tmp"), "wb") as f:
                    f.write(blob[:40])
            raise Interrupt()
        return real_install(self, blob)

    monkeypatch.setattr(targets, "write_file", write_file)
    monkeypatch.setattr(targets.os, "replace", replace)
    monkeypatch.setattr(targets.os, "open", os_open)
    monkeypatch.setattr(targets.BoardDir, "install", install)
    with pytest.raises(Interrupt):
        cli.main(
            ["program", "--key", site["key"], "--board-dir", site["board"], "--pump-rx", site["pump"], "--yes"]
            + rx_args(version=2, dose=800),
            out=lambda line: None,
            err=lambda line: None,
        )
    monkeypatch.undo()
    pump_version = _valid_pump(site)
    hand_version = handheld_rx(site).version
    assert pump_version in (1, 2) and hand_version in (1, 2)
    assert hand_version <= pump_version  # the pump is written first
    # Running the same command again finishes the job.
    r = program(site, version=2, dose=800)
    assert r.code == 0, r.stderr
    assert _valid_pump(site) == 2 and handheld_rx(site).version == 2
    assert not [n for n in os.listdir(os.path.dirname(site["pump"])) if n != "rx.txt"]


def test_ctrl_c_is_one_sentence(site, monkeypatch):
    def boom(path, data):
        raise KeyboardInterrupt()

    assert program(site, version=1).code == 0
    monkeypatch.setattr(targets, "write_file", boom)
    r = program(site, version=2)
    assert r.code == 130
    assert r.stderr.startswith("Interrupted: each device still holds a complete prescription")
    monkeypatch.undo()
    assert _valid_pump(site) == 1 and handheld_rx(site).version == 1


def test_pump_never_missing_with_a_concurrent_reader(site, monkeypatch):
    """Watch the pump file at every os call of a programming session: always present and valid."""
    assert program(site, version=1).code == 0
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        seen.append(_valid_pump(site))
        real_replace(src, dst)
        seen.append(_valid_pump(site))

    monkeypatch.setattr(targets.os, "replace", replace)
    assert program(site, version=2, dose=700).code == 0
    assert seen == [1, 2]


# ---- keygen / pair --------------------------------------------------------------------------
def test_keygen(tmp_path):
    out = tmp_path / "k.key"
    r = Run(["keygen", "--out", str(out)])
    assert r.code == 0 and len(out.read_bytes()) == 32
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    first = out.read_bytes()
    r = Run(["keygen", "--out", str(out)])
    assert r.code == 2 and "already exists" in r.stderr and out.read_bytes() == first
    assert Run(["keygen", "--out", str(out), "--force"]).code == 0
    assert out.read_bytes() != first


def test_pair_board_dir(tmp_path):
    board = tmp_path / "vb"
    (board / "data").mkdir(parents=True)
    key = tmp_path / "k.key"
    key.write_bytes(KEY)
    r = Run(["pair", "--key", str(key), "--board-dir", str(board)])
    assert r.code == 0, r.stderr
    assert (board / "data" / "key.bin").read_bytes() == KEY
    assert "already holds this key" in Run(["pair", "--key", str(key), "--board-dir", str(board)]).stdout
    other = tmp_path / "o.key"
    other.write_bytes(OTHER)
    r = Run(["pair", "--key", str(other), "--board-dir", str(board)])
    assert r.code == 2 and "already has a different key" in r.stderr
    assert Run(["pair", "--key", str(other), "--board-dir", str(board), "--force"]).code == 0
    assert (board / "data" / "key.bin").read_bytes() == OTHER


def test_bad_key_file(site):
    (site["tmp"] / "short.key").write_bytes(b"abc")
    r = Run(["program", "--key", str(site["tmp"] / "short.key"), "--board-dir", site["board"], "--yes"] + rx_args())
    assert r.code == 2 and "does not hold a 32-byte key" in r.stderr
    r = Run(["program", "--key", str(site["tmp"] / "nope.key"), "--board-dir", site["board"], "--yes"] + rx_args())
    assert r.code == 2 and r.stderr.startswith("Cannot read the key file")


@pytest.mark.parametrize("name", ["key.bin", "rx.bin", "events.0"])
def test_a_file_past_its_firmware_cap_is_refused_unread(site, name):
    # A handheld file larger than the firmware ever writes (damage, or planted) is refused in
    # one sentence, and nothing is written: not read whole into the host's memory.
    big = site["data"] / name
    big.write_bytes(b"\xff" * (8 << 20))
    if name == "events.0":
        r = Run(["pull-log", "--board-dir", site["board"], "--out", str(site["tmp"] / "log.bin")])
        assert not (site["tmp"] / "log.bin").exists()
    else:
        r = program(site)
        assert not os.path.exists(site["pump"])
    assert r.code == 1 and len(r.err) == 1, r.stderr
    assert "has a damaged %s: %d bytes, where at most %d can be valid" % (name, 8 << 20, targets.CAPS[name]) in r.stderr
    assert big.stat().st_size == 8 << 20
