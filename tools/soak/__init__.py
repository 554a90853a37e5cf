"""Proof under stress: a whole-system soak with fault injection, fuzzers and a power-cut campaign.

`python -m tools.soak --steps N [--seed S]` drives the real handheld (App, LinkClient, gesture,
policy, event log on fakes) against the pump emulator with random actions and faults, checking
safety invariants against the pump's own record; `fuzz` and `powercut` are the other campaigns.
"""
