"""firmware/rxstore: signed prescriptions. Signature vector from docs/security.md, every single
bit flip refused, rollback/unsigned/malformed refused with the old one kept and RX_CHANGE
logged, atomic install under power loss, MicroPython; and tools/security/rx_sign (signing, the
pump's signed text form), which is host code."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import eventlog as ev
from firmware import prescription, rxstore
from firmware.hmac_sha256 import hmac_sha256
from hal.fakes import MemStorage, PowerLoss
from tests.mp import MICROPYTHON, run_mp
from tests.test_security_auth import doc_block
from tools.security import rx_sign

KEY = bytes(range(32))
OTHER = bytes(range(100, 132))


def rx(version=1, dose_ug=500, duration_s=60, lockout_s=600, max_per_24h=6, cap_ug=0, cap_window_s=0):
    return prescription.from_fields(
        dict(
            version=version,
            dose_ug=dose_ug,
            duration_s=duration_s,
            lockout_s=lockout_s,
            max_per_24h=max_per_24h,
            cap_ug=cap_ug,
            cap_window_s=cap_window_s,
        )
    )


def opened_log(storage):
    log = ev.EventLog(storage)
    log.open()
    return log


def rx_changes(log):
    return [(r.a, r.b, r.c) for r in log.records() if r.kind == ev.RX_CHANGE]


def test_doc_signature_vector():
    v = doc_block("rx-signature-vector")
    key = bytes.fromhex(v["key"])
    body = v["canonical"].encode()
    assert prescription.canonical(rx()) == body
    blob = rx_sign.sign(rx(), key)
    assert blob == body + bytes.fromhex(v["tag"])
    assert len(blob) == 123
    assert rxstore.verify(blob, key) == rx()


def test_sign_verify_roundtrip_and_codes():
    blob = rx_sign.sign(rx(version=3, cap_ug=5000, cap_window_s=14400), KEY)
    got = rxstore.verify(blob, KEY, 2)
    assert got.version == 3 and got.cap_ug == 5000 and got.cap_window_s == 14400
    assert rxstore.REFUSAL_CODES == {
        "unsigned": 1,
        "bad_signature": 2,
        "malformed": 3,
        "rollback": 4,
        "no_key": 5,
        "missing": 6,
        "oversized": 7,
    }
    assert ev.RX_CHANGE == 10


def test_every_single_bit_flip_refused():
    blob = rx_sign.sign(rx(), KEY)
    refused = 0
    for i in range(len(blob)):
        for bit in range(8):
            bad = bytearray(blob)
            bad[i] ^= 1 << bit
            with pytest.raises(rxstore.RxRefused) as e:
                rxstore.verify(bytes(bad), KEY)
            assert e.value.code == rxstore.BAD_SIGNATURE  # a flipped tag never looks like text
            refused += 1
    assert refused == len(blob) * 8 == 984


def test_every_bit_flip_refused_by_install_keeps_old():
    store = rxstore.RxStore(MemStorage(), KEY)
    assert store.install(rx_sign.sign(rx(version=1), KEY)) == (True, None)
    old = store.storage.read("rx.bin")
    new = rx_sign.sign(rx(version=2, dose_ug=900), KEY)
    for i in range(0, len(new)):
        for bit in range(8):
            bad = bytearray(new)
            bad[i] ^= 1 << bit
            ok, reason = store.install(bytes(bad))
            assert (ok, reason) == (False, rxstore.REFUSAL_NAMES[rxstore.BAD_SIGNATURE])
    assert store.storage.read("rx.bin") == old
    assert store.load()[0] == rx(version=1)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_never_accepted_and_never_crash(data):
    with pytest.raises(rxstore.RxRefused):
        rxstore.verify(data, KEY)


def test_wrong_key_refused():
    with pytest.raises(rxstore.RxRefused) as e:
        rxstore.verify(rx_sign.sign(rx(), OTHER), KEY)
    assert e.value.reason == "bad_signature"


def test_unsigned_refused():
    body = prescription.canonical(rx())
    for blob in (b"", b"x" * 32, body, body + b"\n"):
        with pytest.raises(rxstore.RxRefused) as e:
            rxstore.verify(blob, KEY)
        assert e.value.reason == "unsigned", blob
    with pytest.raises(rxstore.RxRefused) as e:
        rxstore.verify(None, KEY)
    assert e.value.code == rxstore.UNSIGNED


def test_malformed_but_signed_refused():
    for body in (
        b"rx1;version=1;dose_ug=0;duration_s=60;lockout_s=600;max_per_24h=6;cap_ug=0;cap_window_s=0",
        b"rx1;version=1;dose_ug=0500;duration_s=60;lockout_s=600;max_per_24h=6;cap_ug=0;cap_window_s=0",
        b"rx1;version=1;dose_ug=500;duration_s=60;lockout_s=30;max_per_24h=6;cap_ug=0;cap_window_s=0",
        b"hello",
        b"\xff\xfe",
    ):
        blob = body + hmac_sha256(KEY, body)
        with pytest.raises(rxstore.RxRefused) as e:
            rxstore.verify(blob, KEY)
        assert e.value.reason == "malformed", body
        assert "Malformed prescription" in e.value.detail


def test_no_key():
    blob = rx_sign.sign(rx(), KEY)
    for key in (None, b"", KEY[:31], bytes(32)):
        with pytest.raises(rxstore.RxRefused) as e:
            rxstore.verify(blob, key)
        assert e.value.reason == "no_key"
        assert rxstore.RxStore(MemStorage(), key).load() == (None, "no_key")
    with pytest.raises(rxstore.RxRefused):
        rx_sign.sign(rx(), bytes(32))


def test_load():
    s = MemStorage()
    store = rxstore.RxStore(s, KEY)
    assert store.load() == (None, "missing")
    s.replace("rx.bin", rx_sign.sign(rx(version=4), KEY))
    got, reason = store.load()
    assert reason is None and got.version == 4
    s.replace("rx.bin", rx_sign.sign(rx(version=4), OTHER))
    assert store.load() == (None, "bad_signature")
    s.replace("rx.bin", prescription.canonical(rx()))
    assert store.load() == (None, "unsigned")


def test_rollback_refused_old_kept_and_logged():
    s = MemStorage()
    log = opened_log(s)
    store = rxstore.RxStore(s, KEY)
    assert store.install(rx_sign.sign(rx(version=5), KEY), log) == (True, None)
    kept = s.read("rx.bin")
    assert store.install(rx_sign.sign(rx(version=4, dose_ug=900), KEY), log) == (False, "rollback")
    assert store.install(rx_sign.sign(rx(version=5, dose_ug=900), KEY), log) == (False, "rollback")
    assert store.install(rx_sign.sign(rx(version=5), KEY), log) == (False, "rollback")  # same one again
    assert s.read("rx.bin") == kept
    assert store.load()[0].version == 5
    assert rx_changes(log) == [(5, 1, 0), (4, 0, 4), (5, 0, 4), (5, 0, 4)]
    assert store.install(rx_sign.sign(rx(version=6), KEY), log) == (True, None)
    assert rx_changes(log)[-1] == (6, 1, 0)


def test_unsigned_and_malformed_refused_and_logged():
    s = MemStorage()
    log = opened_log(s)
    store = rxstore.RxStore(s, KEY)
    store.install(rx_sign.sign(rx(version=2), KEY), log)
    kept = s.read("rx.bin")
    body = b"rx1;version=9;dose_ug=0;duration_s=60;lockout_s=600;max_per_24h=6;cap_ug=0;cap_window_s=0"
    assert store.install(prescription.canonical(rx(version=3)), log) == (False, "unsigned")
    assert store.install(rx_sign.sign(rx(version=3), OTHER), log) == (False, "bad_signature")
    assert store.install(body + hmac_sha256(KEY, body), log) == (False, "malformed")
    assert store.install(b"", log) == (False, "unsigned")
    assert s.read("rx.bin") == kept
    # refused blobs were not authenticated (or not valid): their version is logged as 0
    assert rx_changes(log) == [(2, 1, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3), (0, 0, 1)]


def test_install_over_invalid_current_accepts_valid():
    s = MemStorage()
    s.replace("rx.bin", b"garbage")
    store = rxstore.RxStore(s, KEY)
    assert store.install(rx_sign.sign(rx(version=1), KEY)) == (True, None)
    assert store.rx == rx(version=1)


def test_install_is_atomic_under_power_loss():
    new = rx_sign.sign(rx(version=2, dose_ug=800), KEY)
    for cut in range(0, len(new) + 1):
        s = MemStorage()
        store = rxstore.RxStore(s, KEY)
        store.install(rx_sign.sign(rx(version=1), KEY))
        s.cut_after(cut)
        try:
            store.install(new)
        except PowerLoss:
            pass
        got, reason = rxstore.RxStore(s, KEY).load()
        assert reason is None
        assert got.version in (1, 2)
        assert got.version == (2 if cut >= len(new) else 1)


def test_install_with_file_storage(tmp_path):
    from hal.storage import FileStorage

    s = FileStorage(str(tmp_path))
    store = rxstore.RxStore(s, KEY)
    assert store.install(rx_sign.sign(rx(version=1), KEY)) == (True, None)
    assert rxstore.RxStore(FileStorage(str(tmp_path)), KEY).load()[0] == rx(version=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rx.bin"]


def test_signed_text_for_the_pump():
    text = rx_sign.sign_text(rx(version=7), KEY)
    assert prescription.parse_text(text) == rx(version=7)  # the emulator reads it as it is
    assert rx_sign.verify_text(text, KEY) == rx(version=7)
    assert rx_sign.verify_text(text.encode(), KEY, 6) == rx(version=7)
    v = doc_block("rx-signature-vector")
    assert rx_sign.sign_text(rx(), bytes.fromhex(v["key"])).endswith("# hmac-sha256=" + v["tag"] + "\n")
    with pytest.raises(rxstore.RxRefused) as e:
        rx_sign.verify_text(text, KEY, 7)
    assert e.value.reason == "rollback"
    with pytest.raises(rxstore.RxRefused) as e:
        rx_sign.verify_text(text, OTHER)
    assert e.value.reason == "bad_signature"
    with pytest.raises(rxstore.RxRefused) as e:
        rx_sign.verify_text(text.replace("dose_ug=500", "dose_ug=5000"), KEY)
    assert e.value.reason == "bad_signature"
    with pytest.raises(rxstore.RxRefused) as e:
        rx_sign.verify_text("\n".join(ln for ln in text.splitlines() if "hmac" not in ln), KEY)
    assert e.value.reason == "unsigned"
    with pytest.raises(rxstore.RxRefused) as e:
        rx_sign.verify_text(text + "# hmac-sha256=" + "00" * 32 + "\n", KEY)
    assert e.value.reason == "unsigned"
    with pytest.raises(rxstore.RxRefused) as e:
        rx_sign.verify_text(text.replace("max_per_24h=6", "max_per_24h=60"), KEY)
    assert e.value.reason == "malformed"
    with pytest.raises(rxstore.RxRefused) as e:
        rx_sign.verify_text(b"\xff\xfe", KEY)
    assert e.value.reason == "malformed"


@pytest.mark.micropython
@pytest.mark.skipif(MICROPYTHON is None, reason="MicroPython unix port not installed")
def test_under_micropython():
    """The handheld verifies and installs on MicroPython what the host signed."""
    v = doc_block("rx-signature-vector")
    blob = rx_sign.sign(prescription.parse_canonical(v["canonical"].encode()), bytes.fromhex(v["key"]))
    assert blob[-32:].hex() == v["tag"]
    code = (
        "import binascii\n"
        "from firmware import rxstore\n"
        "from firmware import eventlog\n"
        "class MemStorage:\n"
        "    def __init__(self): self.f = {}\n"
        "    def read(self, n, limit=None): return self.f.get(n)\n"
        "    def append(self, n, d): self.f[n] = self.f.get(n, b'') + bytes(d)\n"
        "    def replace(self, n, d): self.f[n] = bytes(d)\n"
        "    def size(self, n): return len(self.f.get(n, b''))\n"
        "    def truncate(self, n, k): self.f[n] = self.f.get(n, b'')[:k]\n"
        "k = binascii.unhexlify('%s')\n"
        "blob = binascii.unhexlify('%s')\n"
        "s = MemStorage()\n"
        "log = eventlog.EventLog(s)\n"
        "log.open()\n"
        "st = rxstore.RxStore(s, k)\n"
        "print(st.install(blob, log))\n"
        "print(st.install(blob, log))\n"
        "bad = bytearray(blob)\n"
        "bad[5] ^= 1\n"
        "print(st.install(bytes(bad), log))\n"
        "print(st.load()[0].version, st.load()[0].dose_ug, [(r.a, r.b, r.c) for r in log.records()])\n"
    ) % (v["key"], blob.hex())
    result = run_mp(code, heap="96K")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "(True, None)",
        "(False, 'rollback')",
        "(False, 'bad_signature')",
        "1 500 [(1, 1, 0), (1, 0, 4), (0, 0, 2)]",
    ], result.stdout
