"""The pump emulator: a stand-in for the implanted pump, in virtual time or on a serial line.

`pump.Pump` is the pump itself (no I/O), `port.PumpPort` speaks the link protocol over bytes,
and `python -m tools.pump_emulator --pty` runs it on a pseudo-terminal (see `--help`).
"""
