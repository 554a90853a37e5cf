"""Heap of the firmware in the MicroPython unix port over simulated days (lockstep board, the
scenario runner's world: the real firmware in a subprocess, the pump emulator, virtual time).

`day(heap)` runs a day of use with tools/bench/mp_heap.py as the entry and returns the peaks;
`smallest_heap()` bisects -X heapsize with the board's own entry (firmware.main.run) until the
day no longer completes with the same outcome; `growth(days)` shows how the live heap grows
with boluses delivered since boot.
"""

import os
import shutil
import tempfile

from tools.scenario.driver import REPO, FirmwareCrashed, find_micropython
from tools.scenario.parse import parse
from tools.scenario.run import run as run_scenario

_PROBE_CODE = "import tools.bench.mp_heap"


def day_text(days=1, every_min=75, lockout_s=1800, max_per_24h=12):
    """A day (or more) of use: a press every `every_min` minutes while awake (some in lockout),
    taps and bounces, a noisy hour on the link, a link cut, an alarm, a reboot each day."""
    lines = [
        "prescription dose_ug=100 duration_s=120 lockout_s=%d max_per_24h=%d" % (lockout_s, max_per_24h),
        "pump reservoir_ul=20000 concentration_ug_per_ml=1000 basal_ug_per_h=10",
    ]
    for d in range(days):
        base = d * 24 * 60
        t = base + 7 * 60
        while t < base + 23 * 60:
            lines.append("at %s press" % _hms(t))
            t += every_min
        lines += [
            "at %s tap" % _hms(base + 9 * 60 + 5),
            "at %s bounce" % _hms(base + 10 * 60 + 7),
            "at %s link loss=0.2 corrupt=0.02 duplicate=0.05" % _hms(base + 12 * 60 + 1),
            "at %s link clean" % _hms(base + 13 * 60 + 1),
            "at %s link down" % _hms(base + 15 * 60 + 3),
            "at %s link up" % _hms(base + 15 * 60 + 20),
            "at %s pump alarm battery_eri" % _hms(base + 17 * 60 + 2),
            "at %s pump clear battery_eri" % _hms(base + 17 * 60 + 30),
            "at %s reboot" % _hms(base + 20 * 60 + 11),
        ]
    lines.sort(key=lambda x: (0, 0) if not x.startswith("at ") else (1, _mins(x.split()[1])))
    lines.append("end %s" % _hms(days * 24 * 60))
    return "\n".join(lines) + "\n"


