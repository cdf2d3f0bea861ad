"""Every single-event query among Elastic's Linux rules compiles; multi-event ones are recognised."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from auditproc.eql import EqlUnsupportedError, compile_query

RULES = Path(__file__).resolve().parents[3] / "shared" / "elastic-rules" / "linux"


def _queries() -> dict[str, str]:
    if not RULES.is_dir():
        return {}
    return {path.stem: tomllib.loads(path.read_text())["rule"]["query"] for path in sorted(RULES.glob("*.toml"))}


QUERIES = _queries()


@pytest.mark.skipif(not RULES.is_dir(), reason="shared Linux rules are absent")
def test_all_single_event_rules_compile() -> None:
    compiled, unsupported = {}, {}
    for name, text in QUERIES.items():
        try:
            compiled[name] = compile_query(text)
        except EqlUnsupportedError as error:
            unsupported[name] = error.kind
    assert len(compiled) == 214
    assert sorted(unsupported.values()) == ["sample"] * 3 + ["sequence"] * 9
    assert {query.category for query in compiled.values()} == {"process", "any", "file", "driver", "network", "iam"}


@pytest.mark.skipif(not RULES.is_dir(), reason="shared Linux rules are absent")
def test_hping_rule_fires_on_an_exec_document() -> None:
    query = compile_query(QUERIES["discovery_linux_hping_activity"])
    doc = {
        "event": {"category": ["process"], "type": ["start"], "action": "executed"},
        "host": {"os": {"type": "linux"}},
        "process": {"name": "hping3", "args": ["hping3", "-S", "10.0.0.1"]},
    }
    assert query.matches(doc)
    assert not query.matches({**doc, "process": {"name": "ping"}})
