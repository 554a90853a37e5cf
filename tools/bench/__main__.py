"""`python -m tools.bench [--quick] [--only latency,heap,size,idle,duty,sim,mcu] [--presses N] [--json FILE]`

Measures and prints a table: press-to-wire latency and round trip (MicroPython unix port over
a real pty, CPython pump), heap over a simulated day and the smallest heap that completes it,
.mpy size per board, idle CPU of the host firmware, the tickless loop's wake-ups and duty cycle
over a simulated day, simulation speed; with `--only mcu`, the heap
on the emulated Cortex-M (tools/mcu, about an hour for the four runs of --mcu). docs/benchmarks.md says
what each figure means and how it was measured. Exit 1 when a benchmark could not run.
"""

import json
import shutil
import sys
import time

from tools import cli_args

SECTIONS = ("latency", "heap", "size", "idle", "duty", "sim")
EXTRA = ("mcu",)  # only with --only: the emulated Cortex-M (minutes per target; tools/mcu)
MCU_RUNS = "microbit:frozen,mps2_an385:frozen,mps2_an385:mpy,microbit:mpy"
# Where the bisection for the smallest heap looks (KB): it completes at hi, not at lo.
MCU_RANGE = {"frozen": (24, 64), "mpy": (48, 128)}


def _ms(us):
    return "%.2f ms" % (us / 1000.0)


def _kb(n):
    return "%.1f KB" % (n / 1024.0)


class Table:
    def __init__(self):
        self.rows = []
        self.figures = {}

    def section(self, title):
        self.rows.append((title, None, None))

    def add(self, name, value, notes="", key=None, raw=None):
        self.rows.append((name, value, notes))
        if key is not None:
            self.figures[key] = raw if raw is not None else value

    def print(self, out):
        w1 = max([len(r[0]) for r in self.rows if r[1] is not None] + [9])
        w2 = max([len(r[1]) for r in self.rows if r[1] is not None] + [6])
        out.write("%-*s  %-*s  %s\n" % (w1, "benchmark", w2, "figure", "notes"))
        out.write("%s  %s  %s\n" % ("-" * w1, "-" * w2, "-" * 5))
        for name, value, notes in self.rows:
            if value is None:
                out.write("[%s]\n" % name)
            else:
                out.write("%-*s  %-*s  %s\n" % (w1, name, w2, value, notes))
        out.flush()


def latency(t, args):
    from tools.bench import latency as L

    n = args.presses or (10 if args.quick else 120)
    r = L.measure(n)
    floor = L.wire_floor_us(r["bytes"])
    t.section("latency: firmware in the MicroPython unix port on a pty, pump emulator in CPython (%d presses, %d failed)" % (r["presses"], r["failed"]))

    def dist(name, key, notes):
        v = r[key]
        t.add(name, "%s median" % _ms(L.median(v)), "p99 %s, max %s, n=%d; %s" % (_ms(L.pct(v, 0.99)), _ms(max(v)), len(v), notes),
              key=key, raw={"median_us": L.median(v), "p99_us": L.pct(v, 0.99), "max_us": max(v), "n": len(v)})

    dist("hold complete -> end of that poll", "queued", "PRESS+GRANTED appended to flash, policy, HMAC tag, frame sent")
    dist("hold complete -> frame written to serial", "write", "sent in the same poll when the line is free")
    dist("press-to-wire: hold complete -> last byte at pump", "wire", "timestamped in the pump process (CLOCK_MONOTONIC)")
    t.add("wire time of the %d-byte BOLUS_REQ at 115200 baud" % r["bytes"], _ms(floor), "physical floor: bytes*10/115200 (8N1); a pty adds none", key="wire_floor_us", raw=floor)
    dist("round trip: hold complete -> pump's accept processed", "rtt", "the ack wakes the firmware's wait (select.poll on the pty) and is handled at once")
    dist("pump emulator: last byte in -> ack written", "pump", "CPython, Pump + PumpPort")
    if r["poll"]:
        t.add("a step while idle: app.poll() + next_deadline (MicroPython)", "%d us median" % r["poll"][0], "p99 %d us over %d steps" % (r["poll"][1], r["poll"][2]), key="poll_us", raw=r["poll"])


