"""The clinician's tool: pair, program a signed prescription, pull and check the event log,
and build a report. Run `python -m tools.clinician --help`; each subcommand has its own --help.
Errors are one sentence on stderr with a non-zero exit code (see `errors.py`).
"""
