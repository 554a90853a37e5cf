"""The handheld's firmware: pure logic that runs on MicroPython boards and on CPython.

Nothing here imports `machine` or `tools`; hardware arrives through `hal.contract` objects
handed in by `firmware.main`.

On MicroPython, importing the package asks for a garbage collection after every 4 KB
allocated (`gc.threshold`), before any firmware module loads. With the modules as `.mpy`
files each import puts its bytecode in the heap beside the loader's temporaries; collected
only when the heap is full, those leave holes all over it, and a later allocation of a
kilobyte or two (an event-log segment read at boot) fails with most of the heap free. The
emulated Cortex-M0 measured it (docs/benchmarks.md): before the log read of a boot with an
88 KB heap, 22 KB free in holes of at most 1 KB without it; with it, a 6.8 KB hole in an 80 KB
heap. Idle polls allocate nothing, so it costs no collections while idle. CPython's `gc` has
no `threshold`.
"""

try:
    import gc

    gc.threshold(4096)
except AttributeError:
    pass
