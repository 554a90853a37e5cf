# The two commands a newcomer needs: `make sim` (the handheld on the host, no hardware) and
# `make test` (the whole suite on CPython and MicroPython). Each builds .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv sim scenario test typecheck bench clean

$(STAMP): requirements.txt pyproject.toml tools/typecheck.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m tools.typecheck --install-stubs
	touch $(STAMP)

venv: $(STAMP)

sim: $(STAMP)
	$(PY) -m tools.simulator

scenario: $(STAMP)
	$(PY) -m tools.scenario tests/scenarios/max_24h_rolling.scn --stats

test: $(STAMP)
	$(PY) -m pytest

typecheck: $(STAMP)
	$(PY) -m tools.typecheck

bench: $(STAMP)
	$(PY) -m tools.bench

clean:
	rm -rf $(VENV)
