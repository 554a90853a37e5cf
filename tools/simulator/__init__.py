"""The simulator: the handheld as a patient sees it and the pump beside it, in a terminal.

`python -m tools.simulator [--interpreter micropython|cpython] [--speed 1|60|600]`; the real
firmware runs on the lockstep board (tools/scenario/world.py) in real time times the speed.
"""
