"""Storage on a real file system (a board's flash via `os`, or a host folder).

Works unchanged on MicroPython boards, the unix port and CPython. `replace` writes a
temporary file and renames it over the old one, which is atomic on littlefs, FAT and POSIX.
"""

import os


class FileStorage:
    def __init__(self, root):
        self.root = root.rstrip("/") or "/"
        try:
            os.mkdir(self.root)
        except OSError:
            pass

    def _path(self, name):
        return self.root + "/" + name

    def read(self, name):
        try:
            with open(self._path(name), "rb") as f:
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
        data = self.read(name)
        if data is not None and len(data) > length:
            self.replace(name, data[:length])

    def remove(self, name):
        try:
            os.remove(self._path(name))
        except OSError:
            pass
