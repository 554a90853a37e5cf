"""Storage on a real file system (a board's flash via `os`, or a host folder).

Works unchanged on MicroPython boards, the unix port and CPython. `replace` writes a
temporary file and renames it over the old one, which is atomic on littlefs, FAT and POSIX.
"""

import os

from hal.contract import Oversized


class FileStorage:
    def __init__(self, root):
        self.root = root.rstrip("/") or "/"
        try:
            os.mkdir(self.root)
        except OSError:
            pass

    def _path(self, name):
        return self.root + "/" + name

    def read(self, name, limit=None):
        """The file's bytes, None if it does not exist; Oversized (hal.contract) if it holds
        more than `limit` bytes: the size is checked with `os.stat` before anything is read
        (the firmware is the only writer of its files, so it cannot grow in between)."""
        path = self._path(name)
        try:
            size = os.stat(path)[6]
            if limit is not None and size > limit:
                raise Oversized(name, size, limit)
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            return None

    def append(self, name, data):
        with open(self._path(name), "ab") as f:
            f.write(data)

    def replace(self, name, data):
        tmp = self._path(name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, self._path(name))

    def size(self, name):
        try:
            return os.stat(self._path(name))[6]
        except OSError:
            return 0

    def truncate(self, name, length):
        if self.size(name) > length:
            with open(self._path(name), "rb") as f:
                data = f.read(length)  # only what is kept: the file may be far too big
            self.replace(name, data)

    def remove(self, name):
        try:
            os.remove(self._path(name))
        except OSError:
            pass
