"""The one model of a faulty handheld-pump link, for every double of that line: the fakes'
serial pair (`hal.fakes.FakeSerialPair`), the pump emulator's port and the scenario world.
Runs on CPython and MicroPython.

A frame (one write, or one COBS frame: the caller says what a unit is) is, in this order:
lost while the link is `down` (no draw), lost with probability `loss`, has one random bit
flipped with probability `corrupt`, arrives twice with probability `duplicate`; what gets
through may be held back `delay_ms`. Each probability draws from a seeded xorshift32 (`Rng`)
only when it is above 0, always in that order, so a seed repeats a run on every interpreter.
Each fault is counted in `counts` (under the names DOWN, LOSS, CORRUPT, DUPLICATE, DELAY) and
told to `on_fault(kind, where)` when one is set.
"""

DOWN = "down"
LOSS = "loss"
CORRUPT = "corrupt"
DUPLICATE = "duplicate"
DELAY = "delay"
KINDS = (DOWN, LOSS, CORRUPT, DUPLICATE, DELAY)


class Rng:
    """xorshift32: the same sequence on every interpreter for the same seed."""

    def __init__(self, seed=1):
        self.state = (seed & 0xFFFFFFFF) or 0x9E3779B9

    def u32(self):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x

    def chance(self, p):
        """True with probability p (0 <= p <= 1); draws nothing when p is 0."""
        return p > 0 and self.u32() < int(p * 4294967296.0)

    def below(self, n):
        return self.u32() % n if n > 0 else 0


class LinkFaults:
    """The faults of one link (both directions share the generator, as on one wire).

    `rng`: the generator to draw from (default: a new `Rng(seed)`). `kinds`: the faults to
    count (default all of KINDS; a kind left out still happens, uncounted). `on_fault(kind,
    where)`: told each fault after it is counted. `held` holds (due, item) pairs for
    `hold`/`due`, in the order they were held."""

    def __init__(self, seed=1, rng=None, kinds=KINDS, on_fault=None):
        self.rng = rng if rng is not None else Rng(seed)
        self.down = False
        self.loss = 0.0
        self.corrupt = 0.0
        self.duplicate = 0.0
        self.delay_ms = 0
        self.counts = {}
        for kind in kinds:
            self.counts[kind] = 0
        self.on_fault = on_fault
        self.held = []

    def clean(self):
        """Every random fault and the delay off (`down` is left as it is)."""
        self.loss = self.corrupt = self.duplicate = 0.0
        self.delay_ms = 0

    def quiet(self):
        """True when no frame can be touched: nothing would be drawn or counted."""
        return not (self.down or self.loss or self.corrupt or self.duplicate or self.delay_ms)

    def fault(self, kind, where=None):
        """Count one fault of `kind` and tell `on_fault`."""
        if kind in self.counts:
            self.counts[kind] += 1
        if self.on_fault is not None:
            self.on_fault(kind, where)

    # ---- the steps, in the order a frame meets them ----------------------------------------
    def lost(self, where=None):
        """DOWN or LOSS when the next frame is lost (counted), else None."""
        if self.down:
            self.fault(DOWN, where)
            return DOWN
        if self.rng.chance(self.loss):
            self.fault(LOSS, where)
            return LOSS
        return None

    def corrupts(self, where=None):
        """True when the next frame is corrupted (counted); `flip` then says how."""
        if self.rng.chance(self.corrupt):
            self.fault(CORRUPT, where)
            return True
        return False

    def flip(self, data):
        """`data` with one bit flipped: a byte drawn first, then the bit."""
        buf = bytearray(data)
        i = self.rng.below(len(buf))
        buf[i] ^= 1 << self.rng.below(8)
        return bytes(buf)

    def duplicates(self, where=None):
        """True when the next frame arrives twice (counted)."""
        if self.rng.chance(self.duplicate):
            self.fault(DUPLICATE, where)
            return True
        return False

    def frame(self, data, where=None):
        """The fate of one frame: `(data, copies)`, copies 0 (lost), 1 or 2. The data returned
        is `data` itself unless a bit was flipped. The delay is the caller's (`hold`)."""
        if self.lost(where) is not None:
            return data, 0
        if self.corrupts(where):
            data = self.flip(data)
        return data, 2 if self.duplicates(where) else 1

    # ---- the delay ---------------------------------------------------------------------------
    def hold(self, now, item, where=None):
        """Keep `item` until `now + delay_ms` (counted as DELAY when delay_ms is above 0)."""
        if self.delay_ms:
            self.fault(DELAY, where)
        self.held.append((now + self.delay_ms, item))

    def due(self, now):
        """The held items due at `now`, in the order they were held; the rest stay held."""
        ready = []
        keep = []
        for entry in self.held:
            if entry[0] <= now:
                ready.append(entry[1])
            else:
                keep.append(entry)
        self.held = keep
        return ready

    def next_due(self):
        """When the next held item is due, or None."""
        if not self.held:
            return None
        return min(entry[0] for entry in self.held)
