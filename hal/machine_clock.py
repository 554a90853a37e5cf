"""The HAL clock on a board: MicroPython's `time.ticks_*` and `time.sleep_ms`, bound once.

`Clock()` takes nothing; ticks wrap at 2**30 on 32-bit ports, so the firmware only ever uses
`ticks_diff`/`ticks_add`. `sleep_ms` lets the CPU idle (WFE on the RP2040/RP2350).
"""

import time


class Clock:
    def __init__(self):
        # The port's own functions, no wrapper: the main loop calls them every poll.
        self.ticks_ms = time.ticks_ms
        self.ticks_diff = time.ticks_diff
        self.ticks_add = time.ticks_add
        self.sleep_ms = time.sleep_ms
