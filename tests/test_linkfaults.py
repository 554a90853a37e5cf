"""hal/linkfaults.py, the one link-fault model (fakes, pump emulator port, scenario world): the
order of the draws, what each fault does to a frame and how it is counted, the held frames,
on CPython and, the same checks printing the same lines, on the MicroPython unix port."""

import pytest

from tests.mp import MICROPYTHON, run_mp

# Each check raises on a failure and prints one line: the two interpreters must print the same.
CHECKS = r'''
from hal.linkfaults import CORRUPT, DELAY, DOWN, DUPLICATE, KINDS, LOSS, LinkFaults, Rng


def xorshift(x):  # the generator written out again, to check the model's draws against
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x


def check(name, ok, got):
    if not ok:
        raise AssertionError("%s: %r" % (name, got))
    print(name, got)


# the generator: xorshift32 from the seed; seed 0 becomes a fixed non-zero state
r = Rng(12345)
x = 12345
seq = []
for _ in range(5):
    x = xorshift(x)
    seq.append(r.u32())
check("rng_matches_xorshift32", seq[-1] == x, seq)
check("rng_seed_0_not_stuck", Rng(0).u32() == xorshift(0x9E3779B9), Rng(0).state)

# probability 0 draws nothing; probability 1 always happens
f = LinkFaults(seed=7)
before = f.rng.state
got = f.frame(b"abc\x00")
check("quiet_link_no_draw", got == (b"abc\x00", 1) and f.rng.state == before and f.quiet(), got)
check("quiet_link_counts_nothing", sum(f.counts.values()) == 0, sorted(f.counts.items()))
f.loss = 1.0
got = f.frame(b"abc\x00")
check("loss_1_loses", got[1] == 0 and f.counts[LOSS] == 1, got)

# down loses every frame without drawing, before any other fault
f = LinkFaults(seed=7)
f.down = True
f.loss = f.corrupt = f.duplicate = 1.0
before = f.rng.state
got = [f.frame(b"x")[1] for _ in range(3)]
check("down_loses_without_drawing", got == [0, 0, 0] and f.rng.state == before and f.counts[DOWN] == 3, f.counts[DOWN])

# the draws, in order: loss chance, corrupt chance, the byte, the bit, duplicate chance
f = LinkFaults(seed=99)
f.loss, f.corrupt, f.duplicate = 0.5, 0.5, 0.5
ref = Rng(99)
frames = 0
while frames < 200:
    data = bytes([frames & 0xFF, 1, 2, 3, 0])
    out, copies = f.frame(data)
    if ref.chance(0.5):
        want = (data, 0)
    else:
        want = data
        if ref.chance(0.5):
            buf = bytearray(data)
            i = ref.below(len(buf))
            buf[i] ^= 1 << ref.below(8)
            want = bytes(buf)
        want = (want, 2 if ref.chance(0.5) else 1)
    if (out, copies) != want:
        raise AssertionError("frame %d: %r != %r" % (frames, (out, copies), want))
    frames += 1
check("draw_order_matches_reference", f.rng.state == ref.state, sorted(f.counts.items()))

# corruption flips exactly one bit and leaves the original; an untouched frame is the same object
f = LinkFaults(seed=3)
f.corrupt = 1.0
data = bytes(range(1, 33))
flips = []
for _ in range(50):
    out, copies = f.frame(data)
    diff = [a ^ b for a, b in zip(out, data) if a != b]
    if len(out) != len(data) or len(diff) != 1 or diff[0] & (diff[0] - 1) or copies != 1:
        raise AssertionError("not one bit: %r" % out)
    flips.append(diff[0])
check("corrupt_flips_one_bit", data == bytes(range(1, 33)) and f.counts[CORRUPT] == 50, len(set(flips)))
f.corrupt = 0.0
check("untouched_is_same_object", f.frame(data)[0] is data, True)

# duplicate: two copies; on_fault hears each fault with its direction, in order
heard = []
f = LinkFaults(seed=5)
f.on_fault = lambda kind, where: heard.append((kind, where))
f.corrupt = f.duplicate = 1.0
out, copies = f.frame(b"abcd", "out")
check("duplicate_two_copies", copies == 2 and heard == [(CORRUPT, "out"), (DUPLICATE, "out")], heard)
f.down = True
f.frame(b"abcd", "in")
check("on_fault_down", heard[-1] == (DOWN, "in"), heard[-1])

# clean turns off the random faults and the delay, not the cut
f.delay_ms = 40
f.clean()
check("clean_keeps_down", f.down and not (f.loss or f.corrupt or f.duplicate or f.delay_ms), f.down)
f.down = False
check("clean_is_quiet", f.quiet(), f.quiet())

# held items: due in the order held, the delay counted per hold, next_due the earliest
f = LinkFaults(seed=1)
f.hold(0, "a")  # no delay: due at once, not counted
f.delay_ms = 30
f.hold(10, "b")
f.hold(12, "c")
f.delay_ms = 5
f.hold(20, "d")
check("next_due_earliest", f.next_due() == 0, f.next_due())
got = [f.due(24), f.due(25), f.due(40), f.due(42), f.next_due()]
check("held_due_in_order", got == [["a"], ["d"], ["b"], ["c"], None], got)
check("delay_counted_per_hold", f.counts[DELAY] == 3, f.counts[DELAY])

# kinds: only those are counted (the scenario world counts no delay)
f = LinkFaults(seed=1, kinds=(DOWN, LOSS, CORRUPT, DUPLICATE))
f.delay_ms = 5
f.hold(0, "x")
f.loss = 1.0
f.frame(b"y")
got = sorted(f.counts)  # (a MicroPython dict keeps no order)
check("kinds_limit_counts", got == sorted([DOWN, LOSS, CORRUPT, DUPLICATE]) and f.counts[LOSS] == 1, got)
check("all_kinds", KINDS == (DOWN, LOSS, CORRUPT, DUPLICATE, DELAY), KINDS)

# the rates over many frames follow the probabilities (exact counts, checked against the draws)
f = LinkFaults(seed=2024)
f.loss, f.corrupt, f.duplicate = 0.25, 0.1, 0.05
for _ in range(4000):
    f.frame(b"\x01\x02\x00")
c = f.counts
check("rates", 900 < c[LOSS] < 1100 and 240 < c[CORRUPT] < 360 and 110 < c[DUPLICATE] < 190, sorted(c.items()))
print("done")
'''


