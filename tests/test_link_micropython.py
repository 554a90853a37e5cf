"""The frame codec and messages under the real MicroPython unix port (64 KB heap): the golden
vectors of docs/protocol.md, a noisy stream and malformed payloads give exactly CPython's output."""

import os
import subprocess
import sys

import pytest

from tests.mp import MICROPYTHON, REPO, run_mp
from tests.test_link_protocol_doc import EXAMPLES, to_fields

pytestmark = [
    pytest.mark.micropython,
    pytest.mark.skipif(MICROPYTHON is None, reason="MicroPython unix port not installed"),
]

_BODY = r'''
from firmware import frame
from firmware import messages as m


class Rng:  # hal.fakes.Rng's xorshift32, inline to keep this script small
    def __init__(self, seed):
        self.state = seed

    def below(self, n):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x % n

    def chance(self, p):
        return self.below(1000) < int(p * 1000)


def norm(v):
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (k, norm(v[k])) for k in sorted(v)) + "}"
    if isinstance(v, (bytes, bytearray)):
        return "h'" + bytes(v).hex() + "'"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(norm(x) for x in v) + "]"
    return repr(v)


wires = []
for name, t, seq, f in EXAMPLES:
    payload = m.encode(t, f)
    wire = frame.encode(t, seq, payload)
    wires.append(wire)
    frames = frame.Deframer().feed(wire)
    dec = m.decode(frames[0].msg_type, frames[0].payload)
    print(name, wire.hex(), frames[0].seq, norm(dec) == norm(f), norm(dec))

# a long noisy stream, fed in random chunks that straddle the frames
rng = Rng(2024)
d = frame.Deframer()
carry = b""
total = 0
n_ok = 0
n_bad = 0
for i in range(301):
    if i == 300:
        w = bytearray(b"\x00")
    else:
        w = bytearray(wires[rng.below(len(wires))])
    if rng.chance(0.2):
        w[rng.below(len(w))] ^= 1 << rng.below(8)
    if rng.chance(0.1):
        for _ in range(rng.below(30)):
            w.append(rng.below(256))
    if rng.chance(0.05):
        w.extend(b"\x55" * 250)
    total += len(w)
    data = carry + bytes(w)
    j = 0
    while True:
        k = rng.below(64) + 1
        if j + k > len(data):
            break
        for fr in d.feed(data[j:j + k]):
            if fr.error is None:
                n_ok += 1
                print("ok", fr.msg_type, fr.seq, fr.payload.hex())
            else:
                n_bad += 1
                print("bad", fr.error, fr.msg_type, fr.seq)
        j += k
    carry = data[j:]
print("stream", total, n_ok, n_bad, d.frames_ok, d.frames_bad)

for t in sorted(m.MSG_NAMES):
    try:
        m.decode(t, bytes(300))
        print("no error", t)
    except m.MessageError as e:
        print("error", t, e.reason)
try:
    m.encode(m.NAK, {"reason": 256})
except m.MessageError as e:
    print("error", e.reason)
try:
    frame.cobs_decode(b"\x05\x01")
except frame.FrameError as e:
    print("error", e.reason)
print("crc", hex(frame.crc32(b"123456789")))
print("cobs", frame.cobs_encode(bytes(range(1, 256))).hex())
'''


def _script(tmp_path):
    lines = ["EXAMPLES = ["]
    for ex in EXAMPLES:
        lines.append("    (%r, %d, %d, %r)," % (ex["name"], ex["type"], ex["seq"], to_fields(ex)))
    lines.append("]")
    path = os.path.join(str(tmp_path), "golden_mp.py")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + _BODY)
    return path


def test_golden_vectors_and_noise_same_on_micropython_and_cpython(tmp_path):
    path = _script(tmp_path)
    mp = run_mp(path, heap="64K")
    assert mp.returncode == 0, mp.stderr + mp.stdout
    env = dict(os.environ, PYTHONPATH=REPO)
    cp = subprocess.run([sys.executable, path], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert mp.stdout == cp.stdout
    out = mp.stdout.splitlines()
    # the golden bytes from the doc, on MicroPython
    for ex, line in zip(EXAMPLES, out):
        name, wire_hex, seq, same = line.split(" ")[:4]
        assert name == ex["name"]
        assert wire_hex == ex["wire"].hex()
        assert int(seq) == ex["seq"] and same == "True"
    stream_line = [line for line in out if line.startswith("stream ")][0]
    _, _, n_ok, n_bad, frames_ok, frames_bad = stream_line.split()
    assert int(n_ok) > 150 and int(n_bad) > 20
    assert (n_ok, n_bad) == (frames_ok, frames_bad)
    assert "crc 0xcbf43926" in out
    assert not [line for line in out if line.startswith("no error")]


def test_modules_fit_a_small_heap_and_feeding_does_not_grow_it():
    code = (
        "import gc\n"
        "gc.collect()\n"
        "before = gc.mem_alloc()\n"
        "from firmware import frame, messages\n"
        "d = frame.Deframer()\n"
        "w = frame.encode(3, 1, bytes(34))\n"
        "i = 0\n"
        "d.feed(w)\n"
        "gc.collect()\n"
        "print(gc.mem_alloc() - before)\n"
        "for i in range(200):\n"
        "    d.feed(w)\n"
        "gc.collect()\n"
        "print(gc.mem_alloc() - before)\n"
    )
    res = run_mp(code, heap="64K")
    assert res.returncode == 0, res.stderr
    loaded, after = [int(x) for x in res.stdout.split()]
    # both modules (compiled from source on the 64-bit unix port) and a Deframer: about 16 KB
    assert loaded < 20000, loaded
    assert after - loaded < 64  # feeding frames keeps nothing: the Deframer reuses its buffers
