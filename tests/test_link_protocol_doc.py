"""docs/protocol.md is checked against the code: every worked example is a golden vector
(encodes to exactly its bytes and decodes back) and every layout table matches messages.py."""

import json
import os
import re
import struct

import pytest

from firmware import frame
from firmware import messages as m

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "protocol.md")


def _text():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def parse_examples(text):
    """Each fenced block that starts with `example:` -> dict(name, type, seq, fields, body, wire)."""
    out = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M):
        lines = block.strip().splitlines()
        if not lines or not lines[0].startswith("example:"):
            continue
        ex = {"name": lines[0].split(":", 1)[1].strip()}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "type":
                mo = re.fullmatch(r"\s*0x([0-9a-fA-F]{2})\s+seq:\s*0x([0-9a-fA-F]{2})\s*", value)
                assert mo, "bad type/seq line in example %s: %r" % (ex["name"], line)
                ex["type"] = int(mo.group(1), 16)
                ex["seq"] = int(mo.group(2), 16)
            elif key == "fields":
                ex["fields"] = json.loads(value)
            elif key in ("body", "wire"):
                ex[key] = bytes.fromhex(value)
            else:
                raise AssertionError("unknown key %r in example %s" % (key, ex["name"]))
        out.append(ex)
    return out


def to_fields(ex):
    """The doc's JSON fields as messages.encode takes them (tag hex -> bytes, lists -> tuples)."""
    f = dict(ex["fields"])
    if "tag" in f:
        f["tag"] = bytes.fromhex(f["tag"])
    if "boluses" in f:
        f["boluses"] = [tuple(b) for b in f["boluses"]]
    return f


EXAMPLES = parse_examples(_text())


def test_examples_found_and_named_uniquely():
    names = [ex["name"] for ex in EXAMPLES]
    assert len(names) >= 12
    assert len(set(names)) == len(names)


def test_every_message_type_has_an_example():
    assert {ex["type"] for ex in EXAMPLES} == set(m.MSG_NAMES)
    for ex in EXAMPLES:
        assert ex["name"].split("_")[0] == m.MSG_NAMES[ex["type"]].split("_")[0]
        assert {"type", "seq", "fields", "wire"} <= set(ex), ex["name"]


@pytest.mark.parametrize("ex", EXAMPLES, ids=[ex["name"] for ex in EXAMPLES])
def test_golden_vector(ex):
    fields = to_fields(ex)
    payload = m.encode(ex["type"], fields)
    wire = frame.encode(ex["type"], ex["seq"], payload)
    assert wire.hex(" ") == ex["wire"].hex(" ")
    if "body" in ex:
        assert frame.cobs_encode(ex["body"]) + b"\x00" == ex["wire"]
        assert ex["body"][:3] == bytes([frame.VERSION, ex["type"], ex["seq"]])
    (fr,) = frame.Deframer().feed(ex["wire"])
    assert (fr.error, fr.msg_type, fr.seq) == (None, ex["type"], ex["seq"])
    assert fr.payload == payload
    assert m.decode(fr.msg_type, fr.payload) == fields


def _layout_tables(text):
    """'### 0xNN NAME' sections -> list of tables, each a list of (offset, size, type, field)."""
    sections = {}
    for mo in re.finditer(r"^### 0x([0-9A-Fa-f]{2}) (\w+)\n(.*?)(?=^##)", text, flags=re.S | re.M):
        t = int(mo.group(1), 16)
        tables = []
        current = None
        for line in mo.group(3).splitlines():
            if line.startswith("| offset |"):
                current = []
                tables.append(current)
            elif current is not None and line.startswith("|---"):
                continue
            elif current is not None and line.startswith("|"):
                cells = [c.strip() for c in line.strip("|").split("|")]
                current.append((int(cells[0]), int(cells[1]), cells[2], cells[3]))
            else:
                current = None
        sections[t] = (mo.group(2), tables)
    return sections


_CODE = {"u8": "B", "u16": "H", "u32": "I"}


