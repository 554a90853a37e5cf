"""The handheld's firmware: pure logic that runs on MicroPython boards and on CPython.

Nothing here imports `machine` or `tools`; hardware arrives through `hal.contract` objects
handed in by `firmware.main`.

On MicroPython, importing the package asks for a garbage collection after every twentieth of
the heap allocated (`gc.threshold`; 4 KB on an 80 KB heap), before any firmware module loads.
With the modules as `.mpy` files each import puts its bytecode in the heap beside the loader's
temporaries; collected only when the heap is full, those leave holes all over it, and a later
allocation of a kilobyte or two (an event-log segment read at boot) fails with most of the
heap free. The emulated Cortex-M0 measured it (docs/benchmarks.md): before the log read of a
boot with an 88 KB heap, 22 KB free in holes of at most 1 KB without it; with it, a 6.8 KB
hole in an 80 KB heap. Scaled to the heap, the collections cost about the same share of the
time on any heap (a fixed 4 KB about doubled the firmware's CPU time in the 256 KB unix port's
scenario runs; a twentieth costs 1.2 to 1.4 times). Idle polls allocate nothing, so it costs
no collections while idle. CPython's `gc` has neither `threshold` nor `mem_free`.
"""

try:
    import gc

    gc.threshold((gc.mem_free() + gc.mem_alloc()) // 20)  # type: ignore  # MicroPython only
except AttributeError:
    pass
