"""The power-cut campaign: record every storage write of a long session, then cut power at
every byte of every write and boot from what flash would then hold.

`run_campaign(days=7, seed=1)` plays a session on a `World` (no random power cuts) while
recording each mutating storage operation with the bytes it carried. It then walks the writes
in order, keeping the flash image as it was before each one: for an append of n bytes the
cut points are "k bytes reached flash" for k = 0..n-1 (a `replace` is atomic: one cut point,
nothing written). Each image is checked by opening the event log (every committed record
present, the torn tail measured exactly and dropped), appending once more (aligned), and
booting the App (every id it had granted stays used, every unanswered request is uncertain).
This is equivalent to replaying the session with `MemStorage.cut_after(n)` for every n (a test
checks that on sample points) but costs one pass instead of one replay per cut.
"""

import time

from firmware import eventlog as ev
from firmware.app import App
from firmware.link import LinkClient
from hal import fakes
from tools.soak import soak
from tools.soak.world import PRESETS, World

_CLOSING = (ev.DELIVERED, ev.PUMP_REFUSED, ev.SETTLED)


class CampaignResult:
    def __init__(self, seed):
        self.seed = seed
        self.sim_ms = 0
        self.writes = 0
        self.appends = 0
        self.replaces = 0
        self.records = 0
        self.cuts = 0
        self.lost = 0
        self.torn_tails = 0
        self.torn_bytes = 0
        self.torn_wrong = 0
        self.app_boots = 0
        self.app_problems = 0
        self.recovered_uncertain = 0
        self.reappends = 0
        self.misaligned = 0
        self.wall_s = 0.0
        self.session = "random"
        self.examples = []

    def problem(self, text):
        if len(self.examples) < 20:
            self.examples.append(text)


class Recorder:
    """Records a MemStorage's mutating calls through its `on_write` seam; `ops` lists
    (op, name, bytes or length), each as it began (a power cut may have torn the last)."""

    def __init__(self, storage):
        self.storage = storage
        self.ops = []
        storage.on_write = self.record

    def record(self, op, name, arg):
        self.ops.append((op, name, bytes(arg) if op in ("append", "replace") else arg))


# Session actions: the soak's mix without power cuts (the campaign makes those) and with
# slower-moving time so that a week of use is a few thousand actions.
SESSION_ACTIONS = tuple((w, a) for w, a in soak.ACTIONS if a != "power_cut")


def outage(world, rng, presses=400):
    """A long link outage with a request left uncertain while the patient keeps pressing (each
    press logs PRESS + DENIED): the log ring rotates several times with the request still open,
    then the link comes back and it is settled."""
    world.wait(5000)
    world.link_down(True)
    world.press()
    world.wait(3000)
    for i in range(presses):
        world.press(1050 + rng.below(400))
        if i % 97 == 13:
            world.reboot()
    world.link_down(False)
    world.wait(30000)
    world.press()
    world.wait(5000)


SESSIONS = ("random", "outage")


def record_session(days, seed, rx_fields=None, prepare=None, session="random"):
    """Play `days` of simulated use (`session` "random": the soak's actions; "outage": see
    `outage`); returns (world, recorder ops, initial files). `prepare(world)` runs once the
    world has booted, before anything is recorded."""
    world = World(seed=seed, rx_fields=rx_fields or PRESETS["default"])
    if prepare is not None:
        prepare(world)
    initial = {k: bytes(v) for k, v in world.storage.files.items()}
    rec = Recorder(world.storage)
    if session == "outage":
        outage(world, fakes.Rng(seed + 99))
        world.checkpoint()
        return world, rec.ops, initial
    rng = fakes.Rng(seed + 99)
    total = sum(w for w, _ in SESSION_ACTIONS)
    end = days * 86400000
    while world.elapsed_ms < end:
        x = rng.below(1 << 24) * total / float(1 << 24)
        name = SESSION_ACTIONS[-1][1]
        for w, name in SESSION_ACTIONS:
            if x < w:
                break
            x -= w
        soak.perform(world, name, rng)
    world.checkpoint()
    return world, rec.ops, initial


def _apply(files, op):
    kind, name, arg = op
    if kind == "append":
        files[name] = files.get(name, b"") + arg
    elif kind == "replace":
        files[name] = arg
    elif kind == "truncate":
        if name in files:
            files[name] = files[name][:arg]
    elif kind == "remove":
        files.pop(name, None)


def _storage(files):
    st = fakes.MemStorage()
    for k in files:
        st.files[k] = bytearray(files[k])
    return st


def _tuples(log):
    return [r.tuple() for r in log.records()]


class _NoSerial:
    def read(self, n):
        return None

    def write(self, buf):
        return len(buf)


