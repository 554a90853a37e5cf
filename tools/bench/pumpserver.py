"""The benchmark's pump: the real pump emulator (Pump + PumpPort) on a pty, in real time, that
timestamps when each bolus request's last byte arrives and when its ack is written.

`python -m tools.bench.pumpserver [--key HEX]` prints `pty <path>`, then serves until its
standard input closes, then prints one JSON line per bolus request:
{"rid", "arrive_us", "ack_us", "accepted", "bytes"} (CLOCK_MONOTONIC microseconds, the clock
MicroPython's unix port uses for time.ticks_us). The pump runs in real time.
"""

import json
import os
import select
import sys
import time

from firmware import frame
from tools.security import pump_auth
from firmware import messages as m
from firmware.prescription import Prescription
from tools.pump_emulator.port import PumpPort
from tools.pump_emulator.pump import Pump
from tools.pump_emulator.rawpty import open_raw_pty

# The benchmark's prescription: 50 ug over 1 s, lockout 1 s and no daily maximum, so that a
# press can be timed every 1.3 s. Built without from_fields on purpose (a clinic could not
# prescribe it: max_per_24h is at most 48); both ends use the same one.
BENCH_RX = (1, 50, 1, 1, 1000000, 0, 0)


def bench_rx():
    return Prescription(*BENCH_RX)


def _now_us():
    return time.monotonic_ns() // 1000


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    key = None
    if args[:1] == ["--key"]:
        key = bytes.fromhex(args[1])
    pump = Pump(rx=bench_rx(), reservoir_ul=10**7, low_reservoir_ul=0)
    if key is not None:
        pump.verify_bolus = pump_auth.make_pump_verifier(key, store=pump)
    port = PumpPort(pump)
    fd, _slave, path = open_raw_pty()  # the slave stays open while we serve
    print("pty %s" % path, flush=True)
    probe = frame.Deframer()
    t0 = time.monotonic()
    requests = {}
    order = []
    stdin = sys.stdin.fileno()
    running = True
    while running:
        ready, _, _ = select.select([fd, stdin], [], [], 0.02)
        data = b""
        if fd in ready:
            try:
                data = os.read(fd, 4096)
            except (BlockingIOError, OSError):
                data = b""
        if stdin in ready and not os.read(stdin, 4096):
            running = False
        t_in = _now_us()
        for fr in probe.feed(data):
            if fr.error is None and fr.msg_type == m.BOLUS_REQ:
                rid = m.decode(m.BOLUS_REQ, fr.payload)["request_id"]
                if rid not in requests:
                    requests[rid] = {"rid": rid, "arrive_us": t_in, "bytes": len(frame.encode(fr.msg_type, fr.seq, fr.payload))}
                    order.append(rid)
        now_ms = int((time.monotonic() - t0) * 1000)
        out = port.feed(data, now_ms)
        if out:
            os.write(fd, out)
            t_out = _now_us()
            for fr in frame.Deframer().feed(out):
                if fr.error is None and fr.msg_type == m.BOLUS_ACK:
                    ack = m.decode(m.BOLUS_ACK, fr.payload)
                    r = requests.get(ack["request_id"])
                    if r is not None and "ack_us" not in r:
                        r["ack_us"] = t_out
                        r["accepted"] = ack["accepted"]
    for rid in order:
        print(json.dumps(requests[rid]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
