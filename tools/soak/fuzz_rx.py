"""The prescription's fuzz inputs and checks: the ranges of plan/CONTRACTS.md and a reading
of the clinic's text form written independently of firmware/prescription.py, random texts,
canonical forms and signed blobs, and the checks of `parse_text`, `parse_canonical` and
`rxstore.verify` against them. Used by `tools.soak.fuzz` and the hypothesis tests."""

import hashlib
import hmac

from firmware import prescription as rxmod
from firmware import rxstore
from tools.soak.fuzz_wire import mutate

KEY = bytes(range(7, 39))
OTHER_KEY = bytes(range(100, 132))


# ---- prescriptions -----------------------------------------------------------------------------
def ref_valid(d):
    """The ranges of plan/CONTRACTS.md, checked independently of firmware/prescription.py."""
    keys = ("version", "dose_ug", "duration_s", "lockout_s", "max_per_24h", "cap_ug", "cap_window_s")
    if sorted(d) != sorted(keys):
        return False
    for k in keys:
        if type(d[k]) is not int:
            return False
    return (
        1 <= d["version"] <= 2**31 - 1
        and 1 <= d["dose_ug"] <= 100000
        and 1 <= d["duration_s"] <= 3600
        and d["duration_s"] <= d["lockout_s"] <= 86400
        and 1 <= d["max_per_24h"] <= 48
        and 0 <= d["cap_ug"] <= 10**7
        and (d["cap_window_s"] == 0 or 3600 <= d["cap_window_s"] <= 86400)
        and (d["cap_ug"] == 0) == (d["cap_window_s"] == 0)
    )


def ref_text(text):
    """An independent reading of the clinic's text form: the dict it states, or None."""
    d = {}
    for line in text.split("\n"):
        line = line.split("#", 1)[0]
        for tok in line.split():
            if tok.count("=") < 1:
                return None
            k, v = tok.split("=", 1)
            if k in d:
                return None
            neg = v.startswith("-")
            digits = v[1:] if neg else v
            if not digits or len(digits) > 12 or any(c not in "0123456789" for c in digits):
                return None
            d[k] = int(v)
    return d


def random_rx_fields(rng, valid_bias=0.7):
    dur = rng.choice((1, 2, 60, 600, 3600, rng.randrange(1, 3601)))
    d = {
        "version": rng.choice((1, 2, 2**31 - 1, rng.randrange(1, 2**31))),
        "dose_ug": rng.choice((1, 100, 100000, rng.randrange(1, 100001))),
        "duration_s": dur,
        "lockout_s": rng.choice((dur, 86400, rng.randrange(dur, 86401))),
        "max_per_24h": rng.choice((1, 4, 48, rng.randrange(1, 49))),
        "cap_ug": 0,
        "cap_window_s": 0,
    }
    if rng.random() < 0.4:
        d["cap_ug"] = rng.randrange(1, 10**7 + 1)
        d["cap_window_s"] = rng.randrange(3600, 86401)
    if rng.random() > valid_bias:  # one field pushed to or over an edge
        k = rng.choice(sorted(d))
        d[k] = rng.choice((0, -1, 1, 3599, 3600, 3601, 86400, 86401, 49, 100001, 10**7 + 1, 2**31, 2**32, 10**12, 10**13))
    return d


_JUNK = (" ", "\t", "\n", "\r", "#", "=", "==", "-", "+", "0", "00", "\x00", "\u00a0", "\u2003", "\x1c", "\x85", "\u0663", "1e3", "0x10", "1_0", "9" * 13, "rx1;", ";")


def random_text(rng):
    d = random_rx_fields(rng)
    keys = list(d)
    rng.shuffle(keys)
    lines = []
    for k in keys:
        v = str(d[k])
        r = rng.random()
        if r < 0.01:
            v = "0" + v
        elif r < 0.02:
            v = "+" + v
        elif r < 0.03:
            continue  # missing
        elif r < 0.04:
            lines.append("%s=%s" % (k, v))  # duplicate
        elif r < 0.05:
            k = k.upper()
        sep = "=" if rng.random() < 0.95 else rng.choice((" = ", "=="))
        lines.append(k + sep + v + rng.choice(("", "", " # note", "\t", "  #x=1")))
    if rng.random() < 0.03:
        lines.append("colour=blue")
    text = rng.choice(("\n", " ", "\r\n", "\t")).join(lines)
    if rng.random() < 0.2:
        t = list(text)
        for _ in range(rng.randrange(1, 4)):
            t.insert(rng.randrange(len(t) + 1), rng.choice(_JUNK))
        text = "".join(t)
    return text