def _table_format(rows):
    fmt = "<"
    offset = 0
    for off, size, typ, _name in rows:
        assert off == offset, "offset %d should be %d" % (off, offset)
        if typ.startswith("bytes["):
            n = int(typ[6:-1])
            assert size == n
            fmt += "%ds" % n
        else:
            fmt += _CODE[typ]
            assert size == struct.calcsize("<" + _CODE[typ])
        offset += size
    return fmt


def test_layout_tables_match_the_code():
    sections = _layout_tables(_text())
    assert set(sections) == set(m.MSG_NAMES)
    for t, (title, tables) in sections.items():
        assert title.lower() == m.MSG_NAMES[t]
        if t == m.HISTORY:
            head, entry = tables
            assert _table_format(head) == m._HISTORY_HEAD
            assert [r[3] for r in head] == ["total", "offset", "count"]
            assert _table_format(entry) == m._HISTORY_ENTRY
            assert [r[3] for r in entry] == ["request_id", "start_s", "dose_ug", "status"]
            continue
        fmt, names = m._LAYOUTS[t]
        if not names:
            assert tables == []
            continue
        (rows,) = tables
        assert _table_format(rows) == fmt, title
        assert tuple(r[3] for r in rows) == names


def test_frame_table_and_constants():
    text = _text()
    assert "`MAX_BODY = 200`" in text and frame.MAX_BODY == 200
    assert "0xCBF43926" in text
    assert "## Message authentication" in text


def test_reason_and_alarm_tables_match_the_code():
    text = _text()
    section = text.split("## Pump reason codes", 1)[1].split("\n## ", 1)[0]
    reasons = {int(a): b for a, b in re.findall(r"^\| (\d+) \| (\w+) \|", section, flags=re.M)}
    assert reasons == m.PUMP_REASONS
    section = text.split("## Alarms", 1)[1].split("\n## ", 1)[0]
    alarms = {int(a, 16): b for a, b in re.findall(r"^\| `0x([0-9a-f]{2})` \| (\w+) \|", section, flags=re.M)}
    assert alarms == m.ALARM_NAMES
    section = text.split("## NAK reasons", 1)[1]
    naks = {int(a): b for a, b in re.findall(r"^\| (\d+) \| (\w+) \|", section, flags=re.M)}
    assert naks == m.NAK_REASONS
    section = text.split("## Bolus status", 1)[1].split("\n## ", 1)[0]
    status = {int(a): b for a, b in re.findall(r"^\| (\d+) \| (\w+) \|", section, flags=re.M)}
    assert status == m.BOLUS_STATUS_NAMES


def test_size_table_matches_the_examples():
    text = _text()
    section = text.split("## Sizes and timing", 1)[1].split("\n## ", 1)[0]
    wire_sizes = {}
    for ex in EXAMPLES:
        wire_sizes.setdefault(m.MSG_NAMES[ex["type"]].upper(), set()).add(len(ex["wire"]))
    for row in re.findall(r"^\| ([A-Z_ /]+) \| (\d+) \| (\d+) \| (\d+) \|", section, flags=re.M):
        names = [n.strip() for n in row[0].split("/")]
        for n in names:
            assert int(row[3]) in wire_sizes[n], n
            assert int(row[3]) == int(row[2]) + 2 == int(row[1]) + 9


def test_the_constants_a_peer_relies_on_match_the_code():
    from firmware import ledger
    from firmware import link as lk
    from tools.pump_emulator import pump

    table = _text().split("<!-- protocol-constants -->", 1)[1].strip().split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = int(cells[1].split()[0], 0)
    assert rows == {
        "reply timeout": lk._TIMEOUT_MS,
        "resends": lk._RETRIES,
        "back-off": lk._BACKOFF_MS,
        "status poll": lk._STATUS_EVERY_MS,
        "settle poll": lk._SETTLE_EVERY_MS,
        "link down after silence": lk._LINK_FRESH_MS,
        "re-sync age": lk._SYNC_MAX_AGE_S,
        "clock-jump threshold": lk._CLOCK_SLACK_S,
        "stale window": pump.STALE_S,
        "REQUEST_ID_MAX": m.REQUEST_ID_MAX,
        "PUMP_TIME_MAX": m.PUMP_TIME_MAX,
    }
    assert ledger._PUMP_STALE_S == pump.STALE_S and lk._PUMP_TIME_MAX == m.PUMP_TIME_MAX
