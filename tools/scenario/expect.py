"""Expected outcomes of a scenario (`NAME.expect.json` beside `NAME.scn`) and the checks.

Keys (all optional): "requests": every request event in order, each a subset to match;
"request_count": how many request events (every completed press has exactly one);
"summary": a subset of the summary; "events": events that must appear in this order (other
events may come between); "absent": events that must not appear; "error": {"line": N,
"contains": text} for a scenario that must be refused; "interpreters", "seeds": for the tests.
A value [lo, hi] matches a number in that range (inclusive). `invariants()` checks the safety
rules on the pump's own deliveries whatever the expectations say.
"""

import json

from tools.cli_args import read_text

DAY_S = 86400
# key -> (what it must be, check): an unknown or mistyped key is refused, never ignored (a
# misspelt "sumary" would otherwise make every run pass).
_LIST_OF_OBJECTS = ("a list of objects", lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v))
KEYS = {
    "requests": _LIST_OF_OBJECTS,
    "events": _LIST_OF_OBJECTS,
    "absent": _LIST_OF_OBJECTS,
    "request_count": ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
    "summary": ("an object", lambda v: isinstance(v, dict)),
    "error": (
        'an object with "line" (a whole number) and "contains" (text)',
        lambda v: isinstance(v, dict)
        and set(v) <= {"line", "contains"}
        and isinstance(v.get("line", 0), int)
        and not isinstance(v.get("line", 0), bool)
        and isinstance(v.get("contains", ""), str),
    ),
    "interpreters": ("a list of names", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
    "seeds": ("a list of whole numbers", lambda v: isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)),
}


def load(path):
    """The expected outcome in `path`: tools.cli_args.InputError when the file cannot be read
    or is not text, ValueError (a sentence) when it is not an expected outcome."""
    text = read_text(path, "the expected outcome")
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("it is nested too deeply to be an expected outcome")
    if not isinstance(data, dict):
        raise ValueError("an expected outcome is a JSON object")
    for key, value in data.items():
        if key not in KEYS:
            raise ValueError("unknown key %r (known: %s)" % (key, ", ".join(sorted(KEYS))))
        what, ok = KEYS[key]
        if not ok(value):
            raise ValueError("%r must be %s" % (key, what))
    return data


def matches(want, got):
    """True when every key of `want` matches `got` (ranges for numbers)."""
    for k, w in want.items():
        if k not in got:
            return False
        g = got[k]
        if isinstance(w, list) and len(w) == 2 and isinstance(g, (int, float)) and not isinstance(g, bool):
            if not (w[0] <= g <= w[1]):
                return False
        elif w != g:
            return False
    return True


def _short(e):
    return json.dumps(e, separators=(",", ":"))


def check(expected, events, rx=None):
    """A list of problems (empty when the events are as expected)."""
    problems = []
    faulted = [e for e in events if e.get("event") == "fault" and e.get("fault") == "handheld_fault"]
    if faulted and not any(w.get("fault") == "handheld_fault" for w in expected.get("events", [])):
        # The firmware raised: the superloop logged it, showed it and booted again, so the
        # run went on; a scenario that did not ask for it fails.
        problems.append("the handheld faulted %d time(s) (FAULT handheld_fault): the firmware raised an exception" % len(faulted))
    requests = [e for e in events if e.get("event") == "request"]
    if "requests" in expected:
        want = expected["requests"]
        for i, w in enumerate(want):
            if i >= len(requests):
                problems.append("request %d: expected %s, but only %d requests happened" % (i + 1, _short(w), len(requests)))
                break
            if not matches(w, requests[i]):
                problems.append("request %d: expected %s, got %s" % (i + 1, _short(w), _short(requests[i])))
        if len(requests) > len(want):
            problems.append("%d requests expected, %d happened (first extra: %s)" % (len(want), len(requests), _short(requests[len(want)])))
    if "request_count" in expected and len(requests) != expected["request_count"]:
        problems.append("%d requests expected, %d happened" % (expected["request_count"], len(requests)))
    if "summary" in expected:
        summ = [e for e in events if e.get("event") == "summary"]
        if not summ:
            problems.append("no summary event")
        elif not matches(expected["summary"], summ[-1]):
            problems.append("summary: expected %s, got %s" % (_short(expected["summary"]), _short(summ[-1])))
    if "events" in expected:
        i = 0
        for w in expected["events"]:
            while i < len(events) and not matches(w, events[i]):
                i += 1
            if i >= len(events):
                problems.append("expected event %s (in order) never happened" % _short(w))
                break
            i += 1
    for w in expected.get("absent", []):
        for e in events:
            if matches(w, e):
                problems.append("event %s must not happen, got %s" % (_short(w), _short(e)))
                break
    problems.extend(invariants(events, rx))
    return problems


def invariants(events, rx=None):
    """Safety rules on the pump's record of deliveries: an id is delivered at most once; with
    the prescription (dict): starts at least lockout_s apart and at most max_per_24h in any
    rolling 24 h."""
    problems = []
    seen = set()
    starts = []
    for e in events:
        if e.get("event") != "delivered":
            continue
        if e["bolus_id"] in seen:
            problems.append("bolus %d was delivered twice" % e["bolus_id"])
        seen.add(e["bolus_id"])
        starts.append(e["t"])
    if rx:
        for a, b in zip(starts, starts[1:]):
            if b - a < rx["lockout_s"]:
                problems.append("deliveries at t=%s and t=%s are closer than the lockout (%d s)" % (a, b, rx["lockout_s"]))
        for i, s in enumerate(starts):
            n = len([x for x in starts[: i + 1] if x > s - DAY_S])
            if n > rx["max_per_24h"]:
                problems.append("%d deliveries in the 24 h up to t=%s (max %d)" % (n, s, rx["max_per_24h"]))
                break
    return problems


def check_error(expected, err):
    """Problems with a refused scenario (ScenarioError) against expected["error"]."""
    want = expected["error"]
    problems = []
    if "line" in want and want["line"] != err.line:
        problems.append("expected line %d, got line %d" % (want["line"], err.line))
    if "contains" in want and want["contains"] not in err.message:
        problems.append("expected the message to contain %r" % want["contains"])
    return problems
