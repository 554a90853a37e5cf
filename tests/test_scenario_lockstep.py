"""The lockstep board (hal/lockstep.py + boards/lockstep) driven by tools/scenario/driver.py: the
unmodified firmware yields in sleep_ms, reports what it did, and moves only when the host says
so; its storage survives a restart (a reboot), and a dying firmware is reported, not hung on."""

import pytest

from firmware import eventlog as ev
from hal import lockstep, ticks
from tests.mp import MICROPYTHON
from tools.scenario.driver import FirmwareCrashed, Handheld

INTERPRETERS = ["cpython", pytest.param("micropython", marks=pytest.mark.micropython)]


def _interp(name):
    if name == "micropython" and MICROPYTHON is None:
        pytest.skip("the MicroPython unix port is not installed")
    return name


def _records(rep):
    out = []
    for name, data in rep.appends:
        assert name.startswith("events.")
        out.extend(ev.decode_all(data)[0])
    return out


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_boot_step_batch_and_reboot(tmp_path, interp):
    hh = Handheld(str(tmp_path / "hh"), _interp(interp))
    try:
        start = ticks.PERIOD - 25
        rep = hh.boot(start)
        # the first poll: screen, light, a BOOT record, a SYNC request to the pump, then sleep
        # until the app's next deadline: the SYNC_REQ's 250 ms reply timeout
        assert rep.t == 0 and rep.ticks == start and rep.sleep_ms == 250 and rep.polls == 1
        assert rep.display is not None and rep.display[:2] == ["No valid", "prescription"]  # nothing provisioned
        assert rep.indicator == ("red", False)
        boot = [r for r in _records(rep) if r.kind == ev.BOOT]
        assert len(boot) == 1 and boot[0].a == 1
        assert rep.tx.endswith(b"\x00")
        # time moves only when the host says so, and ticks wrap at 2**30
        rep = hh.step(50, False)
        assert rep.t == 50 and rep.ticks == 25
        assert rep.tx == b"" and rep.display is None  # nothing changed, nothing said
        # a batch: the firmware may poll on its own every 100 ms; with no reply its SYNC_REQ is
        # resent after the 250 ms timeout, which ends the batch at the first poll after it;
        # tickless, it skips the polls at 160 (before its deadline): 60 and 260 only
        polls = rep.polls
        rep = hh.step(60, False, idle=100, until=10000)
        assert rep.t == 260 and rep.tx and rep.polls == polls + 2
        # a batch with nothing to say runs to just before `until`
        hh.step(1300, False)
        rep = hh.step(5000, False, b"", idle=1000, until=5900)
        assert rep.t >= 5000
        hh.stop()
        # power returns: same storage, the log goes on
        rep = hh.boot(0)
        boot = [r for r in _records(rep) if r.kind == ev.BOOT]
        assert len(boot) == 1 and boot[0].a == 2
    finally:
        hh.stop()


def test_the_button_reaches_the_gesture(tmp_path):
    hh = Handheld(str(tmp_path / "hh"), "cpython")
    try:
        hh.boot(0)
        kinds = []
        t = 0
        while t < 1500:
            t += 10
            kinds += [r.kind for r in _records(hh.step(t, 10 <= t < 1300))]
        # a complete hold: PRESS, then DENIED (this handheld has no prescription)
        assert kinds == [ev.PRESS, ev.DENIED]
    finally:
        hh.stop()


def test_a_crash_is_reported_with_its_output(tmp_path):
    hh = Handheld(str(tmp_path / "hh"), "cpython", code="import sys; print('hello'); raise ValueError('boom')")
    with pytest.raises(FirmwareCrashed) as info:
        hh.boot(0)
    assert "exited" in info.value.reason
    assert "hello" in info.value.output and "ValueError: boom" in info.value.output
    assert not hh.running


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_the_firmware_is_imported_from_and_runs_in_the_root_it_is_given(tmp_path, interp):
    """tools/bench/heap.py runs the firmware from a folder of .mpy modules this way."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "where.py").write_text("import os\nprint('running in', os.getcwd())\n")
    hh = Handheld(str(tmp_path / "hh"), _interp(interp), root=str(root), code="import where")
    with pytest.raises(FirmwareCrashed) as info:
        hh.boot(0)
    assert "running in " + str(root) in info.value.output


def test_input_framing():
    assert lockstep.frame_input("t=1010 b=0") == b"000b t=1010 b=0\n"
    hub = lockstep.Hub()
    hub.apply("t=5 b=1 rx=0102 idle=100 until=900 watch=1")
    assert (hub.t_ms, hub.level, bytes(hub.inbox), hub.idle, hub.until, hub.watch) == (5, True, b"\x01\x02", 100, 900, True)
    hub.apply("t=3 b=0")  # time never goes back; idle and watch last one step
    assert (hub.t_ms, hub.level, hub.idle, hub.watch) == (5, False, 0, False)
