"""The MicroPython unix port for the tests: `tools.micropython_unix` (a host module, so that the
tools that run it need nothing from tests/)."""

from tools.micropython_unix import MICROPYTHON, REPO, mp_env, run_mp  # noqa: F401
