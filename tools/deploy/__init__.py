"""Deploy the firmware to a board: compile to .mpy, copy what changed, verify, reset.

`python -m tools.deploy --board rpi_pico --port /dev/ttyACM0`; see `__main__.py` for the
options, `plan.py` for which files a board gets and `device.py` for the talk with the board.
"""


class DeployError(Exception):
    """A reason the deploy cannot go on, as one sentence for the user (exit status 1)."""

    status = 1


class UsageError(DeployError):
    """A bad argument, found before anything is built or written (exit status 2)."""

    status = 2
