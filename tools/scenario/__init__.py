"""The scenario runner: a day (or a month) of a patient's life in seconds, through the real
firmware (lockstep board), the real link code and the pump emulator, in virtual time.

`python -m tools.scenario FILE [--seed N] [--out FILE] [--interpreter cpython|micropython]`;
the format and the output events are in docs/scenarios.md. `run.run_file(path, ...)` is the
library entry point; `world.World` is shared with the simulator.
"""
