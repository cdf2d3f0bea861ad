"""Elasticsearch's EQL QA suite, read in place from <repo>/../shared, over its own test data."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from auditproc.eql import compile_query, evaluate
from auditproc.ruletable import RuleTable
from tests.conftest import make_rule

SUITE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "elasticsearch-eql"
FILES = ("test_queries.toml", "additional_test_queries.toml")

# The suite predates Elasticsearch's current string syntax: ?"…" was its raw string, now """…""".
LEGACY_RAW_STRING = re.compile(r'("(?:[^"\\\r\n]|\\.)*")|\?"((?:\\"|[^"\r\n])*)"')

# Entries we cannot pass, with the reason. Keep empty when everything passes.
XFAIL: dict[str, str] = {
    "arraySearchCaseSensitive": (
        "flagged case_sensitive: expects `a : \"EN-US\"` not to match \"en-US\", but `:` is always "
        "case-insensitive in Elasticsearch (census 5.2); arraySearch is an eql-package function"
    ),
}


def _single_event(text: str) -> bool:
    code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//")).strip()
    return (
        re.match(r"\w+\s+where\b", code) is not None
        and "|" not in code
        and re.search(r"\b(sequence|sample|join)\b", code) is None
        and re.search(r"\b(descendant|child|event)\s+of\b", code) is None
    )


def _entries() -> list:
    if not SUITE.is_dir():
        return []
    entries = []
    for name in FILES:
        for entry in tomllib.loads((SUITE / name).read_text())["queries"]:
            if _single_event(entry["query"]) and not entry.get("case_insensitive"):
                marks = [pytest.mark.xfail(reason=XFAIL[entry["name"]], strict=True)] if entry["name"] in XFAIL else []
                entries.append(pytest.param(entry, id=entry["name"], marks=marks))
    return entries


ENTRIES = _entries()


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return json.loads((SUITE / "test_data.json").read_text())


def test_suite_size() -> None:
    if not SUITE.is_dir():
        pytest.skip(f"{SUITE} is absent")
    assert len(ENTRIES) == 131


def _query_text(entry: dict) -> str:
    """The entry's query, its legacy ?"..." raw strings rewritten as triple-quoted ones."""
    return LEGACY_RAW_STRING.sub(lambda m: m.group(1) or '"""' + m.group(2) + '"""', entry["query"].strip())


@pytest.mark.skipif(not SUITE.is_dir(), reason="shared conformance data is absent")
@pytest.mark.parametrize("entry", ENTRIES)
def test_query(entry: dict, events: list[dict]) -> None:
    query = compile_query(_query_text(entry), category_field="event_type")
    found = [event["serial_event_id"] for event in events if query.matches(event)]
    assert found == sorted(entry["expected_event_ids"])
    oracle = [event["serial_event_id"] for event in events if evaluate(query.ast, event, "event_type")]
    assert oracle == found


@pytest.mark.skipif(not SUITE.is_dir(), reason="shared conformance data is absent")
def test_rule_table_agrees_with_testing_every_query(events: list[dict]) -> None:
    """All the suite's queries in one RuleTable, keyed on the suite's own category field."""
    rules = [make_rule(_query_text(param.values[0]), n, "event_type") for n, param in enumerate(ENTRIES)]
    table = RuleTable(rules)
    assert len(table.scanned) < len(rules)
    for event in events:
        assert [r.rule_id for r in table.match(event)] == [r.rule_id for r in rules if r.compiled.matches(event)]
