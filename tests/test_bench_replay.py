"""The simulation floor (`tools/bench/ceiling.py`) rests on one claim: given what the firmware
was given at each step of a recorded day, the firmware alone does that day's work again, on
either interpreter. These tests hold the claim: the replay writes the recorded bytes, and a
replay fed other input writes other bytes (so the check can fail)."""

import os

import pytest

from tools.bench import ceiling, duty, mp_replay


@pytest.fixture(scope="module")
def day():
    return duty.measure(1, record=True)


def test_the_recorded_day_is_a_day_of_use(day):
    assert day["sim_ms"] >= 86400000 and day["granted"] >= 10
    assert len(list(mp_replay.read_recording(day["recording"])[2])) == day["wakes"]


def test_the_replay_does_the_recorded_work_in_process(day):
    steps, seconds, nbytes, crc = mp_replay.replay(day["recording"])
    assert (steps, nbytes, crc) == (day["wakes"], day["tx_bytes"], day["tx_crc"])
    assert seconds > 0


@pytest.mark.micropython
def test_the_replay_does_the_recorded_work_in_micropython(day, tmp_path):
    path = os.path.join(str(tmp_path), "day.bin")
    with open(path, "wb") as f:
        f.write(day["recording"])
    r = ceiling.replay(path, "micropython")
    assert (r["steps"], r["tx_bytes"], r["tx_crc"]) == (day["wakes"], day["tx_bytes"], day["tx_crc"])


def test_a_replay_given_other_bytes_writes_other_bytes(day):
    data = bytearray(day["recording"])
    at = next(at for _dt, _level, at, n in mp_replay.read_recording(data)[2] if n > 8)  # the pump's first reply
    data[at + 3] ^= 0x40  # a flipped bit: the firmware drops the frame (CRC) and asks again
    steps, _seconds, nbytes, crc = mp_replay.replay(bytes(data))
    assert steps == day["wakes"] and (nbytes, crc) != (day["tx_bytes"], day["tx_crc"])


def test_a_file_that_is_not_a_recording_is_refused():
    with pytest.raises(ValueError):
        mp_replay.replay(b"PPR1" + bytes(20))
