"""The scenario world's link faults: the link cut (`down`/`up`) and loss, corruption and
duplication of whole frames, drawn from the world's fault generator; counted in
`link_faults` and, with --trace, reported as `link_fault` events.

A mixin of `tools.scenario.world.World` (it uses `self.fault_rng`, `self.trace` and
`self.emit`). The model is `hal.linkfaults` (shared with the fakes and the pump emulator's
port), applied here to each whole frame; `link_down`, `loss`, `corrupt` and `duplicate` are
its settings.
"""

from typing import Callable

from hal.linkfaults import CORRUPT, DOWN, DUPLICATE, LOSS, Rng
from hal.linkfaults import LinkFaults as FaultModel
from tools.scenario.common import split_frames


def _setting(name):
    """A world attribute that is the fault model's `name`."""
    return property(lambda self: getattr(self.faults, name), lambda self, value: setattr(self.faults, name, value))


class LinkFaults:
    # Set up by World.__init__ (declared here for the type checker).
    emit: "Callable[..., None]"
    trace: bool
    fault_rng: "Rng"

    link_down = _setting("down")
    loss = _setting("loss")
    corrupt = _setting("corrupt")
    duplicate = _setting("duplicate")

    def _init_link_faults(self):
        # No delay in a scenario: `link_faults` counts the four kinds a scenario can set.
        self.faults = FaultModel(rng=self.fault_rng, kinds=(DOWN, LOSS, CORRUPT, DUPLICATE), on_fault=self._trace_fault)
        self.link_faults = self.faults.counts

    def _faulty(self, data, direction):
        """Apply the link's faults to whole frames; returns (bytes that get through, clean)."""
        faults = self.faults
        if faults.quiet():
            return data, True
        out = bytearray()
        clean = True
        for fr in split_frames(data):
            got, copies = faults.frame(fr, direction)
            if copies == 0 or got is not fr:  # lost or corrupted (a duplicate is clean)
                clean = False
            for _ in range(copies):
                out.extend(got)
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