def _hms(minutes):
    return "%d:%02d:00" % (minutes // 60, minutes % 60)


def _mins(hms):
    h, m, s = hms.split(":")
    return int(h) * 60 + int(m)


def _run(text, heap, code=None, path=None, interpreter="micropython"):
    """(summary or None if the firmware crashed, crash reason). `code`: the entry (the board's
    own unless named); `path`: a folder of .mpy modules, the firmware's working folder and its
    only import path, so that nothing is compiled from source; `interpreter`: the unix port,
    or a Cortex-M target of tools.mcu (qemu, qemu-mps2_an385-mpy, ...)."""
    scenario = parse(text)
    try:
        return run_scenario(scenario, interpreter=interpreter, heap=heap, root=path, code=code), None
    except FirmwareCrashed as e:
        return None, e.reason + (" " + e.output.splitlines()[-1] if e.output else "")


def _outcome(summary):
    keep = ("granted", "denied", "uncertain", "delivered", "delivered_ug", "reasons", "boots")
    return {k: summary.get(k) for k in keep}


def _probed(text, heap, path=None, interpreter="micropython"):
    """Run scenario `text` with the heap probe: (summary, rows of [live, poll peak, ...] per
    poll). Raises RuntimeError if the firmware crashed."""
    fd, report = tempfile.mkstemp(prefix="bench-heap-")
    os.close(fd)
    os.environ["BENCH_HEAP_OUT"] = report
    try:
        summary, crash = _run(text, heap, _PROBE_CODE, path, interpreter)
        with open(report) as f:
            rows = [[int(x) for x in line.split()] for line in f if line.strip()]
    finally:
        os.environ.pop("BENCH_HEAP_OUT", None)
        os.remove(report)
    if summary is None:
        raise RuntimeError("the firmware crashed with %s heap: %s" % (heap, crash))
    return summary, rows


def day(heap="256K", days=1, path=None, interpreter="micropython", text=None, **kw):
    """Peaks over `days` of use: dict(peak_live, peak_poll, polls, heap_bytes, boot_live,
    garbage_min, garbage_idle, idle_polls, summary); `path`: a folder of .mpy modules to use
    instead of the sources; `text`: another scenario than the day."""
    summary, rows = _probed(text or day_text(days, **kw), heap, path, interpreter)
    return {
        "garbage_min": min(r[5] for r in rows),  # the least garbage any poll made
        "garbage_idle": max(rows, key=lambda r: r[7])[6],  # the most common: an idle poll
        "idle_polls": sum(r[7] for r in rows),
        "peak_live": max(r[0] for r in rows),
        "peak_poll": max(r[1] for r in rows),
        "polls": sum(r[2] for r in rows),
        "heap_bytes": rows[0][3],
        "boot_live": min(r[4] for r in rows),
        "boots": len(rows),
        "summary": summary,
    }


def mpy_folder():
    """A temporary folder holding the lockstep board's modules compiled to .mpy (as deployed)."""
    from boards import registry
    from tools.bench import size
    from tools.deploy import plan as pl

    out = tempfile.mkdtemp(prefix="bench-mpy-")
    pl.build(registry.load("lockstep"), REPO, size.mpy_cross(), out)
    os.makedirs(os.path.join(out, "tools", "bench"))
    for leaf in ("tools/__init__.py", "tools/bench/__init__.py", "tools/bench/mp_heap.py"):
        shutil.copyfile(os.path.join(REPO, leaf), os.path.join(out, leaf))
    return out


def smallest_heap(lo_kb=16, hi_kb=256, days=1, path=None, interpreter="micropython", text=None, ref=None):
    """The smallest -X heapsize (KB) with which the day completes with the reference outcome
    (firmware.main.run's own entry, no probe); `path`: a folder of .mpy modules to use; `ref`:
    the reference summary if known (else a run with `hi_kb`)."""
    text = text or day_text(days)
    crash = None
    if ref is None:
        ref, crash = _run(text, "%dK" % hi_kb, None, path, interpreter)
    if ref is None:
        raise RuntimeError("the day does not complete even with %d KB: %s" % (hi_kb, crash))
    want = _outcome(ref)
    tried = []
    while hi_kb - lo_kb > 1:
        mid = (lo_kb + hi_kb) // 2
        got, crash = _run(text, "%dK" % mid, None, path, interpreter)
        ok = got is not None and _outcome(got) == want
        tried.append((mid, ok))
        if ok:
            hi_kb = mid
        else:
            lo_kb = mid
    return hi_kb, tried


def growth(days=(1, 3, 5)):
    """{days: (peak live heap, boluses delivered)} at 48 boluses a day without a reboot: the
    live heap must level off once the oldest boluses stop mattering for any limit."""
    out = {}
    for n in days:
        text = day_text(n, every_min=31, lockout_s=1800, max_per_24h=48).replace("reboot", "tap")
        summary, rows = _probed(text, "512K")
        out[n] = (max(r[0] for r in rows), summary["delivered"])
    return out


MODULES = (
    "hal.ticks", "hal.contract", "firmware.frame", "firmware.messages", "firmware.eventlog",
    "firmware.policy", "firmware.gesture", "firmware.prescription", "firmware.hmac_sha256",
    "firmware.auth", "firmware.rxstore", "firmware.screens", "firmware.sounder", "firmware.link",
    "firmware.app", "firmware.main", "boards.registry", "hal.storage",
)


def module_ram(path):
    """[(module, bytes of heap it holds once imported)] from the .mpy folder `path`."""
    import subprocess

    code = (
        "import gc\n"
        "def m():\n gc.collect()\n return gc.mem_alloc()\n"
        "a = m()\n"
        "for name in %r:\n __import__(name)\n b = m()\n print(name, b - a)\n a = b\n" % (MODULES,)
    )
    exe = find_micropython()
    if exe is None:
        raise RuntimeError("the MicroPython unix port is not installed")
    out = subprocess.run(
        [exe, "-X", "heapsize=256K", "-c", code], cwd=path, env=dict(os.environ, MICROPYPATH=".frozen:" + path),
        capture_output=True, text=True, timeout=60,
    )
    rows = []
    for line in out.stdout.splitlines():
        name, n = line.split()
        rows.append((name, int(n)))
    return rows
