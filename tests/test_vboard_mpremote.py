"""The virtual board behaves like a board for plain `mpremote` commands (each of which soft
resets first), for Ctrl-C into a running main.py, soft and hard resets, and its UART pty."""

import os
import subprocess
import sys
import time

import pytest
import serial

from tests.vboardkit import read_until, vb  # noqa: F401  (vb is a fixture)

pytestmark = pytest.mark.micropython


def mpremote(vb, *args, timeout=30):
    res = subprocess.run(
        [sys.executable, "-m", "mpremote", "connect", vb.repl] + list(args),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return res




def test_plain_commands_ls_cp_exec(vb, tmp_path):
    src = tmp_path / "hello.py"
    src.write_text("GREETING = 'hello from the vboard'\n")
    res = mpremote(vb, "cp", str(src), ":hello.py")
    assert res.returncode == 0, res.stderr
    assert (os.path.join(vb.folder, "hello.py")) and open(os.path.join(vb.folder, "hello.py")).read().startswith("GREETING")
    res = mpremote(vb, "exec", "import hello; print(hello.GREETING)")
    assert res.returncode == 0 and res.stdout.strip() == "hello from the vboard", res
    res = mpremote(vb, "ls")
    assert res.returncode == 0 and "hello.py" in res.stdout
    res = mpremote(vb, "exec", "import sys; print(sys.implementation.name, sys.path)")
    assert "micropython" in res.stdout and "'.frozen'" in res.stdout


def test_file_system_is_the_folder(vb):
    # "/" on the board is the folder: an absolute path cannot reach the host's files.
    res = mpremote(vb, "exec", "import os; open('/abs.txt', 'w').write('x'); print(sorted(os.listdir('/')))")
    assert res.returncode == 0, res.stderr
    assert os.path.exists(os.path.join(vb.folder, "abs.txt"))
    assert "etc" not in res.stdout and "abs.txt" in res.stdout


def test_chained_commands_and_soft_reset_keep_working(vb):
    t0 = time.monotonic()
    for i in range(5):
        res = mpremote(vb, "exec", "print(%d * 7)" % i)
        assert res.returncode == 0 and res.stdout.strip() == str(i * 7), res
    per_call = (time.monotonic() - t0) / 5
    assert per_call < 2.0, per_call
    res = mpremote(vb, "soft-reset", "+", "exec", "print('after soft reset')", "+", "eval", "1+1")
    assert res.returncode == 0 and res.stdout.split() == ["after", "soft", "reset", "2"], res


def test_soft_reset_runs_main_and_ctrl_c_interrupts_it(vb, tmp_path):
    main = tmp_path / "main.py"
    main.write_text("import time\nprint('main running')\nwhile True:\n    time.sleep_ms(10)\n")
    res = mpremote(vb, "cp", str(main), ":main.py")
    assert res.returncode == 0, res.stderr
    # A soft reset at the friendly REPL runs boot.py and main.py, like a board.
    with serial.Serial(vb.repl, 115200, timeout=0.05) as s:
        s.write(b"\r\x03")  # to a prompt
        time.sleep(0.2)
        s.read(4096)
        s.write(b"\x04")
        got = b""
        deadline = time.monotonic() + 5
        while b"main running" not in got and time.monotonic() < deadline:
            got += s.read(4096)
    assert b"MPY: soft reboot\r\n" in got and b"main running\r\n" in got, got
    # mpremote interrupts the running main.py with Ctrl-C and still gets its raw REPL.
    res = mpremote(vb, "exec", "print('interrupted ok')")
    assert res.returncode == 0 and res.stdout.strip() == "interrupted ok", res
    assert mpremote(vb, "rm", ":main.py").returncode == 0


def test_machine_reset_restarts_and_runs_main(vb, tmp_path):
    main = tmp_path / "main.py"
    main.write_text("print('booted after reset')\n")
    assert mpremote(vb, "cp", str(main), ":main.py").returncode == 0
    res = mpremote(vb, "reset")
    assert res.returncode == 0, res.stderr
    got = read_until(vb.repl, b"booted after reset")
    assert b"booted after reset" in got
    assert mpremote(vb, "exec", "print(1)").stdout.strip() == "1"
    assert mpremote(vb, "rm", ":main.py").returncode == 0


def test_uart_pty_reaches_host_serial_on_the_board(vb):
    """pyserial on the UART pty <-> hal.host_serial in the board's MicroPython."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    res = mpremote(vb, "mkdir", ":hal")
    for name in ("__init__.py", "host_serial.py"):
        res = mpremote(vb, "cp", os.path.join(repo, "hal", name), ":hal/" + name)
        assert res.returncode == 0, res.stderr
    with serial.Serial(vb.uart, 115200, timeout=0.1) as pump:
        pump.write(b"ping\x00\n\r\xff")
        pump.flush()
        time.sleep(0.1)
        code = (
            "import time\n"
            "from hal.host_serial import HostSerial\n"
            "s = HostSerial(env='VBOARD_UART')\n"
            "got = b''\n"
            "t = time.ticks_ms()\n"
            "while len(got) < 8 and time.ticks_diff(time.ticks_ms(), t) < 3000:\n"
            "    d = s.read(64)\n"
            "    if d: got += d\n"
            "print(repr(got))\n"
            "print(s.write(b'pong\\x00\\n'))\n"
        )
        res = mpremote(vb, "exec", code)
        assert res.returncode == 0, res.stderr + res.stdout
        assert res.stdout.split() == ["b'ping\\x00\\n\\r\\xff'", "6"], res.stdout
        back = b""
        deadline = time.monotonic() + 3
        while len(back) < 6 and time.monotonic() < deadline:
            back += pump.read(16)
    assert back == b"pong\x00\n"


def test_vboard_cli_help():
    res = subprocess.run([sys.executable, "-m", "tools.vboard", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "--dir" in res.stdout
    res = subprocess.run([sys.executable, "-m", "tools.vboard", "--dir", "/etc/passwd"], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.startswith("vboard: ") and "Traceback" not in res.stderr
