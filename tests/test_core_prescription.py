"""firmware/prescription: validation with a named reason for every bad field, the canonical
bytes (golden), strict canonical parsing and the clinic text form."""

import pytest

from firmware import prescription as p

GOOD = {
    "version": 3,
    "dose_ug": 250,
    "duration_s": 300,
    "lockout_s": 3600,
    "max_per_24h": 6,
    "cap_ug": 2000,
    "cap_window_s": 14400,
}
GOLDEN = b"rx1;version=3;dose_ug=250;duration_s=300;lockout_s=3600;max_per_24h=6;cap_ug=2000;cap_window_s=14400"


def fields(**changes):
    d = dict(GOOD)
    d.update(changes)
    return d


def reason_of(fn, *args):
    with pytest.raises(p.PrescriptionError) as info:
        fn(*args)
    reason = info.value.reason
    assert isinstance(reason, str) and reason.endswith(".") and len(reason) < 100
    assert str(info.value) == reason
    return reason


def test_valid_fields_build_a_prescription():
    rx = p.from_fields(GOOD)
    assert isinstance(rx, p.Prescription)
    for key in p.FIELDS:
        assert getattr(rx, key) == GOOD[key]
    assert rx.fields() == GOOD


def test_canonical_bytes_are_exactly_the_contract_form():
    assert p.canonical(p.from_fields(GOOD)) == GOLDEN


def test_canonical_key_order_is_the_contract_order():
    assert p.FIELDS == ("version", "dose_ug", "duration_s", "lockout_s", "max_per_24h", "cap_ug", "cap_window_s")


def test_canonical_round_trip():
    rx = p.from_fields(GOOD)
    assert p.parse_canonical(p.canonical(rx)) == rx
    assert p.parse_canonical(bytearray(GOLDEN)) == rx
    assert p.parse_canonical(memoryview(GOLDEN)) == rx


def test_no_cap_is_both_zero():
    rx = p.from_fields(fields(cap_ug=0, cap_window_s=0))
    assert (rx.cap_ug, rx.cap_window_s) == (0, 0)
    assert p.parse_canonical(p.canonical(rx)) == rx


def test_equality_compares_every_field():
    a = p.from_fields(GOOD)
    for key in p.FIELDS:
        if key in ("cap_ug", "cap_window_s"):
            continue
        b = p.from_fields(fields(**{key: GOOD[key] + 1}))
        assert a != b
    assert a == p.from_fields(dict(GOOD))
    assert a != "rx"


@pytest.mark.parametrize(
    "key,value,words",
    [
        ("dose_ug", 0, "dose_ug must be 1..100000"),
        ("dose_ug", -5, "dose_ug must be 1..100000"),
        ("dose_ug", 100001, "dose_ug must be 1..100000"),
        ("duration_s", 0, "duration_s must be 1..3600"),
        ("duration_s", 3601, "duration_s must be 1..3600"),
        ("lockout_s", 299, "must not be shorter than duration_s"),
        ("lockout_s", 86401, "lockout_s must be 300..86400"),
        ("max_per_24h", 0, "max_per_24h must be 1..48"),
        ("max_per_24h", 49, "max_per_24h must be 1..48"),
        ("version", 0, "version must be 1..2147483647"),
        ("version", 2**31, "version must be 1..2147483647"),
        ("cap_ug", -1, "cap_ug must be 0..10000000"),
        ("cap_ug", 10**7 + 1, "cap_ug must be 0..10000000"),
        ("cap_window_s", 1800, "cap_window_s must be 3600..86400"),
        ("cap_window_s", 86401, "cap_window_s must be 3600..86400"),
        ("cap_window_s", -1, "cap_window_s must be 3600..86400"),
    ],
)
def test_out_of_range_fields_are_refused_by_name(key, value, words):
    assert words in reason_of(p.from_fields, fields(**{key: value}))


def test_limits_themselves_are_accepted():
    low = {"version": 1, "dose_ug": 1, "duration_s": 1, "lockout_s": 1, "max_per_24h": 1, "cap_ug": 0, "cap_window_s": 0}
    high = {
        "version": 2**31 - 1,
        "dose_ug": 100000,
        "duration_s": 3600,
        "lockout_s": 86400,
        "max_per_24h": 48,
        "cap_ug": 10**7,
        "cap_window_s": 86400,
    }
    for d in (low, high, fields(cap_window_s=3600), fields(lockout_s=300)):
        rx = p.from_fields(d)
        assert p.parse_canonical(p.canonical(rx)) == rx


