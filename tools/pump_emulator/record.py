"""The emulated pump's persistent record: every bolus request it judged (at most once per
id), its clocks and reservoir, written as JSON by an atomic replace at every change and read
back at a restart (a bolus that was delivering is then stopped); and the history it reports.

A part of `tools.pump_emulator.pump.Pump`: it extends Limits, Pump extends it.
"""

import json
import os
from typing import Any

from firmware import messages as m
from tools.pump_emulator.limits import DAY_S, Limits

RECORD_FORMAT = 1
# Written into every record, so that whoever reads one knows what its clocks are.
CLOCKS_NOTE = (
    "mono_ms: the pump's monotonic clock, never set, on which lockout, 24 h maximum and amount cap "
    "count; pump_ms: the clock the pump reports, mono_ms plus how far it was set (clock_set_ms "
    "in all); source_ms: the clock the emulator runs on (the host's) when this was written. A "
    "restart resumes mono_ms plus max(0, source clock now - source_ms) and keeps the offset."
)


class RecordError(Exception):
    """The record file cannot be read or is not a pump record; `.reason` is a sentence."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Record(Limits):
    # Set up by Pump.__init__ (declared here for the type checker).
    pump_id: int
    record_path: Any
    autosave: bool
    persisted: dict
    _order: list
    _memory_record: Any

    def history(self):
        """(request_id, start_s, dose_ug, status) newest first: every bolus that started in the
        last 86400 s + one lockout (monotonic), or is still running. start_s is in the clock
        as it reads now (`start_now_s`)."""
        lockout = self.rx.lockout_s if self.rx is not None else 0
        keep = self.started_within(DAY_S + lockout)
        act = self.active_bolus()
        if act is not None and act not in keep:
            keep.append(act)
        keep.sort(key=lambda e: (e["start_mono_s"], self._order.index(e["request_id"])), reverse=True)
        return [(e["request_id"], self.start_now_s(e), e["dose_ug"], e["status"]) for e in keep]

    def last_request_id(self):
        return max(self.boluses) if self.boluses else 0

    def _snapshot(self):
        return {
            "format": RECORD_FORMAT,
            "pump_id": self.pump_id,
            "pump_ms": self.pump_ms,
            "mono_ms": self.mono_ms,
            "source_ms": self.source_ms,
            "clock_set_ms": self._clock_set_ms,
            "clocks": CLOCKS_NOTE,
            "reservoir_ng": self._reservoir_ng,
            "concentration_ug_per_ml": self.concentration,
            "latched_alarms": self._latched,
            "persisted": self.persisted,
            "boluses": [self.boluses[rid] for rid in self._order],
        }

    def save(self):
        """The record changed: write it, unless `autosave` is off."""
        if self.autosave:
            self.write_record()

    def write_record(self):
        """Write the record (temp file + fsync + rename: old or new content, never a mix)."""
        snap = self._snapshot()
        if self.record_path is None:
            self._memory_record = json.loads(json.dumps(snap))
            return
        text = json.dumps(snap, separators=(",", ":"), sort_keys=True)
        tmp = self.record_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.record_path)

    def _read_record(self):
        if self.record_path is None:
            return self._memory_record
        try:
            with open(self.record_path) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise RecordError("cannot read the record file %s: %s" % (self.record_path, e.strerror))
        except UnicodeDecodeError:
            raise RecordError("the record file %s is not text (not a pump record)" % self.record_path)
        try:
            data = json.loads(text)
        except ValueError:
            raise RecordError("the record file %s is not valid JSON" % self.record_path)
        if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
            raise RecordError("the record file %s is not a pump record (format %d)" % (self.record_path, RECORD_FORMAT))
        return data

    def _apply_record(self, data):
        """Restore the persistent state; a bolus that was delivering is now stopped."""
        try:
            pump_ms = int(data["pump_ms"])
            mono_ms = int(data.get("mono_ms", pump_ms))  # a record from before the two clocks
            clock_set_ms = int(data.get("clock_set_ms", 0))
            # A record from before the source clock was kept: the pump clock without its sets.
            source_ms = int(data.get("source_ms", pump_ms - clock_set_ms))
            boluses = data["boluses"]
            entries = []
            for e in boluses:
                e = dict(e)
                e["request_id"] = int(e["request_id"])
                for key in ("status", "start_s", "dose_ug", "duration_s", "delivered_ug", "captured_s", "reason"):
                    e[key] = int(e[key])
                e["start_mono_s"] = int(e.get("start_mono_s", e["start_s"] - (pump_ms - mono_ms) // 1000))
                if "judged_mono_s" in e:
                    e["judged_mono_s"] = int(e["judged_mono_s"])
                ack = e["ack"]
                e["ack"] = {k: int(ack[k]) for k in ("request_id", "accepted", "reason", "start_s", "pump_time")}
                entries.append(e)
            reservoir_ng = int(data["reservoir_ng"])
            latched = int(data.get("latched_alarms", 0))
            persisted = data.get("persisted", {})
        except (KeyError, TypeError, ValueError):
            raise RecordError("the record file %s is damaged or incomplete" % self.record_path)
        # Across a restart the monotonic clock goes on from where it was, plus the time the
        # pump was off as the source clock measures it: its reading now minus its reading at
        # the last save (nothing, if it is behind: a real-time limit then lasts longer, never
        # shorter). The settable clock keeps its offset from the monotonic one, so a clock set
        # before the restart is neither undone nor counted as time that passed.
        passed = max(0, self.source_ms - source_ms)
        self._offset_ms = pump_ms - mono_ms
        self._mono_ms0 = mono_ms + passed
        self._clock_set_ms = clock_set_ms
        self._t0_ms = self.now_ms
        self.pump_id = int(data.get("pump_id", self.pump_id))
        self._reservoir_ng = reservoir_ng
        self.concentration = data.get("concentration_ug_per_ml", self.concentration)
        self._latched = latched
        self.persisted = persisted
        self.boluses = {}
        self._order = []
        for e in entries:
            self.boluses[e["request_id"]] = e
            self._order.append(e["request_id"])
            if e["status"] == m.BOLUS_DELIVERING:
                e["status"] = m.BOLUS_STOPPED
                e["end_s"] = self.pump_time
                self._emit(self._delivery("stopped", e, "restart"))

    def shutdown(self):
        """Stop cleanly: account delivery up to now and write the record."""
        self.write_record()