def heap(t, args):
    from tools.bench import heap as H

    t.section("heap: firmware in the MicroPython unix port over a simulated day (lockstep board, scenario world)")
    mpy = H.mpy_folder()
    try:
        d = H.day(path=mpy)
        s = d["summary"]
        t.add("live heap after boot (.mpy modules)", _kb(d["boot_live"]), "gc.collect() then gc.mem_alloc(): code + tables + state", key="boot_live", raw=d["boot_live"])
        t.add("peak live heap over the day (.mpy)", _kb(d["peak_live"]), "after every poll: collect, mem_alloc; %d polls, %d boots, %d granted, %d denied" % (d["polls"], d["boots"], s["granted"], s["denied"]), key="peak_live", raw=d["peak_live"])
        t.add("peak heap within one poll (.mpy)", _kb(d["peak_poll"]), "live + the garbage one poll makes (mem_alloc before collecting)", key="peak_poll", raw=d["peak_poll"])
        if not args.quick:
            src = H.day()
            t.add("peak live heap over the day (.py sources)", _kb(src["peak_live"]), "after boot %s" % _kb(src["boot_live"]), key="peak_live_py", raw=src["peak_live"])
            kb, tried = H.smallest_heap(lo_kb=64, hi_kb=256, path=mpy)
            t.add("smallest -X heapsize completing the day (.mpy)", "%d KB" % kb, "bisection, same outcome as with 256 KB: %s" % ", ".join("%d%s" % (k, "+" if ok else "-") for k, ok in tried), key="min_heap_mpy_kb", raw=kb)
            kb, tried = H.smallest_heap(lo_kb=64, hi_kb=256)
            t.add("smallest -X heapsize completing the day (.py)", "%d KB" % kb, "sources compiled at import need more: %s" % ", ".join("%d%s" % (k, "+" if ok else "-") for k, ok in tried), key="min_heap_py_kb", raw=kb)
            g = H.growth((1, 3, 5))
            (l1, b1), (l3, b3), (l5, b5) = g[1], g[3], g[5]
            t.add("peak live heap, 48 boluses a day, no reboot", "%s / %s / %s" % (_kb(l1), _kb(l3), _kb(l5)),
                  "after 1 / 3 / 5 days (%d / %d / %d boluses): %.0f B per bolus from day 3 to 5 (kept for 2 days)" % (b1, b3, b5, (l5 - l3) / float(max(1, b5 - b3))),
                  key="growth", raw={str(k): v for k, v in g.items()})
        mods = H.module_ram(mpy)
        top = sorted(mods, key=lambda x: -x[1])[:5]
        t.add("heap held by imported modules (.mpy)", _kb(sum(n for _, n in mods)), "largest: " + ", ".join("%s %s" % (name.split(".")[-1], _kb(n)) for name, n in top), key="module_ram", raw=dict(mods))
    finally:
        shutil.rmtree(mpy, ignore_errors=True)


def size(t, args):
    from tools.bench import size as S

    t.section("code size: .mpy files tools.deploy puts on each board (mpy-cross, import closure)")
    for board, files, mpy, entry, src, largest in S.sizes():
        t.add("%s: %d modules" % (board, files), _kb(mpy), "from %s of source; main.py+boot.py %d B; largest %s B" % (_kb(src), entry, largest), key="mpy_" + board, raw=mpy)


