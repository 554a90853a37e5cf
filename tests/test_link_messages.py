"""firmware/messages.py: constants from the contract, round trips, malformed payloads."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import messages as m

U8 = st.integers(0, 0xFF)
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)


def test_type_codes_and_tables_match_the_contract():
    assert (m.SYNC_REQ, m.SYNC, m.STATUS_REQ, m.STATUS, m.BOLUS_REQ, m.BOLUS_ACK) == (1, 0x81, 2, 0x82, 3, 0x83)
    assert (m.RECORD_REQ, m.RECORD, m.HISTORY_REQ, m.HISTORY, m.ALARM, m.NAK) == (4, 0x84, 5, 0x85, 0x86, 0xFF)
    assert m.ALARM_NAMES == {1: "low_reservoir", 2: "empty_reservoir", 4: "motor_stall", 8: "battery_eri"}
    assert m.HIGH_PRIORITY_MASK == 0x06
    assert m.BOLUS_STATUS_NAMES == {1: "delivering", 2: "complete", 3: "stopped", 4: "refused"}
    assert m.NAK_REASONS == {1: "frame", 2: "unknown_type", 3: "malformed", 4: "version"}
    assert m.PUMP_REASONS == {
        0: "ok", 1: "lockout", 2: "max_24h", 3: "alarm", 4: "reservoir", 5: "amount_cap",
        6: "no_prescription", 7: "dose_mismatch", 8: "busy", 9: "auth", 10: "replay", 11: "stale",
        12: "unpaired", 13: "bad_id",
    }  # fmt: skip
    assert (m.BOLUS_DELIVERING, m.BOLUS_COMPLETE, m.BOLUS_STOPPED, m.BOLUS_REFUSED) == (1, 2, 3, 4)
    assert (m.NAK_FRAME, m.NAK_UNKNOWN_TYPE, m.NAK_MALFORMED, m.NAK_VERSION) == (1, 2, 3, 4)
    for req, rep in m.REPLY_TO.items():
        assert rep == req | 0x80


def test_alarm_names_highest_priority_first():
    assert m.alarm_names(0) == []
    assert m.alarm_names(0x0F) == ["empty_reservoir", "motor_stall", "battery_eri", "low_reservoir"]
    assert m.alarm_names(0x09) == ["battery_eri", "low_reservoir"]


SIZES = {
    m.SYNC_REQ: 0, m.SYNC: 18, m.STATUS_REQ: 0, m.STATUS: 21, m.BOLUS_REQ: 34, m.BOLUS_ACK: 14,
    m.RECORD_REQ: 4, m.RECORD: 22, m.HISTORY_REQ: 1, m.ALARM: 6, m.NAK: 1,
}  # fmt: skip

STRATEGIES = {
    m.SYNC_REQ: st.fixed_dictionaries({}),
    m.SYNC: st.fixed_dictionaries(
        {"pump_id": U32, "pump_time": U32, "alarms": U8, "reservoir_ug": U32, "last_request_id": U32, "history_count": U8}
    ),
    m.STATUS_REQ: st.fixed_dictionaries({}),
    m.STATUS: st.fixed_dictionaries(
        {"pump_time": U32, "alarms": U8, "reservoir_ug": U32, "bolus_id": U32, "bolus_delivered_ug": U32, "bolus_dose_ug": U32}
    ),
    m.BOLUS_REQ: st.fixed_dictionaries(
        {"request_id": U32, "dose_ug": U32, "duration_s": U16, "captured_s": U32, "counter": U32, "tag": st.binary(min_size=16, max_size=16)}
    ),
    m.BOLUS_ACK: st.fixed_dictionaries({"request_id": U32, "accepted": st.integers(0, 1), "reason": U8, "start_s": U32, "pump_time": U32}),
    m.RECORD_REQ: st.fixed_dictionaries({"request_id": U32}),
    m.RECORD: st.fixed_dictionaries(
        {"request_id": U32, "found": U8, "status": U8, "start_s": U32, "dose_ug": U32, "delivered_ug": U32, "pump_time": U32}
    ),
    m.HISTORY_REQ: st.fixed_dictionaries({"offset": U8}),
    m.HISTORY: st.fixed_dictionaries(
        {"total": U8, "offset": U8, "boluses": st.lists(st.tuples(U32, U32, U32, U8), max_size=m.HISTORY_MAX)}
    ),
    m.ALARM: st.fixed_dictionaries({"alarms": U8, "raised": U8, "pump_time": U32}),
    m.NAK: st.fixed_dictionaries({"reason": U8}),
}


def test_every_type_has_a_strategy():
    assert set(STRATEGIES) == set(m.MSG_NAMES)


@pytest.mark.parametrize("msg_type", sorted(STRATEGIES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip(msg_type, data):
    fields = data.draw(STRATEGIES[msg_type])
    payload = m.encode(msg_type, fields)
    if msg_type == m.HISTORY:
        assert len(payload) == 3 + 13 * len(fields["boluses"])
    else:
        assert len(payload) == SIZES[msg_type]
    assert m.decode(msg_type, payload) == fields


@pytest.mark.parametrize("msg_type", sorted(SIZES))
def test_wrong_lengths_raise(msg_type):
    size = SIZES[msg_type]
    for n in {0, size - 1, size + 1, size + 13, 200} - {size}:
        if n < 0:
            continue
        with pytest.raises(m.MessageError):
            m.decode(msg_type, bytes(n))


@pytest.mark.parametrize("n", [0, 1, 2, 4, 15, 3 + 13 * 9, 3 + 13 * 2 + 1])
def test_history_wrong_lengths_raise(n):
    payload = bytearray(n)
    if n >= 3:
        payload[2] = min((n - 3) // 13, 255)
    with pytest.raises(m.MessageError):
        m.decode(m.HISTORY, bytes(payload))


def test_history_count_must_match_length():
    good = m.encode(m.HISTORY, {"total": 2, "offset": 0, "boluses": [(1, 2, 3, 2), (4, 5, 6, 3)]})
    bad = bytearray(good)
    bad[2] = 1
    with pytest.raises(m.MessageError):
        m.decode(m.HISTORY, bytes(bad))


def test_unknown_type_raises():
    with pytest.raises(m.MessageError):
        m.decode(0x42, b"")
    with pytest.raises(m.MessageError):
        m.encode(0x42, {})


@pytest.mark.parametrize(
    "msg_type,fields",
    [
        (m.NAK, {"reason": 256}),
        (m.NAK, {"reason": -1}),
        (m.NAK, {"reason": "1"}),
        (m.NAK, {}),
        (m.RECORD_REQ, {"request_id": 2**32}),
        (m.BOLUS_REQ, {"request_id": 1, "dose_ug": 1, "duration_s": 70000, "captured_s": 0, "counter": 0, "tag": bytes(16)}),
        (m.BOLUS_REQ, {"request_id": 1, "dose_ug": 1, "duration_s": 1, "captured_s": 0, "counter": 0, "tag": bytes(15)}),
        (m.BOLUS_REQ, {"request_id": 1, "dose_ug": 1, "duration_s": 1, "captured_s": 0, "counter": 0}),
        (m.HISTORY, {"total": 9, "offset": 0, "boluses": [(1, 2, 3, 4)] * 9}),
        (m.HISTORY, {"total": 1, "offset": 0, "boluses": [(1, 2, 3)]}),
        (m.HISTORY, {"total": 1, "offset": 0}),
    ],
)
def test_bad_fields_raise(msg_type, fields):
    with pytest.raises(m.MessageError):
        m.encode(msg_type, fields)


def test_bool_fields_encode_as_0_and_1():
    p = m.encode(m.BOLUS_ACK, {"request_id": 1, "accepted": True, "reason": 0, "start_s": 2, "pump_time": 3})
    assert m.decode(m.BOLUS_ACK, p)["accepted"] == 1


def test_error_has_a_reason():
    with pytest.raises(m.MessageError) as e:
        m.decode(m.SYNC, b"12")
    assert e.value.reason == "sync payload is 2 bytes, expected 18"
