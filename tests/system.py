"""The in-process handheld + pump the tests drive: `tools.soak.system` (a host module, so that
the soak needs nothing from tests/), and `FrameFilter`, a line between the pump emulator and the
handheld that rewrites or drops the pump's frames (set as `System.pump_end`)."""

from firmware import frame
from firmware import messages as m
from tools.soak.system import RX, STEP_MS, System  # noqa: F401


class FrameFilter:
    """A Serial end in front of `end` (the pump's end of the line): every frame the pump writes
    goes through `edit(msg_type, seq, fields)`, which returns the fields to send (changed or
    not) or None to drop the frame. What the handheld sends passes untouched."""

    def __init__(self, end, edit):
        self.end = end
        self.edit = edit
        self.deframer = frame.Deframer()

    def read(self, n):
        return self.end.read(n)

    def write(self, buf):
        out = bytearray()
        for fr in self.deframer.feed(bytes(buf)):
            if fr.error is not None:
                continue
            fields = self.edit(fr.msg_type, fr.seq, m.decode(fr.msg_type, fr.payload))
            if fields is not None:
                out.extend(frame.encode(fr.msg_type, fr.seq, m.encode(fr.msg_type, fields)))
        if out:
            self.end.write(bytes(out))
        return len(buf)
