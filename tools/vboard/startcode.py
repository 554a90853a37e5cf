"""What a virtual board runs and needs before its supervisor relays anything: the markers
the start code writes, the start code itself (the interpreter's sandboxed file system, the
shimmed `machine.reset`, boot.py and main.py as a board runs them), and raw ptys.
"""

import fcntl
import os
import pty
import tty

UP = b"\x1b[vboard:up]"  # written by START_CODE first: MicroPython now turns Ctrl-C into KeyboardInterrupt
MARKER = b"\x1b[vboard:ready]"  # written by START_CODE once boot.py/main.py are done
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
SOFT_REBOOT = b"MPY: soft reboot\r\n"
HARD_RESET_CODE = 75  # exit status of the shimmed machine.reset()
HOLD_AFTER_INTERRUPT_S = 2.0  # longest wait for a prompt after a Ctrl-C
START_LIMIT_S = 5.0  # an interpreter that has not run START_CODE by then is shown as it is
RESTART_BURST = 10  # unrequested restarts within RESTART_WINDOW_S before slowing down
RESTART_WINDOW_S = 5.0

# Runs inside the interpreter (python -c) before the REPL: sandbox the file system, shim
# machine.reset, run boot.py and (unless restarting into the raw REPL) main.py, as a board does.
START_CODE = r"""
import sys, os, vfs
_vb_root = os.getenv('VBOARD_ROOT')
if _vb_root:
    vfs.umount('/')
    vfs.mount(vfs.VfsPosix(_vb_root), '/')
    vfs.mount(vfs.VfsPosix('/dev'), '/dev')
    os.chdir('/')
    sys.path[:] = ['', '.frozen', '/lib']
import machine as _vb_machine
class _VBoardMachine:
    def __getattr__(self, name):
        return getattr(_vb_machine, name)
    def reset(self):
        raise SystemExit(%(hard)d)
    def unique_id(self):
        return b'vboard\x00\x01'
    def reset_cause(self):
        return 1
sys.modules['machine'] = _VBoardMachine()
sys.stdout.write(%(up)r)
def _vb_run(name):
    try:
        with open(name) as f:
            src = f.read()
    except OSError:
        return True
    try:
        exec(compile(src, name, 'exec'), globals())
        return True
    except SystemExit:
        raise
    except BaseException as e:
        sys.print_exception(e)
        return False
if _vb_run('boot.py') and os.getenv('VBOARD_MODE') not in ('raw', 'interrupted'):
    _vb_run('main.py')
sys.stdout.write(%(marker)r)
del _vb_root, _vb_run, _VBoardMachine
""" % {"hard": HARD_RESET_CODE, "marker": MARKER.decode(), "up": UP.decode()}


def nonblocking(fd):
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)


def make_pty():
    """(master, slave, path) with the slave raw, so it carries bytes unchanged."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    nonblocking(master)
    return master, slave, os.ttyname(slave)


def prefix_len(buf, marker):
    """Length of the longest suffix of buf that is a proper prefix of marker."""
    for n in range(min(len(marker) - 1, len(buf)), 0, -1):
        if buf.endswith(marker[:n]):
            return n
    return 0
