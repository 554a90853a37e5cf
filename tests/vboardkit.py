"""Shared by the tests that drive a virtual board (tools.vboard): a module-wide board and a
reader of its REPL pty."""

import time

import pytest
import serial

from tools.vboard import launch


def read_until(port, token, timeout=10.0):
    """Bytes from the REPL pty until `token` appeared (or the time ran out)."""
    got = b""
    deadline = time.monotonic() + timeout
    with serial.Serial(port, 115200, timeout=0.05) as s:
        while token not in got and time.monotonic() < deadline:
            got += s.read(4096)
    return got


@pytest.fixture(scope="module")
def vb(tmp_path_factory):
    """One virtual board for the whole test module, its file system in a temporary folder."""
    board = launch(str(tmp_path_factory.mktemp("vboard")))
    yield board
    board.stop()
