"""Read the rows of docs/safety.md: each table row is a hazard, its mitigation and the tests
that prove it. `rows(text)` returns them with their key (the row's `#` cell) and the pytest
node ids the row names (`file.py::test`; a bare `::test` is in the file named before it in
the same row).
"""

import re

_REF = re.compile(r"`(?:([a-z_0-9]+\.py))?::([A-Za-z_0-9]+)`")
_HEADING = re.compile(r"^#+\s+(.*)$")


class Row:
    """One hazard row: `key` ('' when the row has none), `section` (the heading above the
    table), `hazard`, `mitigation`, `tests` (node ids 'tests/FILE::NAME', in the order named),
    `line` (1-based) and `residual` (True when the row says no test can prove it)."""

    def __init__(self, key, section, hazard, mitigation, tests, line, residual):
        self.key = key
        self.section = section
        self.hazard = hazard
        self.mitigation = mitigation
        self.tests = tests
        self.line = line
        self.residual = residual

    def __repr__(self):
        return "Row(%r, %d tests)" % (self.key, len(self.tests))


def _cells(line):
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|"):
        body = body[:-1]
    return [c.strip() for c in body.split("|")]


def node_ids(cell):
    """The pytest node ids a tests cell names, in order, without repeats."""
    ids = []
    current = None
    for match in _REF.finditer(cell):
        current = match.group(1) or current
        if current is None:
            continue
        node = "tests/%s::%s" % (current, match.group(2))
        if node not in ids:
            ids.append(node)
    return ids


def rows(text):
    """Every hazard row of every table in `text` whose header has a 'tests' column."""
    out = []
    section = ""
    header = None
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = _HEADING.match(line)
        if m:
            section = m.group(1).strip()
            header = None
            continue
        if not line.strip().startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue  # the separator line
        if not any(h.startswith("tests") for h in header):
            continue
        named = dict(zip(header, cells))
        tests_cell = cells[-1]
        residual = not node_ids(tests_cell) and "none" in tests_cell.lower()
        out.append(
            Row(
                named.get("#", ""),
                section,
                named.get("hazard", ""),
                named.get("mitigation", ""),
                node_ids(tests_cell),
                i + 1,
                residual,
            )
        )
    return out
