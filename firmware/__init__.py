"""The handheld's firmware: pure logic that runs on MicroPython boards and on CPython.

Nothing here imports `machine` or `tools`; hardware arrives through `hal.contract` objects
handed in by `firmware.main`.
"""
