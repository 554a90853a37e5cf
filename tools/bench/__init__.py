"""Benchmarks of the handheld firmware: `python -m tools.bench` prints a table of figures.

Press-to-wire latency and round trip (MicroPython unix port over a real pty against a CPython
pump), peak heap over a simulated day, .mpy size per board, idle CPU of the host firmware and
simulation speed. Each figure is measured when the command runs; docs/benchmarks.md explains them.
"""
