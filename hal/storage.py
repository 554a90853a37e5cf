"""Storage on a real file system (a board's flash via `os`, or a host folder).

Works unchanged on MicroPython boards, the unix port and CPython. `replace` writes a
temporary file and renames it over the old one, which is atomic on littlefs, FAT and POSIX.
Errors follow `hal.contract.Storage`: only a missing file reads as None (or size 0); any other
failure to read, stat or write raises OSError, and a short write is completed or raises.
"""

import os

from hal.contract import Oversized

try:
    import errno

    _ENOENT = errno.ENOENT
    _EIO = errno.EIO
except ImportError:  # a port built without the errno module: MicroPython's own numbers
    _ENOENT = 2
    _EIO = 5


def missing(exc):
    """True when the OSError `exc` says the file does not exist (and nothing else)."""
    return bool(exc.args) and exc.args[0] == _ENOENT


def write_all(f, data):
    """Write every byte of `data` to the open file `f`: a short write is continued from where
    it stopped; a write that takes nothing raises OSError(EIO) (never a silent truncation)."""
    n = f.write(data)
    total = len(data)
    if n is not None and n == total:
        return
    view = memoryview(data)
    done = 0
    while True:
        if not n:  # None or 0: no progress
            raise OSError(_EIO)
        done += n
        if done >= total:
            return
        n = f.write(view[done:])


class FileStorage:
    def __init__(self, root):
        self.root = root.rstrip("/") or "/"
        try:
            os.mkdir(self.root)
        except OSError:
            pass  # it exists (or cannot be made: the first read or write says so)

    def _path(self, name):
        return self.root + "/" + name

    def read(self, name, limit=None):
        """The file's bytes, None only if it does not exist; Oversized (hal.contract) if it
        holds more than `limit` bytes: the size is checked with `os.stat` before anything is
        read (the firmware is the only writer of its files, so it cannot grow in between),
        and the read asks for that size: MicroPython's `read()` without one grows its buffer
        256 bytes at a time, each step a new block and a copy, which fragments a small heap.
        Any other error (the file exists but cannot be read) raises OSError: an unreadable
        log is a fault, not a fresh device."""
        path = self._path(name)
        try:
            size = os.stat(path)[6]
            if limit is not None and size > limit:
                raise Oversized(name, size, limit)
            with open(path, "rb") as f:
                return f.read(size)  # one buffer of the known size, not one grown in steps
        except OSError as e:
            if missing(e):
                return None
            raise

    def append(self, name, data):
        with open(self._path(name), "ab") as f:
            write_all(f, data)

    def replace(self, name, data):
        tmp = self._path(name + ".tmp")
        with open(tmp, "wb") as f:
            write_all(f, data)
        os.rename(tmp, self._path(name))

    def size(self, name):
        try:
            return os.stat(self._path(name))[6]
        except OSError as e:
            if missing(e):
                return 0
            raise

    def truncate(self, name, length):
        if self.size(name) > length:
            with open(self._path(name), "rb") as f:
                data = f.read(length)  # only what is kept: the file may be far too big
            self.replace(name, data)

    def remove(self, name):
        try:
            os.remove(self._path(name))
        except OSError as e:
            if not missing(e):
                raise