@pytest.mark.parametrize("cap_ug,cap_window_s", [(0, 3600), (500, 0)])
def test_cap_and_window_come_together(cap_ug, cap_window_s):
    assert "both" in reason_of(p.from_fields, fields(cap_ug=cap_ug, cap_window_s=cap_window_s))


@pytest.mark.parametrize("value", [1.0, "250", True, None, [250]])
@pytest.mark.parametrize("key", ["dose_ug", "lockout_s", "version"])
def test_non_integers_are_refused(key, value):
    assert key + " must be a whole number" in reason_of(p.from_fields, fields(**{key: value}))


def test_missing_and_unknown_fields_are_named():
    d = fields()
    del d["max_per_24h"]
    assert "max_per_24h" in reason_of(p.from_fields, d)
    assert "'bolus_ug'" in reason_of(p.from_fields, fields(bolus_ug=1))
    assert "named fields" in reason_of(p.from_fields, [("dose_ug", 1)])


TEXT = """# clinic prescription for the demo patient
version=3
dose_ug=250   duration_s=300
lockout_s=3600 # one hour
max_per_24h=6
\tcap_ug=2000\r
cap_window_s=14400
"""


def test_parse_text_reads_the_clinic_form():
    assert p.parse_text(TEXT) == p.from_fields(GOOD)
    assert p.parse_text(TEXT.encode()) == p.from_fields(GOOD)


def test_parse_text_needs_every_field():
    text = TEXT.replace("max_per_24h=6", "")
    assert "Missing field max_per_24h" in reason_of(p.parse_text, text)
    assert "Missing field cap_ug" in reason_of(p.parse_text, TEXT.replace("cap_ug=2000", "# cap_ug=2000"))


def test_parse_text_names_unknown_and_duplicate_keys():
    assert "'lockout'" in reason_of(p.parse_text, TEXT + "lockout=60\n")
    assert "lockout_s is given twice" in reason_of(p.parse_text, TEXT + "lockout_s=3600\n")


@pytest.mark.parametrize(
    "token,words",
    [
        ("dose_ug=1.5", "dose_ug must be a whole number"),
        ("dose_ug=abc", "dose_ug must be a whole number"),
        ("dose_ug=+5", "dose_ug must be a whole number"),
        ("dose_ug=", "dose_ug must be a whole number"),
        ("dose_ug=0x10", "dose_ug must be a whole number"),
        ("dose_ug=1_000", "dose_ug must be a whole number"),
        ("dose_ug=9999999999999", "dose_ug must be a whole number"),
        ("dose_ug=-7", "dose_ug must be 1..100000"),
        ("dose_ug", "is not key=value"),
        ("=250", "is not key=value"),
    ],
)
def test_parse_text_refuses_bad_tokens(token, words):
    text = TEXT.replace("dose_ug=250", token)
    assert words in reason_of(p.parse_text, text)


@pytest.mark.parametrize(
    "blob,words",
    [
        (b"", "must start with"),
        (b"rx2;" + GOLDEN[4:], "must start with"),
        (GOLDEN.replace(b"dose_ug=250;duration_s=300", b"duration_s=300;dose_ug=250"), "Field 2"),
        (GOLDEN.replace(b";cap_window_s=14400", b""), "7 fields, not 6"),
        (GOLDEN + b";extra=1", "7 fields, not 8"),
        (GOLDEN + b";", "7 fields, not 8"),
        (GOLDEN.replace(b"dose_ug=250", b"dose_ug=0250"), "not in canonical form"),
        (GOLDEN.replace(b"cap_ug=2000;cap_window_s=14400", b"cap_ug=-0;cap_window_s=0"), "not in canonical form"),
        (GOLDEN.replace(b"dose_ug=250", b"dose_ug= 250"), "printable ASCII"),
        (GOLDEN.replace(b"dose_ug=250", b"dose_ug=25\xc3\xa9"), "printable ASCII"),
        (GOLDEN + b"\n", "printable ASCII"),
        (GOLDEN.replace(b"dose_ug=250", b"dose_ug=2.5"), "dose_ug must be a whole number"),
        (GOLDEN.replace(b"dose_ug=250", b"dose_ug"), "Field 2"),
        (GOLDEN.replace(b"lockout_s=3600", b"lockout_s=30"), "must not be shorter"),
        (GOLDEN + b"x" * 200, "too long"),
    ],
)
def test_parse_canonical_is_strict(blob, words):
    assert words in reason_of(p.parse_canonical, blob)


def test_parse_canonical_needs_bytes():
    assert "must be bytes" in reason_of(p.parse_canonical, GOLDEN.decode())
    assert "must be bytes" in reason_of(p.parse_canonical, None)


def test_repr_shows_the_fields():
    assert "lockout_s=3600" in repr(p.from_fields(GOOD))
