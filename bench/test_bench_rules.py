"""Rule-table cost per event as the rule set grows (see bench_rules.py for the plain table).

    .venv/bin/pytest bench/test_bench_rules.py --benchmark-enable --benchmark-group-by=param:kind

Each benchmark matches the same ~1,000 synthetic exec documents; divide its time by the number
of documents for the per-event cost. The ``test_cost_ratio_*`` tests time the sets alike in one
process and check the targets: Elastic's rules replicated to 1,000 cost at most 3× what the 2
seed rules cost (the rule-table issue's target), and 1,000 rules cost at most 3× what the smaller
set they are built from costs (the table's own scaling).
"""

from __future__ import annotations

import functools

import pytest
from bench_rules import (
    DOCS,
    ELASTIC_LINUX,
    REPLICATED_RULES,
    elastic_rules,
    per_event_us,
    replicate,
    seed_rules,
    synthetic_docs,
)

from auditproc.ruletable import RuleTable

MAX_GROWTH = 3.0  # per-event cost of 1,000 rules against the 2 seed rules, and against their own originals
ROUNDS = 15

needs_elastic = pytest.mark.skipif(
    not ELASTIC_LINUX.is_dir(), reason="../shared/elastic-rules is not present"
)


@functools.cache
def docs() -> list[dict]:
    return synthetic_docs(DOCS)


@functools.cache
def table(kind: str) -> RuleTable:
    """Return the rule table for one rule set: seed, seed-1000, elastic or elastic-1000."""
    base = seed_rules() if kind.startswith("seed") else elastic_rules()
    return RuleTable(replicate(base, REPLICATED_RULES) if kind.endswith("-1000") else base)


KINDS = [
    "seed",
    "seed-1000",
    pytest.param("elastic", marks=needs_elastic),
    pytest.param("elastic-1000", marks=needs_elastic),
]


@pytest.mark.parametrize("kind", KINDS)
def test_match(benchmark, kind: str) -> None:
    rules, events = table(kind), docs()
    benchmark(lambda: [rules.match(doc) for doc in events])


@pytest.mark.parametrize("kind", KINDS)
def test_candidates(benchmark, kind: str) -> None:
    rules, events = table(kind), docs()
    benchmark(lambda: [rules.candidates(doc) for doc in events])


def _best_per_event(kinds: list[str]) -> dict[str, float]:
    best = dict.fromkeys(kinds, float("inf"))
    for _ in range(ROUNDS):  # alternate, so a busy machine slows every set alike
        for kind in kinds:
            best[kind] = min(best[kind], per_event_us(table(kind).match, docs(), 1))
    return best


def test_cost_ratio_seed(record_property) -> None:
    cost = _best_per_event(["seed", "seed-1000"])
    record_property("us_per_event", cost)
    assert cost["seed-1000"] <= MAX_GROWTH * cost["seed"], cost


@needs_elastic
def test_cost_ratio_elastic(record_property) -> None:
    cost = _best_per_event(["seed", "elastic", "elastic-1000"])
    record_property("us_per_event", cost)
    assert cost["elastic-1000"] <= MAX_GROWTH * cost["seed"], cost
    assert cost["elastic-1000"] <= MAX_GROWTH * cost["elastic"], cost
