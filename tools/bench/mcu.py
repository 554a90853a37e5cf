"""Heap of the firmware on the emulated Cortex-M (tools/mcu), side by side with the unix port.

The same probe (tools/bench/mp_heap.py, frozen into the Cortex-M image as glue) and the same
day of use (tools/bench/heap.py) as the unix figures, through the scenario runner's
`--interpreter qemu-<target>[-mpy]`. `figures(target, variant)` gives live heap at boot, peak
live, peak within a poll, garbage per idle poll (the most common garbage per poll) and the
smallest heap that completes the day with the same outcome; `short_day_text()` is the shortened
day the suite runs under a 48 KB heap (tests/test_mcu_target.py).
"""

from tools.bench import heap as H


def interpreter(target, variant):
    return "qemu-%s%s" % (target, "-mpy" if variant == "mpy" else "")


def short_day_text():
    """Three hours with what a day has: presses granted and refused in lockout, a tap, a
    bounce, a noisy link, a cut link, a pump alarm and a reboot."""
    lines = [
        "prescription dose_ug=100 duration_s=120 lockout_s=1800 max_per_24h=12",
        "pump reservoir_ul=20000 concentration_ug_per_ml=1000 basal_ug_per_h=10",
        "at 0:00:10 press",
        "at 0:05:00 tap",
        "at 0:10:00 press",
        "at 0:12:00 bounce",
        "at 0:31:00 press",
        "at 0:40:00 link loss=0.2 corrupt=0.02 duplicate=0.05",
        "at 1:05:00 press",
        "at 1:10:00 link clean",
        "at 1:20:00 link down",
        "at 1:25:00 link up",
        "at 1:40:00 pump alarm battery_eri",
        "at 1:45:00 press",
        "at 1:50:00 pump clear battery_eri",
        "at 2:10:00 reboot",
        "at 2:20:00 press",
        "at 2:55:00 press",
        "end 3:00:00",
    ]
    return "\n".join(lines) + "\n"


def day(target="microbit", variant="frozen", heap=None, text=None):
    """H.day on the emulated core (the target's default heap unless `heap`, e.g. "48K")."""
    return H.day(heap=heap or "256K", interpreter=interpreter(target, variant), text=text)


def reference(text=None):
    """The outcome of the day on the unix port (the Cortex-M must match it)."""
    summary, crash = H._run(text or H.day_text(), "256K")
    if summary is None:
        raise RuntimeError("the day does not complete on the unix port: %s" % crash)
    return summary


def smallest(target, variant, lo_kb, hi_kb, ref=None, text=None):
    """(smallest heap in KB completing the day with the unix port's outcome, [(kb, ok)])."""
    return H.smallest_heap(lo_kb=lo_kb, hi_kb=hi_kb, interpreter=interpreter(target, variant), text=text, ref=ref or reference(text))