def _cpython_lines(capsys):
    exec(compile(CHECKS, "linkfaults_checks", "exec"), {"__name__": "linkfaults_checks"})
    return capsys.readouterr().out.splitlines()


def test_model_on_cpython(capsys):
    lines = _cpython_lines(capsys)
    assert lines[-1] == "done"
    names = [line.split()[0] for line in lines[:-1]]
    assert len(names) == CHECKS.count('\ncheck("') and len(set(names)) == len(names)


@pytest.mark.micropython
@pytest.mark.skipif(MICROPYTHON is None, reason="the MicroPython unix port is not installed")
def test_model_on_micropython_prints_what_cpython_prints(capsys):
    out = run_mp(CHECKS, heap="64K")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == _cpython_lines(capsys)


def test_the_fake_serial_pair_applies_the_model_per_write():
    """FakeSerialPair is the model applied to each write: the same seed and settings give the
    same bytes through, write for write, and the same counts (a delayed copy counts once each)."""
    from hal.fakes import FakeClock, FakeSerialPair
    from hal.linkfaults import LinkFaults

    clock = FakeClock()
    pair = FakeSerialPair(clock, seed=11)
    model = LinkFaults(seed=11)
    for f in (pair, model):
        f.loss, f.corrupt, f.duplicate = 0.3, 0.3, 0.3
    for i in range(300):
        data = bytes([i & 0xFF, 1, 2, 0])
        pair.a.write(data)
        got, copies = model.frame(data)
        assert pair.b.read(100) == (got * copies or None), i
    assert pair.faults == model.counts and min(model.counts[k] for k in ("loss", "corrupt", "duplicate")) > 0
    pair.clean()
    pair.duplicate = 1.0
    pair.delay_ms = 20
    pair.a.write(b"xy\x00")
    assert pair.b.read(10) is None and pair.faults["delay"] == 2
    clock.advance(20)
    assert pair.b.read(10) == b"xy\x00xy\x00"
