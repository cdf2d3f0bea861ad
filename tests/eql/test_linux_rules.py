"""Every query among Elastic's Linux rules compiles: single events, sequences and samples."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from auditproc.eql import CompiledQuery, CompiledSample, CompiledSequence, compile_query

RULES = Path(__file__).resolve().parents[3] / "shared" / "elastic-rules" / "linux"


def _queries() -> dict[str, str]:
    if not RULES.is_dir():
        return {}
    return {path.stem: tomllib.loads(path.read_text())["rule"]["query"] for path in sorted(RULES.glob("*.toml"))}


QUERIES = _queries()


@pytest.mark.skipif(not RULES.is_dir(), reason="shared Linux rules are absent")
def test_all_rules_compile() -> None:
    compiled = {name: compile_query(text) for name, text in QUERIES.items()}
    kinds = [type(query) for query in compiled.values()]
    assert (kinds.count(CompiledQuery), kinds.count(CompiledSequence), kinds.count(CompiledSample)) == (214, 9, 3)
    single = [query for query in compiled.values() if isinstance(query, CompiledQuery)]
    assert {query.category for query in single} == {"process", "any", "file", "driver", "network", "iam"}


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
