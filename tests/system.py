"""The in-process handheld + pump the tests drive: `tools.soak.system` (a host module, so that
the soak needs nothing from tests/)."""

from tools.soak.system import RX, STEP_MS, System  # noqa: F401
