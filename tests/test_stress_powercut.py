"""Power-cut campaign, bounded: power fails at every byte of every storage write of a recorded
session; every image boots with nothing committed lost, the torn tail measured and dropped,
appends aligned again and every open request uncertain. The snapshot method is checked
against a real replay with MemStorage.cut_after on sample points, and shown to catch a log
that keeps its torn tail."""

import subprocess
import sys

import pytest

from firmware import eventlog as ev
from hal import fakes
from tests.mp import REPO
from tools.soak import powercut
from tools.soak.world import World


def test_every_cut_of_a_few_hours_of_use_boots_with_nothing_committed_lost():
    res = powercut.run_campaign(days=0.25, seed=3)
    assert res.appends > 20 and res.cuts >= 26 * res.appends
    assert res.lost == 0 and res.torn_wrong == 0 and res.misaligned == 0 and res.app_problems == 0, res.examples
    assert res.torn_tails > 0 and res.recovered_uncertain > 0


def _nonempty(files):
    return {n: bytes(v) for n, v in files.items() if v}


class _Cut(Exception):
    def __init__(self, files):
        self.files = files


def test_snapshots_equal_a_real_replay_with_cut_after(monkeypatch):
    days, seed = 0.3, 8
    _world, ops, initial = powercut.record_session(days, seed)
    writes = [i for i, op in enumerate(ops) if op[0] in ("append", "replace")]
    assert len(writes) > 10

    def lost(self):
        raise _Cut({k: bytes(v) for k, v in self.storage.files.items()})

    monkeypatch.setattr(World, "_power_lost", lost)
    checked = []
    for j in (1, len(writes) // 2, len(writes) - 1):
        i = writes[j]
        kind, name, data = ops[i]
        if kind != "append":
            continue
        before = sum(len(op[2]) for op in ops[:i] if op[0] in ("append", "replace"))
        for k in (0, 1, 13, len(data) - 1):
            files = dict(initial)
            for op in ops[:i]:
                powercut._apply(files, op)
            files[name] = files.get(name, b"") + data[:k]
            with pytest.raises(_Cut) as cut:
                powercut.record_session(days, seed, prepare=lambda w, n=before + k: w.storage.cut_after(n))
            checked.append((i, k))
            assert _nonempty(cut.value.files) == _nonempty(files)
    assert len(checked) >= 8


def test_a_log_that_keeps_its_torn_tail_is_caught(monkeypatch):
    monkeypatch.setattr(fakes.MemStorage, "truncate", lambda self, name, length: None)
    res = powercut.run_campaign(days=0.02, seed=3, max_writes=5)
    assert res.misaligned > 0  # the kept tail misaligns the records appended after it


def test_powercut_cli_prints_cuts_and_losses():
    out = subprocess.run([sys.executable, "-m", "tools.soak", "powercut", "--days", "0.05"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "committed records lost:  0" in out.stdout and "power cuts:" in out.stdout and "torn tails dropped:" in out.stdout


def test_open_requests_and_used_ids_survive_cuts_around_every_log_rotation():
    """A request stays uncertain through a long outage while presses rotate the ring: at every
    byte of the writes around each rotation, the booted App still holds it as uncertain and
    never reuses an id ever granted (not only those the ring still holds)."""
    res = powercut.run_campaign(seed=4, session="outage", near_rotation=3)
    assert res.replaces >= 2 and res.cuts > 100
    assert res.lost == 0 and res.app_problems == 0 and res.misaligned == 0, res.examples
    assert res.recovered_uncertain > 0


def test_a_handheld_without_the_rotation_checkpoint_is_caught(monkeypatch):
    from firmware.app import App

    monkeypatch.setattr(App, "_checkpoint", lambda self: None)
    res = powercut.run_campaign(seed=4, session="outage", near_rotation=1, check_app=True)
    assert res.app_problems > 0