def check_image(res, files, committed, capacity, torn_expected, rx, check_app=True, history=None):
    """Boot from one flash image and check it against what had been committed. `history`
    (ids ever granted, ids closed) lets the App check cover records the ring has dropped."""
    res.cuts += 1
    st = _storage(files)
    log = ev.EventLog(st)
    info = log.open()
    got = _tuples(log)
    n = len(got)
    tail = committed[-n:] if n else []
    if n > len(committed) or got != tail or n < min(len(committed), capacity):
        want = committed[-min(len(committed), capacity):]
        have = set(got)
        lost = [r for r in want if r not in have]
        res.lost += max(1, len(lost))
        res.problem("cut: lost %r (have %d records, %d committed)" % (lost[:2], n, len(committed)))
    if torn_expected:
        res.torn_tails += 1
        res.torn_bytes += info["torn_bytes"]
    if info["torn_bytes"] != torn_expected:
        res.torn_wrong += 1
        res.problem("cut: torn tail of %d bytes measured as %d" % (torn_expected, info["torn_bytes"]))
    # one more append lands aligned and reads back
    res.reappends += 1
    probe = fakes.MemStorage()
    probe.files = {k: bytearray(v) for k, v in st.files.items()}
    plog = ev.EventLog(probe)
    plog.open()
    seq = plog.append(ev.FAULT, -1, ev.FAULT_TORN_LOG, 0)
    again = ev.EventLog(probe)
    info2 = again.open()
    recs = _tuples(again)
    if info2["torn_bytes"] or not recs or recs[-1][0] != seq or recs[-1][1] != ev.FAULT:
        res.misaligned += 1
        res.problem("cut: the append after the reboot did not read back (%r)" % (info2,))
    if not check_app:
        return
    # the App booted from this image: ids stay used, open requests are uncertain
    res.app_boots += 1
    clock = fakes.FakeClock(1000)
    link = LinkClient(clock, _NoSerial())
    try:
        app = App(clock, fakes.ScriptedButton(), fakes.FakeIndicator(), fakes.FakeBuzzer(), fakes.FakeDisplay(), log, link, rx)
    except Exception as e:
        res.app_problems += 1
        res.problem("cut: the App did not boot: %r" % (e,))
        return
    granted = set()
    closed = set()
    for r in got:
        if r[1] == ev.GRANTED:
            granted.add(r[3])
        elif r[1] in _CLOSING:
            closed.add(r[3])
    if history is not None:  # everything ever committed, not only what the ring still holds
        granted |= history[0]
        closed |= history[1]
    if granted and app.ledger.next_id <= max(granted):
        res.app_problems += 1
        res.problem("cut: next request id %d reuses a granted id (max %d)" % (app.ledger.next_id, max(granted)))
    for rid in granted - closed:
        res.recovered_uncertain += 1
        if rid not in app.ledger.uncertain:
            res.app_problems += 1
            res.problem("cut: request %d was open but is not uncertain after the boot" % rid)


def _note(ever, rec):
    if rec[1] == ev.GRANTED:
        ever[0].add(rec[3])
    elif rec[1] in _CLOSING:
        ever[1].add(rec[3])


def run_campaign(days=7.0, seed=1, check_app=True, progress=None, max_writes=None, session="random", near_rotation=None):
    """Record a session and cut power at every byte of its writes; `max_writes` stops early,
    `near_rotation=N` only cuts within N writes of each log rotation (a quick campaign).
    `days` must be a finite number above 0 (nan would record nothing and report PASS)."""
    if not (isinstance(days, (int, float)) and 0 < days < float("inf")):
        raise ValueError("days must be a finite number above 0, not %r" % (days,))
    res = CampaignResult(seed)
    res.session = session
    t0 = time.perf_counter()
    world, ops, initial = record_session(days, seed, session=session)
    res.sim_ms = world.elapsed_ms
    rx = world.rx
    capacity = world.checker.log_capacity
    files = dict(initial)
    committed = [r.tuple() for r in ev.EventLog(_storage(files)).records()]
    ever = (set(), set())  # ids ever granted, ids ever closed (committed records)
    for r in committed:
        _note(ever, r)
    writes = [i for i, op in enumerate(ops) if op[0] in ("append", "replace")]
    chosen = None
    if near_rotation is not None:
        rot = [j for j, i in enumerate(writes) if ops[i][0] == "replace"]
        chosen = set()
        for j in rot:
            chosen.update(writes[max(0, j - near_rotation) : j + near_rotation + 1])
        writes = sorted(chosen)
    res.writes = len(writes) if max_writes is None else min(len(writes), max_writes)
    done = 0
    for i, op in enumerate(ops):
        kind, name, arg = op
        if kind in ("append", "replace") and (chosen is None or i in chosen):
            if max_writes is not None and done >= max_writes:
                break
            if kind == "append":
                res.appends += 1
                for k in range(len(arg)):
                    image = dict(files)
                    image[name] = files.get(name, b"") + arg[:k]
                    check_image(res, image, committed, capacity, k, rx, check_app, ever)
            else:
                res.replaces += 1
                check_image(res, dict(files), committed, capacity, 0, rx, check_app, ever)
            done += 1
            if progress is not None and done % 500 == 0:
                progress(done, res.writes, res)
        _apply(files, op)
        if kind == "append" and len(arg) == ev.RECORD_SIZE:
            recs, _bad = ev.decode_all(arg)
            for r in recs:
                committed.append(r.tuple())
                _note(ever, r.tuple())
            res.records += len(recs)
    res.wall_s = time.perf_counter() - t0
    return res
