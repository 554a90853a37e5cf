"""MicroPython entry for the heap benchmark: firmware.main.run("lockstep") with the heap measured
around every poll (tools/bench/heap.py runs it in place of the lockstep board's usual entry).

After each poll it reads gc.mem_alloc() (live data plus the garbage that poll made), collects,
and reads it again (live data only); the peaks, the poll count and the heap size are appended
as one line to the file named by $BENCH_HEAP_OUT when the firmware is told to quit.
"""

import gc
import os

from gc import mem_alloc, mem_free  # type: ignore  # MicroPython only

from firmware import main


def run():
    board = main.load_board("lockstep")
    app, hal = main.boot(board)
    clock = hal["clock"]
    watchdog = hal.get("watchdog")
    out = os.getenv("BENCH_HEAP_OUT")
    gc.collect()
    boot_live = mem_alloc()  # code (bytecode of every module) and state right after boot
    peak_live = boot_live
    peak_poll = peak_live
    polls = 0
    try:
        while True:
            app.poll()
            if watchdog is not None:
                watchdog.feed()
            used = mem_alloc()
            if used > peak_poll:
                peak_poll = used
            gc.collect()
            used = mem_alloc()
            if used > peak_live:
                peak_live = used
            polls += 1
            clock.sleep_ms(10)
    finally:
        if out:
            with open(out, "a") as f:
                f.write("%d %d %d %d %d\n" % (peak_live, peak_poll, polls, mem_alloc() + mem_free(), boot_live))


run()
