"""tools/security/pump_auth wired into the pump emulator's Pump (verify_bolus): a genuine bolus is
delivered, a spoofed one (wrong key / unpaired) and a replayed one are refused, a resend
after a lost reply gets the same ACK, and the replay guard survives a pump restart."""

import pytest

from firmware import auth, prescription
from firmware import messages as m
from tools.pump_emulator.pump import Pump
from tools.security import pump_auth

KEY = bytes(range(32))
OTHER = bytes(range(50, 82))
RX = prescription.from_fields(
    dict(version=1, dose_ug=500, duration_s=60, lockout_s=600, max_per_24h=6, cap_ug=0, cap_window_s=0)
)


def request(pump, request_id, key=KEY, counter=None, dose_ug=500):
    counter = request_id if counter is None else counter
    captured = pump.pump_time
    f = {"request_id": request_id, "dose_ug": dose_ug, "duration_s": 60, "captured_s": captured, "counter": counter}
    f["tag"] = auth.bolus_tag(key, request_id, dose_ug, 60, captured, counter) if key else bytes(16)
    return f


def paired_pump(**kw):
    pump = Pump(rx=RX, **kw)
    pump.verify_bolus = pump_auth.make_pump_verifier(KEY, store=pump)
    return pump


def test_genuine_bolus_delivered():
    pump = paired_pump()
    ack = pump.bolus_request(request(pump, 1))
    assert ack["accepted"] == 1 and ack["reason"] == m.R_OK
    assert pump.persisted[pump_auth.PERSIST_KEY] == 1


def test_spoofed_and_unpaired_refused():
    pump = paired_pump()
    ack = pump.bolus_request(request(pump, 1, key=OTHER))
    assert (ack["accepted"], ack["reason"]) == (0, m.R_AUTH)
    ack = pump.bolus_request(request(pump, 2, key=None, counter=0))
    assert (ack["accepted"], ack["reason"]) == (0, m.R_UNPAIRED)
    assert pump.active_bolus() is None
    assert pump.persisted.get(pump_auth.PERSIST_KEY, 0) == 0


def test_replayed_frame_refused():
    pump = paired_pump()
    first = request(pump, 1)
    assert pump.bolus_request(first)["accepted"] == 1
    pump.advance(3600 * 1000)
    assert pump.bolus_request(request(pump, 2))["accepted"] == 1
    pump.advance(3600 * 1000)
    # The same bytes again: the at-most-once table answers with the old ACK, no new bolus.
    again = pump.bolus_request(first)
    assert again["request_id"] == 1 and again["start_s"] == pump.boluses[1]["start_s"]
    # A captured frame re-tagged? Impossible without the key; an old counter under a new id
    # (the attacker cannot re-tag, so only a genuine old counter/tag pair exists): refused.
    replay = dict(first)
    replay["request_id"] = 3  # changes the authenticated bytes: the tag no longer matches
    assert pump.bolus_request(replay)["reason"] == m.R_AUTH
    old_counter = request(pump, 4, counter=1)  # genuine key, counter already used
    assert pump.bolus_request(old_counter)["reason"] == m.R_REPLAY
    assert len([e for e in pump.boluses.values() if e["status"] != m.BOLUS_REFUSED]) == 2


def test_resend_after_lost_ack_gets_same_ack():
    pump = paired_pump()
    f = request(pump, 5)
    ack1 = pump.bolus_request(f)
    ack2 = pump.bolus_request(dict(f))
    assert ack1 == ack2 and ack1["accepted"] == 1


def test_guard_survives_restart(tmp_path):
    path = str(tmp_path / "pump.json")
    pump = paired_pump(record_path=path)
    f = request(pump, 7)
    assert pump.bolus_request(f)["accepted"] == 1
    pump.advance(3600 * 1000)
    pump.shutdown()
    reborn = paired_pump(record_path=path)
    assert reborn.persisted[pump_auth.PERSIST_KEY] == 7
    assert reborn.bolus_request(request(reborn, 8, counter=6))["reason"] == m.R_REPLAY
    assert reborn.bolus_request(request(reborn, 9))["accepted"] == 1
    # and in place, with restart() replacing the persisted dict
    reborn.advance(3600 * 1000)
    reborn.restart()
    assert reborn.bolus_request(request(reborn, 10, counter=9))["reason"] == m.R_REPLAY
    assert reborn.persisted[pump_auth.PERSIST_KEY] == 9


def test_forged_frame_cannot_block_a_future_request_id():
    """A forged BOLUS_REQ with the next request id must not be stored in the at-most-once
    table, or the genuine request with that id later gets the forged frame's refusal."""
    pump = paired_pump()
    assert pump.bolus_request(request(pump, 20, key=OTHER))["reason"] == m.R_AUTH
    assert pump.bolus_request(request(pump, 20))["accepted"] == 1
