"""MicroPython entry for the heap benchmark: firmware.main.run("lockstep") with the heap measured
around every poll (tools/bench/heap.py runs it in place of the lockstep board's usual entry).

After each poll it reads gc.mem_alloc() (live data plus the garbage that poll made), collects,
and reads it again (live data only); the peaks, the poll count and the heap size are appended
as one line to the file named by $BENCH_HEAP_OUT when the firmware is told to quit, followed by
the least garbage a poll made, the most common garbage per poll (the idle poll: most polls are
idle) and how many polls made that much. Runs on the unix port and on the Cortex-M target.
"""

import gc
import os

from array import array

from gc import mem_alloc, mem_free  # type: ignore  # MicroPython only

from firmware import main

_BUCKETS = 256  # garbage per poll counted up to 4 KB (the last bucket: 4 KB or more)


def run():
    gc.collect()
    before = mem_alloc()
    garbage = array("I", bytes(4 * (_BUCKETS + 1)))  # polls by garbage made, in 16-byte steps
    own = mem_alloc() - before  # the probe's own table: left out of every figure
    board = main.load_board("lockstep")
    app, hal = main.boot(board)
    clock = hal["clock"]
    watchdog = hal.get("watchdog")
    out = os.getenv("BENCH_HEAP_OUT")
    gc.collect()
    boot_live = mem_alloc() - own  # code (bytecode of every module) and state right after boot
    peak_live = boot_live
    peak_poll = peak_live
    polls = 0
    live = boot_live
    try:
        while True:
            before = mem_alloc() - own  # after the step: the host's line read in sleep_ms is not the poll's
            app.poll()
            if watchdog is not None:
                watchdog.feed()
            used = mem_alloc() - own
            if used > peak_poll:
                peak_poll = used
            if used >= before:  # (less: the heap was collected inside the poll)
                garbage[min((used - before) >> 4, _BUCKETS)] += 1
            gc.collect()
            used = mem_alloc() - own
            live = used
            if used > peak_live:
                peak_live = used
            polls += 1
            clock.sleep_ms(10)
    finally:
        if out:
            with open(out, "a") as f:
                least = most = 0
                for i in range(_BUCKETS, -1, -1):
                    if garbage[i]:
                        least = i
                    if garbage[i] >= garbage[most]:
                        most = i
                f.write(
                    "%d %d %d %d %d %d %d %d\n"
                    % (peak_live, peak_poll, polls, mem_alloc() + mem_free(), boot_live, least << 4, most << 4, garbage[most])
                )


run()
