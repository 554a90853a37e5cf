"""A new pseudo-terminal set up as a serial line: raw, no output processing, reads that return
at once, a non-blocking master. Used by the pump emulator (`--pty`) and the benchmark's pump."""

import os
import termios
import tty


def open_raw_pty():
    """(master_fd, slave_fd, slave_path). Keep the slave open as well, so the master never
    sees EIO when a client closes the device."""
    master, slave = os.openpty()
    tty.setraw(slave)
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST  # bytes go through unchanged
    attrs[6][termios.VMIN] = 0
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)