def _parsed(res, parse, data):
    """`parse(data)` counted: the prescription, or None when refused (as it should be, with a
    PrescriptionError) or when anything else escaped (a finding)."""
    res.inputs += 1
    try:
        rx = parse(data)
    except rxmod.PrescriptionError:
        res.rejected += 1
        return None
    except Exception as e:
        res.bad("escaped", "%s(%r): %r" % (parse.__name__, data[:80], e))
        return None
    res.accepted += 1
    return rx


def check_text(res, text):
    rx = _parsed(res, rxmod.parse_text, text)
    if rx is None:
        return None
    ref = ref_text(text)
    if ref is None or not ref_valid(ref) or ref != rx.fields():
        res.bad("invalid", "parse_text(%r) accepted %r (reference reading %r)" % (text[:120], rx, ref))
    return rx


def random_canonical(rng):
    d = random_rx_fields(rng, valid_bias=0.85)
    text = "rx1;" + ";".join("%s=%d" % (k, d[k]) for k in rxmod.FIELDS)
    b = text.encode()
    r = rng.random()
    if r < 0.5:
        b = mutate(rng, b, max_len=300)
    elif r < 0.6:
        b = b.replace(b"=", b"=0", 1)
    elif r < 0.7:
        b = b.replace(b"=", b"=-", 1)
    return b


def check_canonical(res, b):
    rx = _parsed(res, rxmod.parse_canonical, b)
    if rx is None:
        return None
    try:
        text = b.decode("ascii")
        ok = text.startswith("rx1;")
        pairs = [p.split("=", 1) for p in text[4:].split(";")]
        ok = ok and [p[0] for p in pairs] == list(rxmod.FIELDS) and all(len(p) == 2 for p in pairs)
        d = {p[0]: int(p[1]) for p in pairs} if ok else {}
        ok = ok and ref_valid(d) and d == rx.fields() and ";".join("%s=%d" % (k, d[k]) for k in rxmod.FIELDS) == text[4:]
    except (ValueError, UnicodeError):
        ok = False
    if not ok:
        res.bad("invalid", "parse_canonical(%r) accepted %r" % (b[:120], rx))
    return rx


def ref_sign(body, key):
    return bytes(body) + hmac.new(key, bytes(body), hashlib.sha256).digest()


def random_blob(rng):
    """Signed prescriptions, altered ones, ones signed with another key, and bodies that are
    not canonical but carry a valid tag (what a buggy or compromised clinic tool could send)."""
    body = random_canonical(rng) if rng.random() < 0.7 else rxmod.canonical(rxmod.from_fields(_valid_fields(rng)))
    r = rng.random()
    if r < 0.45:
        return ref_sign(body, KEY)
    if r < 0.6:
        return mutate(rng, ref_sign(body, KEY), max_len=400)
    if r < 0.7:
        return ref_sign(body, OTHER_KEY)
    if r < 0.8:
        return body  # unsigned
    if r < 0.9:
        return ref_sign(body, KEY)[: rng.randrange(0, len(body) + 33)]
    return bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))


def _valid_fields(rng):
    while True:
        d = random_rx_fields(rng, valid_bias=1.0)
        if ref_valid(d):
            return d


def check_blob(res, blob, current):
    res.inputs += 1
    try:
        rx = rxstore.verify(blob, KEY, current)
    except rxstore.RxRefused:
        res.rejected += 1
        return None
    except Exception as e:
        res.bad("escaped", "verify(%s): %r" % (bytes(blob)[:60].hex(), e))
        return None
    res.accepted += 1
    body = bytes(blob)[:-32]
    ok = len(blob) > 32 and hmac.compare_digest(ref_sign(body, KEY), bytes(blob))
    ok = ok and rx.version > current and body == rxmod.canonical(rx) and ref_valid(rx.fields())
    if not ok:
        res.bad("invalid", "verify accepted %s as %r (current version %d)" % (bytes(blob)[:60].hex(), rx, current))
    return rx
