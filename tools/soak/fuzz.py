"""Fuzzers with figures: the link decoders and the prescription parsers against independent
reference checks written from docs/protocol.md and plan/CONTRACTS.md.

`run_fuzz(n, seed)` returns one `Result` per target (inputs, accepted, rejected, exceptions
escaped, accepted-but-invalid). An exception escapes when a function raises anything but its
documented error (FrameError never escapes a Deframer; MessageError, PrescriptionError,
RxRefused); accepted-but-invalid means a reference check disagrees with something accepted.
The generators are also used by the hypothesis tests (tests/test_stress_fuzz.py). The link's
inputs and checks are in fuzz_wire.py, the prescription's in fuzz_rx.py.
"""

import random
import traceback

from firmware import messages as m
from tools.soak.fuzz_rx import (
    check_blob,
    check_canonical,
    check_text,
    random_blob,
    random_canonical,
    random_text,
)
from tools.soak.fuzz_wire import (
    MESSAGE_TYPES,
    check_message,
    check_stream,
    chunks,
    mutate,
    random_fields,
    random_stream,
)


class Result:
    """One target's figures, and the first ten findings as examples."""

    def __init__(self, name):
        self.name = name
        self.inputs = self.accepted = self.rejected = 0
        self.escaped = self.invalid = 0  # exceptions escaped, accepted-but-invalid
        self.examples = []

    def bad(self, kind, detail):
        if kind == "escaped":
            self.escaped += 1
        else:
            self.invalid += 1
        if len(self.examples) < 10:
            self.examples.append("%s: %s" % (kind, detail))


# ---- the driver --------------------------------------------------------------------------------
def fuzz_link(n, rng, progress=None):
    frames = Result("frame decoder (Deframer)")
    msgs = Result("message decoder (decode)")
    for i in range(n):
        stream = random_stream(rng)
        good = check_stream(frames, stream, chunks(rng, stream))
        for t, _seq, payload in good:
            check_message(msgs, t, payload)
        t = rng.choice(MESSAGE_TYPES + (rng.randrange(256),))
        p = m.encode(t, random_fields(rng, t)) if t in MESSAGE_TYPES and rng.random() < 0.7 else b""
        check_message(msgs, t, mutate(rng, p, max_len=200) if rng.random() < 0.5 else p)
        if progress is not None and (i + 1) % max(1, n // 4) == 0:
            progress("link", i + 1, frames)
    return [frames, msgs]


def fuzz_rx(n, rng, progress=None):
    text = Result("prescription parse_text")
    canon = Result("prescription parse_canonical")
    blobs = Result("rxstore.verify (signed rx)")
    for i in range(n):
        check_text(text, random_text(rng))
        check_canonical(canon, random_canonical(rng))
        check_blob(blobs, random_blob(rng), rng.choice((0, 0, 1, 2, 2**31 - 1)))
        if progress is not None and (i + 1) % max(1, n // 4) == 0:
            progress("rx", i + 1, blobs)
    return [text, canon, blobs]


def run_fuzz(n, seed=1, progress=None):
    rng = random.Random(seed)
    try:
        return fuzz_link(n, rng, progress) + fuzz_rx(n, rng, progress)
    except Exception:  # a bug in the fuzzer itself, not in the targets
        traceback.print_exc()
        raise
