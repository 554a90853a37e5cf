"""The hardware contract of the handheld, its implementations and its fakes.

`hal.contract` names the small interfaces the firmware talks to; `hal.fakes` holds the
test doubles (they run on MicroPython too); board- and host-backed implementations live
beside them and are chosen by a file in `boards/`.
"""