def idle(t, args):
    from tools.bench import idle as I

    secs = 3.0 if args.quick else 10.0
    t.section("idle CPU: host board firmware in the MicroPython unix port, synced with the pump emulator over a pty")
    r = I.measure(secs)
    t.add("firmware process, idle", "%.2f %% CPU" % (100 * r["firmware"]), "%.2f CPU s in %.1f s wall (/proc/<pid>/stat utime+stime); button file sampled every 50 ms" % (r["firmware_cpu_s"], r["seconds"]), key="idle_cpu", raw=r["firmware"])
    r2 = I.measure(secs, button="stdin")
    t.add("same, button on stdin", "%.2f %% CPU" % (100 * r2["firmware"]), "stdin lines wake the loop: it sleeps until the next deadline (status poll, countdown second)", key="idle_cpu_stdin_button", raw=r2["firmware"])
    t.add("pump emulator process, idle", "%.1f %% CPU" % (100 * r["pump"]), "CPython, select() every 20 ms", key="idle_cpu_pump", raw=r["pump"])


def duty(t, args):
    from tools.bench import duty as D

    t.section("duty cycle: the tickless loop (Superloop, edge-interrupt button) in-process on fakes with the pump emulator, a simulated day")
    r = D.measure(1)
    days = r["sim_ms"] / 86400000.0
    c = r["causes"]
    t.add("wake-ups per day", "%d" % (r["wakes"] / days), "at a deadline %d, a pump frame %d, a button change %d; %d granted" % (c["deadline"], c["pump"], c["button"], r["granted"]), key="wakes_per_day", raw=r["wakes"] / days)
    t.add("link bytes per day", "%d" % ((r["bytes_to_pump"] + r["bytes_from_pump"]) / days), "%d to the pump, %d from it: %.1f s of line time at 115200 baud" % (r["bytes_to_pump"], r["bytes_from_pump"], (r["bytes_to_pump"] + r["bytes_from_pump"]) * 10 / 115200.0), key="link_bytes_per_day", raw=r["bytes_to_pump"] + r["bytes_from_pump"])
    for ms in D.AWAKE_MS:
        t.add("duty cycle at %d ms awake per wake-up" % ms, "%.3f %%" % (100.0 * r["wakes"] * ms / r["sim_ms"]), "the fraction of the day awake (docs/benchmarks.md: battery)", key="duty_%dms" % ms, raw=r["wakes"] * ms / float(r["sim_ms"]))


def sim(t, args):
    from tools.bench import simspeed as S

    t.section("simulation speed")
    for interp in (("cpython",) if args.quick else ("cpython", "micropython")):
        r = S.scenario(interp)
        per = r["sim_h"] / 24.0 / r["wall_s"]
        t.add("scenario runner, firmware on %s" % interp, "%.2f sim-days/s" % per, "python -m tools.scenario DAY --stats --interpreter %s: %.1f s wall, %d steps/s" % (interp, r["wall_s"], r["steps_per_s"]), key="scenario_" + interp, raw=per)
    from tools.bench import ceiling as C

    interps = ("cpython",) if args.quick else ("cpython", "micropython")
    r = C.measure(interps)
    for interp in interps:
        f = r[interp]
        t.add("firmware alone, the day replayed, on %s" % interp, "%.2f sim-days/s" % f["sim_days_per_s"],
              "the floor of any simulation of the day: Superloop.step only, %d steps in %.2f s, %.1f us a step"
              % (r["day"]["wakes"], f["seconds"], f["us_per_step"]), key="floor_" + interp, raw=f)
    r = S.soak_speed(2000 if args.quick else 20000)
    t.add("soak harness (in-process, fakes)", "%.1f sim-days/s" % r["sim_days_per_s"], "%d steps in %.1f s: %.0f steps/s, %.0f polls/s, %d violations" % (r["steps"], r["wall_s"], r["steps_per_s"], r["polls_per_s"], r["violations"]), key="soak", raw=r)


