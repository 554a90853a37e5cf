"""The scenario file format (tools/scenario/parse.py): what it accepts, and that every mistake is
refused with its line number and one sentence."""

import pytest

from tools.scenario.parse import ScenarioError, parse, parse_time

RX = "prescription dose_ug=100 duration_s=120 lockout_s=1800 max_per_24h=6\n"


def test_the_example_from_the_issue():
    text = """
# '#' starts a comment; times are H:MM:SS from the start of the scenario
prescription dose_ug=100 duration_s=120 lockout_s=1800 max_per_24h=6
pump reservoir_ul=20000 concentration_ug_per_ml=500 basal_ug_per_h=10
at 0:00:00 press            # a complete, deliberate press-and-hold
at 0:10:00 tap              # a short press: must request nothing
at 0:20:00 bounce           # a noisy press released before the hold completes: nothing
at 0:40:00 hold 120         # the button held down for 120 s: at most one request
at 1:00:00 reboot           # the handheld loses power and restarts
at 1:30:00 link down        # the serial link is cut; `link up` restores it
at 2:00:00 link loss=0.2 corrupt=0.01 duplicate=0.05   # faults from here on (`link clean` ends them)
at 3:00:00 pump alarm motor_stall     # or low_reservoir, empty_reservoir, battery_eri
at 3:10:00 pump clear
end 48:00:00
"""
    sc = parse(text)
    assert sc.rx == dict(dose_ug=100, duration_s=120, lockout_s=1800, max_per_24h=6, cap_ug=0, cap_window_s=0, version=1)
    assert sc.pump["concentration_ug_per_ml"] == 500 and sc.pump["basal_ug_per_h"] == 10
    assert [(e.t_ms, e.command) for e in sc.events] == [
        (0, "press"),
        (600000, "tap"),
        (1200000, "bounce"),
        (2400000, "hold"),
        (3600000, "reboot"),
        (5400000, "link"),
        (7200000, "link"),
        (10800000, "pump"),
        (11400000, "pump"),
    ]
    assert sc.events[3].args == {"s": 120.0}
    assert sc.events[6].args == {"state": "faults", "faults": {"loss": 0.2, "corrupt": 0.01, "duplicate": 0.05}}
    assert sc.events[7].args == {"action": "alarm", "alarm": "motor_stall"}
    assert sc.events[8].args == {"action": "clear", "alarm": None}
    assert sc.end_ms == 48 * 3600000


def test_optional_keys_and_extras():
    sc = parse(
        "prescription dose_ug=100 duration_s=120 lockout_s=1800 max_per_24h=6 cap_ug=400 cap_window_s=14400 version=3\n"
        "at 0:00:01.250 hold 2.5\n"
        "at 0:00:02 pump refill reservoir_ul=5000\n"
        "at 0:00:02 pump clear battery_eri\n"
        "at 0:00:03 link clean\n"
        "at 0:00:04 pump clock +3600\n"
        "at 0:00:05 pump clock -600\n"
        "end 0:01:00\n"
    )
    assert sc.rx is not None and sc.rx["cap_ug"] == 400 and sc.rx["version"] == 3
    assert sc.events[0].t_ms == 1250 and sc.events[0].args == {"s": 2.5}
    assert sc.events[1].args == {"action": "refill", "reservoir_ul": 5000}
    assert [e.args["delta_s"] for e in sc.events[4:]] == [3600, -600]
    assert parse("prescription none\nend 0:00:10\n").rx is None


@pytest.mark.parametrize(
    "text,line,words",
    [
        (RX + "at 0:00:00 presss\nend 1:00:00\n", 2, "unknown command presss"),
        (RX + "at 0:00:00 press\nlater 0:01:00\nend 1:00:00\n", 3, "unknown command later"),
        ("prescription dose_ug=100 duration_s=120 lockout=1800 max_per_24h=6\nend 1:00:00\n", 1, "unknown prescription key lockout"),
        ("prescription dose_ug=100 duration_s=120 max_per_24h=6\nend 1:00:00\n", 1, "no lockout_s"),
        ("prescription dose_ug=100 duration_s=120 lockout_s=60 max_per_24h=6\nend 1:00:00\n", 1, "invalid prescription"),
        ("prescription dose_ug=1.5 duration_s=120 lockout_s=1800 max_per_24h=6\nend 1:00:00\n", 1, "not a whole number"),
        ("prescription dose_ug=100 dose_ug=100 duration_s=120 lockout_s=1800 max_per_24h=6\nend 1:00:00\n", 1, "given twice"),
        ("# nothing\n\nat 0:00:00 press\nend 1:00:00\n", 3, "no prescription line"),
        ("pump reservoir_ul=10\nend 1:00:00\n", 2, "no prescription line"),
        (RX + "pump reservoir=10\nend 1:00:00\n", 2, "unknown pump key reservoir"),
        (RX + "at 0:00:00 press\npump reservoir_ul=10\nend 1:00:00\n", 3, "before the first 'at'"),
        (RX + "at 0:10:00 press\nat 0:05:00 press\nend 1:00:00\n", 3, "backwards"),
        (RX + "at 0:61:00 press\nend 1:00:00\n", 2, "not a time"),
        (RX + "at 10 press\nend 1:00:00\n", 2, "not a time"),
        (RX + "at 0:00:00 hold\nend 1:00:00\n", 2, "hold takes one argument"),
        (RX + "at 0:00:00 hold soon\nend 1:00:00\n", 2, "must be a number"),
        (RX + "at 0:00:00 tap 3\nend 1:00:00\n", 2, "takes no arguments"),
        (RX + "at 0:00:00 link sideways\nend 1:00:00\n", 2, "link expects key=value"),
        (RX + "at 0:00:00 link loss=2\nend 1:00:00\n", 2, "probability"),
        (RX + "at 0:00:00 link jitter=0.1\nend 1:00:00\n", 2, "unknown link setting jitter"),
        (RX + "at 0:00:00 pump alarm\nend 1:00:00\n", 2, "one alarm name"),
        (RX + "at 0:00:00 pump alarm fire\nend 1:00:00\n", 2, "unknown alarm fire"),
        (RX + "at 0:00:00 pump explode\nend 1:00:00\n", 2, "unknown pump command explode"),
        (RX + "at 0:00:00 pump clock\nend 1:00:00\n", 2, "one signed number of seconds"),
        (RX + "at 0:00:00 pump clock +1h\nend 1:00:00\n", 2, "whole number of seconds"),
        (RX + "at 0:00:00 pump clock +864001\nend 1:00:00\n", 2, "at most 864000 s"),
        (RX + "at 0:00:00 press\n", 3, "no 'end"),
        (RX + "at 0:10:00 press\nend 0:05:00\n", 3, "before the last event"),
        (RX + "end 1:00:00\nat 2:00:00 press\n", 3, "nothing may follow"),
        (RX + RX + "end 1:00:00\n", 2, "second prescription"),
    ],
)
def test_mistakes_name_their_line(text, line, words):
    with pytest.raises(ScenarioError) as info:
        parse(text)
    assert info.value.line == line
    assert words in info.value.message
    assert "\n" not in info.value.message


def test_times():
    assert parse_time("0:00:00", 1) == 0
    assert parse_time("1:02:03", 1) == 3723000
    assert parse_time("48:00:00", 1) == 172800000
    assert parse_time("0:00:01.5", 1) == 1500
    for bad in ("1:2:3", "0:00:60", "-1:00:00", "0:00:01.5000", "x:00:00"):
        with pytest.raises(ScenarioError):
            parse_time(bad, 7)
