"""Small things the scenario world's modules share: the time base and the wire's frames."""

from tools.pump_emulator.pump import DEFAULT_START_S

BASE_S = DEFAULT_START_S  # pump time at scenario time 0: t = pump_time - BASE_S
NO_NEXT = 0xFFFFFFFF  # a DENIED record's "no next time"


def t_s(ms):
    """Scenario seconds for virtual ms: an int when whole, else 3 decimals."""
    return ms // 1000 if ms % 1000 == 0 else round(ms / 1000.0, 3)


def split_frames(data):
    """Wire bytes -> list of frames, each ending with its 0x00 (a trailing partial kept)."""
    parts = data.split(b"\x00")
    out = [p + b"\x00" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out
