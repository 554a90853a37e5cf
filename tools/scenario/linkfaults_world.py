"""The scenario world's link faults: the link cut (`down`/`up`) and loss, corruption and
duplication of whole frames, drawn from the world's fault generator; counted in
`link_faults` and, with --trace, reported as `link_fault` events.

A mixin of `tools.scenario.world.World` (it uses `self.fault_rng`, `self.trace` and
`self.emit`); all of the scenario world's link-fault model is here, in one place.
"""

from typing import Callable

from hal.fakes import Rng
from tools.scenario.common import split_frames


class LinkFaults:
    # Set up by World.__init__ (declared here for the type checker).
    emit: "Callable[..., None]"
    trace: bool
    fault_rng: "Rng"

    def _init_link_faults(self):
        self.link_down = False
        self.loss = self.corrupt = self.duplicate = 0.0
        self.link_faults = {"down": 0, "loss": 0, "corrupt": 0, "duplicate": 0}

    def _faulty(self, data, direction):
        """Apply the link's faults to whole frames; returns (bytes that get through, clean)."""
        if not (self.link_down or self.loss or self.corrupt or self.duplicate):
            return data, True
        frames = split_frames(data)
        out = bytearray()
        clean = True
        rng = self.fault_rng
        for fr in frames:
            if self.link_down:
                self.link_faults["down"] += 1
                self._trace_fault("down", direction)
                clean = False
                continue
            if rng.chance(self.loss):
                self.link_faults["loss"] += 1
                self._trace_fault("loss", direction)
                clean = False
                continue
            if rng.chance(self.corrupt):
                self.link_faults["corrupt"] += 1
                self._trace_fault("corrupt", direction)
                clean = False
                fr = bytearray(fr)
                fr[rng.below(len(fr))] ^= 1 << rng.below(8)
                fr = bytes(fr)
            out.extend(fr)
            if rng.chance(self.duplicate):
                self.link_faults["duplicate"] += 1
                self._trace_fault("duplicate", direction)
                out.extend(fr)
        return bytes(out), clean

    def _trace_fault(self, fault, direction):
        if self.trace:
            self.emit({"event": "link_fault", "fault": fault, "dir": direction})

    def link(self, state, faults=None):
        """'down', 'up', 'clean' or 'faults' (with a dict of loss/corrupt/duplicate)."""
        if state == "down":
            self.link_down = True
        elif state == "up":
            self.link_down = False
        elif state == "clean":
            self.loss = self.corrupt = self.duplicate = 0.0
        elif state == "faults":
            for k, v in (faults or {}).items():
                setattr(self, k, float(v))
        event = {"event": "link", "state": state}
        if state == "faults":
            event.update({"loss": self.loss, "corrupt": self.corrupt, "duplicate": self.duplicate})
        self.emit(event)
