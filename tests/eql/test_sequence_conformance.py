"""Elasticsearch's EQL QA suite, its sequence and sample queries, read in place from <repo>/../shared."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from auditproc.eql import compile_query
from tests.eql.test_conformance import FILES, SUITE, _query_text

# Windows FILETIME (100 ns since 1601) to epoch milliseconds, as Elasticsearch's QA loader stamps @timestamp.
FILETIME_PER_MS = 10_000
FILETIME_EPOCH_MS = 11_644_473_600_000

# Entries we cannot pass, with the reason. Keep empty when everything passes.
XFAIL: dict[str, str] = {}


def _multi_event(text: str) -> bool:
    code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
    pipes = re.findall(r"\|\s*(\w+)", re.sub(r'"(?:[^"\\]|\\.)*"', '""', code))
    return re.match(r"\s*(sequence|sample)\b", code) is not None and set(pipes) <= {"head", "tail"}


def _skip_list() -> set[str]:
    return {entry["name"] for entry in tomllib.loads((SUITE / "test_queries_unsupported.toml").read_text())["queries"]}


def _entries() -> list:
    if not SUITE.is_dir():
        return []
    skipped = _skip_list()
    entries = []
    for name in FILES:
        for entry in tomllib.loads((SUITE / name).read_text())["queries"]:
            if _multi_event(entry["query"]) and entry["name"] not in skipped:
                marks = [pytest.mark.xfail(reason=XFAIL[entry["name"]], strict=True)] if entry["name"] in XFAIL else []
                entries.append(pytest.param(entry, id=entry["name"], marks=marks))
    return entries


ENTRIES = _entries()


@pytest.fixture(scope="module")
def events() -> list[dict]:
    docs = json.loads((SUITE / "test_data.json").read_text())
    for doc in docs:
        doc["@timestamp"] = doc["timestamp"] // FILETIME_PER_MS - FILETIME_EPOCH_MS
    return docs


def test_suite_size() -> None:
    if not SUITE.is_dir():
        pytest.skip(f"{SUITE} is absent")
    assert len(ENTRIES) == 40


def _sequences(ids: list[int], size: int) -> list[tuple[int, ...]]:
    return [tuple(ids[i : i + size]) for i in range(0, len(ids), size)]


@pytest.mark.skipif(not SUITE.is_dir(), reason="shared conformance data is absent")
@pytest.mark.parametrize("entry", ENTRIES)
def test_query(entry: dict, events: list[dict]) -> None:
    query = compile_query(_query_text(entry), category_field="event_type", tiebreaker_field="serial_event_id")
    found = [tuple(doc["serial_event_id"] for doc in match) for match in query.search(events)]
    size = len(found[0]) if found else 1
    # Elasticsearch's lists do not always order the sequences by their first event: compare as sets.
    assert sorted(found) == sorted(_sequences(entry["expected_event_ids"], size))
    assert len(found) == len(set(found))
