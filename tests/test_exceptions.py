"""Kibana exception lists: entry semantics, AND of entries, scoping to rules, and load errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from auditproc.exceptions import (
    ExceptionList,
    ExceptionListError,
    ExceptionSet,
    exception_list_ids,
    load_exceptions,
)
from tests.conftest import FIXTURES
from tests.test_alerts import BARE_RULE, HPING_EVENT, HPING_RULE, event

SAMPLE = FIXTURES / "exceptions" / "linux-admin-tools.ndjson"
LIST_LINE = {"list_id": "L", "type": "detection", "namespace_type": "single", "name": "L"}


def write_export(path: Path, *lines: Any) -> Path:
    """Write an export: dicts as JSON lines, strings verbatim."""
    path.write_text("\n".join(x if isinstance(x, str) else orjson.dumps(x).decode() for x in lines) + "\n")
    return path


def item(*entries: dict, list_id: str = "L", item_id: str = "i1", **extra: Any) -> dict:
    return {
        "list_id": list_id,
        "item_id": item_id,
        "name": item_id,
        "type": "simple",
        "entries": list(entries),
        **extra,
    }


def one_item_set(tmp_path: Path, *entries: dict, **extra: Any) -> ExceptionSet:
    return load_exceptions(write_export(tmp_path / "x.ndjson", LIST_LINE, item(*entries, **extra)))


def match(field: str, value: Any, operator: str = "included", kind: str = "match") -> dict:
    return {"field": field, "operator": operator, "type": kind, "value": value}


def exists(field: str, operator: str = "included") -> dict:
    return {"field": field, "operator": operator, "type": "exists"}


# --- one entry ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (match("process.name", "hping3"), True),
        (match("process.name", "HPING3"), False),  # keyword equality is case-sensitive
        (match("process.name", "hping"), False),
        (match("process.args", "10.0.0.5"), True),  # any element of an array
        (match("process.pid", "2345"), True),  # a long compares as its text
        (match("auditd.paths.name", "/lib64/ld-linux-x86-64.so.2"), True),  # array of objects flattens
        (match("process.nope", "x"), False),
        (match("process.name", "hping3", "excluded"), False),
        (match("process.name", "nmap", "excluded"), True),
        (match("process.nope", "x", "excluded"), True),  # "is not" holds for a missing field, as in Kibana
        (match("process.name", ["nmap", "hping3"], kind="match_any"), True),
        (match("process.name", ["nmap", "Hping3"], kind="match_any"), False),
        (match("related.user", ["alice", "bob"], kind="match_any"), True),
        (match("process.name", ["nmap", "hping3"], "excluded", "match_any"), False),
        (match("process.executable", "/usr/sbin/hping*", kind="wildcard"), True),
        (match("process.executable", "*/HPING3", kind="wildcard"), False),  # wildcard is case-sensitive too
        (match("process.executable", "/usr/?bin/hping3", kind="wildcard"), True),
        (
            match("process.executable", "/usr/?bin/hping", kind="wildcard"),
            False,
        ),  # whole value, not a substring
        (match("process.command_line", "hping3 -S * 10.0.0.?", kind="wildcard"), True),
        (match("process.title", "hping3 \\-S*", kind="wildcard"), True),  # \- is a plain -
        (match("process.title", "hping3 -S*10.0.0.5\\*", kind="wildcard"), False),  # \* is a literal star
        (match("process.args", "10.0.*", kind="wildcard"), True),
        (match("process.executable", "/tmp/*", "excluded", "wildcard"), True),
        (exists("process.parent.name"), True),
        (exists("process.parent.args"), False),
        (exists("process.parent.args", "excluded"), True),
        (exists("user", "included"), True),
        (
            {
                "field": "auditd.paths",
                "type": "nested",
                "entries": [match("item", "1"), match("name", "/lib64/ld-linux-x86-64.so.2")],
            },
            True,
        ),
        (
            {  # both conditions hold, but not in the same path element
                "field": "auditd.paths",
                "type": "nested",
                "entries": [match("item", "0"), match("name", "/lib64/ld-linux-x86-64.so.2")],
            },
            False,
        ),
        (
            {
                "field": "auditd.paths",
                "type": "nested",
                "entries": [match("name", "/usr/sbin/*", kind="wildcard")],
            },
            True,
        ),
    ],
)
def test_entry(tmp_path, entry, expected):
    assert one_item_set(tmp_path, entry).suppresses(HPING_RULE, HPING_EVENT) is expected


@pytest.mark.parametrize(
    ("doc_changes", "expected"),
    [
        ({}, True),
        ({"host.name": "web-02"}, False),
        ({"process.name": "nmap"}, False),
        ({"host.name": "web-02", "process.name": "nmap"}, False),
    ],
)
def test_entries_are_anded(tmp_path, doc_changes, expected):
    exceptions = one_item_set(tmp_path, match("host.name", "web-01"), match("process.name", "hping3"))
    assert exceptions.suppresses(HPING_RULE, event(**doc_changes)) is expected


@pytest.mark.parametrize(
    ("extra", "doc_changes", "expected"),
    [
        ({"os_types": ["linux"]}, {}, True),
        ({"os_types": ["windows", "macos"]}, {}, False),
        ({"os_types": ["linux"]}, {"host.os.type": None}, False),
        ({"os_types": []}, {"host.os.type": None}, True),
        ({"expire_time": "2024-06-10T06:13:20.124Z"}, {}, True),
        ({"expire_time": "2024-06-10T06:13:20.123Z"}, {}, False),  # expired at the event's time
        ({"expire_time": "2024-06-10T06:13:20.123Z"}, {"@timestamp": None}, True),
    ],
)
def test_os_types_and_expiry(tmp_path, extra, doc_changes, expected):
    exceptions = one_item_set(tmp_path, match("process.name", "hping3"), **extra)
    assert exceptions.suppresses(HPING_RULE, event(**doc_changes)) is expected


def test_items_are_ored_and_drops_are_counted_per_rule(tmp_path):
    path = write_export(
        tmp_path / "x.ndjson",
        LIST_LINE,
        item(match("process.name", "nmap"), item_id="a"),
        item(match("process.name", "hping3"), item_id="b"),
    )
    exceptions = load_exceptions(path)
    assert exceptions.matching_item(HPING_RULE, HPING_EVENT).item_id == "b"
    assert exceptions.suppressed_by_rule == {}  # matching_item only looks
    for rule in (HPING_RULE, HPING_RULE, BARE_RULE):
        assert exceptions.suppresses(rule, HPING_EVENT)
    assert not exceptions.suppresses(HPING_RULE, event(**{"process.name": "ls"}))
    assert exceptions.suppressed_by_rule == {HPING_RULE.rule_id: 2, BARE_RULE.rule_id: 1}


# --- the sample export ----------------------------------------------------------------------------


def test_sample_export_loads_and_ignores_the_summary_line():
    exceptions = load_exceptions(SAMPLE)
    [lst] = exceptions.lists.values()
    assert (lst.list_id, lst.type, lst.namespace_type, lst.name) == (
        "linux-admin-tools",
        "detection",
        "single",
        "Linux admin tools",
    )
    assert [i.item_id for i in lst.items] == [
        "scanner-host-probes",
        "backup-scripts",
        "healthcheck",
        "migration-window",
    ]
    assert lst.items[0].source == f"{SAMPLE}:2"


@pytest.mark.parametrize(
    ("doc_changes", "item_id"),
    [
        ({}, None),
        ({"host.name": "scanner-01"}, "scanner-host-probes"),
        ({"host.name": "scanner-01", "host.os.type": "windows"}, None),
        ({"process.parent.executable": "/opt/backup/nightly.sh", "user.name": "backup"}, "backup-scripts"),
        ({"process.parent.executable": "/OPT/backup/nightly.sh", "user.name": "backup"}, None),
        ({"process.parent.executable": "/opt/backup/nightly.sh"}, None),
        (
            {"auditd.paths": [{"item": "0", "name": "/usr/local/bin/healthcheck", "nametype": "NORMAL"}]},
            "healthcheck",
        ),
        ({"user.name": "alice", "@timestamp": "2024-06-07T23:59:59.999Z"}, "migration-window"),
        ({"user.name": "alice"}, None),  # after expire_time
        ({"user.name": "root", "@timestamp": "2024-06-07T23:59:59.999Z"}, None),
    ],
)
def test_sample_export_items(doc_changes, item_id):
    found = load_exceptions(SAMPLE).matching_item(HPING_RULE, event(**doc_changes))
    assert (found.item_id if found else None) == item_id


# --- scoping --------------------------------------------------------------------------------------


def two_lists() -> list[ExceptionList]:
    loaded = load_exceptions(SAMPLE).lists["linux-admin-tools"]
    return [dataclasses.replace(loaded, list_id="A"), dataclasses.replace(loaded, list_id="B")]


@pytest.mark.parametrize(
    ("references", "hping_lists", "bare_lists"),
    [
        ({}, ["A", "B"], ["A", "B"]),  # nobody names a list: both are global
        ({HPING_RULE.rule_id: ["A"]}, ["B", "A"], ["B"]),
        ({HPING_RULE.rule_id: ["A"], BARE_RULE.rule_id: ["A", "B"]}, ["A"], ["A", "B"]),
        (
            {HPING_RULE.rule_id: ["missing"]},
            ["A", "B"],
            ["A", "B"],
        ),  # a reference to an unloaded list is moot
    ],
)
def test_list_scoping(references, hping_lists, bare_lists):
    exceptions = ExceptionSet(two_lists(), references)
    assert [lst.list_id for lst in exceptions.lists_for(HPING_RULE)] == hping_lists
    assert [lst.list_id for lst in exceptions.lists_for(BARE_RULE)] == bare_lists


def test_a_list_named_by_one_rule_does_not_suppress_another(tmp_path):
    rule_file = tmp_path / "hping.toml"
    rule_file.write_text(
        '[rule]\nrule_id = "x"\nexceptions_list = [\n'
        '  {id = "4f0c7e1a", list_id = "linux-admin-tools", namespace_type = "single", type = "detection"},\n'
        "]\n"
    )
    hping = dataclasses.replace(HPING_RULE, path=rule_file)
    assert exception_list_ids(hping) == ("linux-admin-tools",)
    exceptions = load_exceptions([SAMPLE], rules=[hping, BARE_RULE])
    doc = event(**{"host.name": "scanner-01"})
    assert exceptions.suppresses(hping, doc)
    assert not exceptions.suppresses(BARE_RULE, doc)


@pytest.mark.parametrize(
    "text",
    ["", '[rule]\nrule_id = "x"\n', '[rule]\nexceptions_list = "nope"\n', "not = [toml"],
)
def test_rules_without_exceptions_list(tmp_path, text):
    rule_file = tmp_path / "r.toml"
    rule_file.write_text(text)
    assert exception_list_ids(dataclasses.replace(HPING_RULE, path=rule_file)) == ()


def test_several_exports_merge(tmp_path):
    second = write_export(tmp_path / "b.ndjson", LIST_LINE, item(match("process.name", "hping3")))
    exceptions = load_exceptions([SAMPLE, second])
    assert sorted(exceptions.lists) == ["L", "linux-admin-tools"]
    assert exceptions.matching_item(HPING_RULE, HPING_EVENT).list_id == "L"


# --- malformed exports ----------------------------------------------------------------------------

GOOD_ITEM = item(match("process.name", "x"))


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([LIST_LINE, "{not json"], "x.ndjson:2: not valid JSON"),
        ([LIST_LINE, "[1, 2]"], "x.ndjson:2: expected a JSON object"),
        ([{"type": "detection", "name": "no id"}], "x.ndjson:1: 'list_id' must be a non-empty string"),
        (
            [{**LIST_LINE, "namespace_type": "global"}],
            "x.ndjson:1: 'namespace_type' must be one of single, agnostic",
        ),
        ([LIST_LINE, LIST_LINE], "x.ndjson:2: list_id 'L' already defined at"),
        ([LIST_LINE, {**GOOD_ITEM, "entries": []}], "x.ndjson:2: 'entries' must be a non-empty list"),
        ([LIST_LINE, {**GOOD_ITEM, "item_id": ""}], "x.ndjson:2: 'item_id' must be a non-empty string"),
        ([LIST_LINE, item(match("f", "v", kind="regex"))], "x.ndjson:2: entries[0]: 'type' must be one of"),
        (
            [LIST_LINE, item(match("f", "v", "is"))],
            "x.ndjson:2: entries[0]: 'operator' must be included or excluded",
        ),
        ([LIST_LINE, item(match("", "v"))], "x.ndjson:2: entries[0]: 'field' must be a non-empty string"),
        (
            [LIST_LINE, item(match("f", ["v"]))],
            "x.ndjson:2: entries[0]: a match entry needs a string 'value'",
        ),
        (
            [LIST_LINE, item(match("f", "v", kind="match_any"))],
            "x.ndjson:2: entries[0]: a match_any entry needs",
        ),
        (
            [LIST_LINE, item(match("f", [], kind="match_any"))],
            "x.ndjson:2: entries[0]: a match_any entry needs",
        ),
        (
            [LIST_LINE, item({"field": "f", "operator": "included", "type": "list", "list": {"id": "ips"}})],
            "x.ndjson:2: entries[0]: value lists (type 'list') are not supported",
        ),
        (
            [LIST_LINE, item({"field": "p", "type": "nested", "entries": []})],
            "x.ndjson:2: entries[0]: a nested entry",
        ),
        (
            [
                LIST_LINE,
                item({"field": "p", "type": "nested", "entries": [{"field": "q", "type": "nested"}]}),
            ],
            "x.ndjson:2: entries[0].entries[0]: 'type' must be one of match, match_any, wildcard, exists,",
        ),
        ([LIST_LINE, {**GOOD_ITEM, "os_types": "linux"}], "x.ndjson:2: 'os_types' must be a list of strings"),
        (
            [LIST_LINE, {**GOOD_ITEM, "expire_time": "soon"}],
            "x.ndjson:2: 'expire_time' must be an ISO-8601 time",
        ),
        ([LIST_LINE, {**GOOD_ITEM, "list_id": "other"}], "x.ndjson:2: item for unknown list_id 'other'"),
    ],
)
def test_malformed_lines_are_reported_with_their_line(tmp_path, lines, message):
    path = write_export(tmp_path / "x.ndjson", *lines)
    with pytest.raises(ExceptionListError) as caught:
        load_exceptions(path)
    [problem] = caught.value.problems
    assert str(problem).startswith(f"{tmp_path}/{message}")


def test_all_problems_are_reported_together_in_line_order(tmp_path):
    path = write_export(tmp_path / "x.ndjson", "{oops", LIST_LINE, "", {**GOOD_ITEM, "entries": "x"}, "7")
    with pytest.raises(ExceptionListError) as caught:
        load_exceptions(path)
    assert [p.line for p in caught.value.problems] == [1, 4, 5]
    assert str(caught.value).count("\n") == 2


def test_a_missing_file_is_reported(tmp_path):
    with pytest.raises(ExceptionListError, match="nope.ndjson:0: cannot read"):
        load_exceptions(tmp_path / "nope.ndjson")


@pytest.mark.parametrize(
    "summary",
    [
        {"exported_exception_list_count": 1, "exported_exception_list_item_count": 1},
        {"exported_count": 2, "exported_rules_count": 0, "missing_rules": []},  # a rules export's summary
    ],
)
def test_export_summary_lines_and_blank_lines_are_ignored(tmp_path, summary):
    path = write_export(tmp_path / "x.ndjson", "", LIST_LINE, "   ", GOOD_ITEM, summary, "")
    assert [i.item_id for i in load_exceptions(path).lists["L"].items] == ["i1"]