def mcu(t, args):
    from tools.bench import heap as H
    from tools.bench import mcu as M
    from tools.mcu import TARGETS, build

    ref = None if args.quick else M.reference()
    for run in args.mcu.split(","):
        target, _, variant = run.strip().partition(":")
        variant = variant or "frozen"
        cpu = TARGETS[target]["cpu"]
        how = "python -m tools.bench --only mcu --mcu %s:%s" % (target, variant)
        t.section("heap on the emulated %s (qemu %s, MicroPython's qemu port), %s: %s" % (cpu, target, "frozen firmware" if variant == "frozen" else ".mpy files on littlefs", how))
        text = M.short_day_text() if args.quick else None
        d = M.day(target, variant, text=text)
        s = d["summary"]
        key = "mcu_%s_%s_" % (target, variant)
        elf = build.cached(target, variant)
        size = build.size_of(elf) if elf else {}
        if size:
            t.add("firmware image (text)", _kb(size["text"]), "bss %s (heap, RAM disk, state)" % _kb(size["bss"]), key=key + "text", raw=size["text"])
        t.add("live heap after boot", _kb(d["boot_live"]), "heap %s; gc.collect() then gc.mem_alloc()" % _kb(d["heap_bytes"]), key=key + "boot_live", raw=d["boot_live"])
        t.add("peak live heap over the day", _kb(d["peak_live"]), "%d polls, %d boots, %d granted, %d denied%s" % (d["polls"], d["boots"], s["granted"], s["denied"], " (shortened day)" if text else ""), key=key + "peak_live", raw=d["peak_live"])
        t.add("peak heap within one poll", _kb(d["peak_poll"]), "live + the garbage one poll makes", key=key + "peak_poll", raw=d["peak_poll"])
        t.add("garbage per idle poll", "%d B" % d["garbage_idle"], "the most common garbage per poll (%d polls); the least any poll made: %d B" % (d["idle_polls"], d["garbage_min"]), key=key + "garbage_idle", raw=d["garbage_idle"])
        if not args.quick:
            lo, hi = MCU_RANGE[variant]
            kb, tried = M.smallest(target, variant, lo, hi, ref=ref)
            t.add("smallest heap completing the day", "%d KB" % kb, "MICROPY_HEAP_SIZE bisection, the unix port's outcome: %s" % ", ".join("%d%s" % (k, "+" if ok else "-") for k, ok in tried), key=key + "min_heap_kb", raw=kb)
        if H._outcome(s) != H._outcome(ref or M.reference(text)):
            t.add("outcome", "differs", "from the unix port's: %s" % H._outcome(s), key=key + "outcome_differs", raw=H._outcome(s))


def main(argv=None):
    ap = cli_args.Parser(module="tools.bench", description="Measure the firmware and print a table of figures (docs/benchmarks.md).")
    ap.add_argument("--quick", action="store_true", help="fewer presses, shorter runs, no heap bisection (a smoke test)")
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections: %s (default all)" % ",".join(SECTIONS))
    ap.add_argument("--presses", type=cli_args.whole(1, 100000, what="a number of presses from 1 to 100000"), default=None, help="presses to time, about 1.3 s each (default 120, quick 10)")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("--mcu", default=MCU_RUNS, metavar="TARGET:VARIANT,...", help="Cortex-M runs of --only mcu (default %s)" % MCU_RUNS)
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    for s in only:
        if s not in SECTIONS + EXTRA:
            ap.error("unknown section %r (known: %s)" % (s, ", ".join(SECTIONS + EXTRA)))
    if args.presses is not None and args.presses < 1:
        ap.error("--presses must be at least 1")
    t = Table()
    failed = []
    t0 = time.time()
    for name in SECTIONS + EXTRA:
        if name not in only:
            continue
        try:
            globals()[name](t, args)
        except KeyboardInterrupt:
            sys.stderr.write("bench: interrupted.\n")
            return 130
        except Exception as e:  # one sentence, and the table goes on
            failed.append(name)
            t.add(name, "n/a", "could not run: %s" % (str(e) or e.__class__.__name__).splitlines()[0])
    t.print(sys.stdout)
    sys.stdout.write("(%.0f s)\n" % (time.time() - t0))
    if args.json:
        try:
            with open(args.json, "w") as f:
                json.dump(t.figures, f, indent=1, sort_keys=True, default=str)
        except OSError as e:
            sys.stderr.write("bench: cannot write %s: %s.\n" % (args.json, e.strerror))
            return 1
    if failed:
        sys.stderr.write("bench: %s could not run.\n" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
