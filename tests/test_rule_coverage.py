"""How many of Elastic's Linux rules can fire on our exec events, per profile (bench/rule_coverage.py)."""

from __future__ import annotations

import importlib.util
import io
import sys

import pytest

from auditproc.normalize import EcsSettings
from auditproc.pipeline import PipelineSettings, Reporter, RunStats, enriched_documents
from auditproc.rulefiles import load_rules
from tests.conftest import FIXTURES, REPO, shared_path

spec = importlib.util.spec_from_file_location("rule_coverage", REPO / "bench" / "rule_coverage.py")
coverage = importlib.util.module_from_spec(spec)
sys.modules["rule_coverage"] = coverage  # dataclasses look their module up there
spec.loader.exec_module(coverage)


def our_documents(profile: str) -> list[dict]:
    settings = PipelineSettings(ecs=EcsSettings(host_name="h"), profile=profile)
    logs = [str(FIXTURES / "alerts" / "discovery-session.log"), str(FIXTURES / "enriched.log")]
    return list(enriched_documents(logs, settings, RunStats(), Reporter(io.StringIO())))


def flatten(doc: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("profile", coverage.PROFILES, ids=lambda p: p.name)
def test_the_model_describes_our_documents(profile):
    fixed = flatten({**coverage.FIXED, "event": {**coverage.FIXED["event"], "action": profile.action}})
    for doc in our_documents(profile.name):
        flat = flatten(doc)
        for field, value in fixed.items():
            assert flat.get(field) == value, field
        for field in flat:
            known = field in fixed or any(field == e or field.startswith(e) for e in profile.emitted)
            assert known, f"{field} is emitted but the coverage model does not know it"


@pytest.mark.parametrize(("profile", "expected"), [("auditd", 98), ("endpoint", 180)])
def test_elastic_rules_that_can_fire(profile, expected):
    rules = load_rules([shared_path("elastic-rules", "linux")], all_rules=True).rules
    chosen = next(p for p in coverage.PROFILES if p.name == profile)
    assert sum(coverage.can_fire(r.compiled.ast, chosen) for r in rules if not r.correlates) == expected


def test_a_rule_on_a_field_we_never_emit_cannot_fire():
    from auditproc.eql import parse_query

    query = parse_query('process where process.entry_leader.entry_meta.type == "container"')
    assert not coverage.can_fire(query, coverage.PROFILES[0])
    assert coverage.can_fire(parse_query('process where process.name == "x"'), coverage.PROFILES[0])
    assert not coverage.can_fire(parse_query('process where event.action == "exec"'), coverage.PROFILES[0])
    assert coverage.can_fire(parse_query('process where event.action == "exec"'), coverage.PROFILES[1])
