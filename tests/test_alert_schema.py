"""The ECS field types we emit (ecs-mapping §7.2–7.3), checked on every alert of the tests and every golden event.

A field outside ``auditd.*``, ``auditproc.*``, ``kibana.*`` and ``error.*`` that is not in ``FIELDS`` fails,
so a new field gets a type decision here first.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from tests.conftest import FIXTURES
from tests.test_alerts import sample_alerts

KEYWORD, TEXT, LONG, FLOAT, DATE = "keyword", "text", "long", "float", "date"
ARRAY = "[]"  # suffix: the field is always a JSON array of that type (ECS normalize: array)
FREE_NAMESPACES = ("auditd", "auditproc", "kibana", "error")

_USERS = {
    f"user.{who}{leaf}": KEYWORD
    for who in ("", "effective.", "group.", "effective.group.")
    for leaf in ("id", "name")
}
_PROCESS_USERS = {
    f"process.{who}.{leaf}": KEYWORD
    for who in ("user", "real_user", "saved_user", "group", "real_group", "saved_group")
    for leaf in ("id", "name")
}
_ATTACK = {
    f"threat.{part}.{leaf}": KEYWORD + ARRAY
    for part in ("tactic", "technique", "technique.subtechnique")
    for leaf in ("id", "name", "reference")
}

FIELDS: dict[str, str] = {
    "@timestamp": DATE,
    "message": TEXT,
    "tags": KEYWORD + ARRAY,
    "ecs.version": KEYWORD,
    "service.type": KEYWORD,
    # event
    "event.kind": KEYWORD,
    "event.category": KEYWORD + ARRAY,
    "event.type": KEYWORD + ARRAY,
    "event.action": KEYWORD,
    "event.outcome": KEYWORD,
    "event.module": KEYWORD,
    "event.dataset": KEYWORD,
    "event.code": KEYWORD,
    "event.sequence": LONG,
    "event.severity": LONG,
    "event.risk_score": FLOAT,
    "event.id": KEYWORD,
    "event.created": DATE,
    "event.reason": KEYWORD,
    "event.original": KEYWORD,
    # host (§5.2 additive fields included)
    "host.name": KEYWORD,
    "host.hostname": KEYWORD,
    "host.id": KEYWORD,
    "host.architecture": KEYWORD,
    "host.os.type": KEYWORD,
    "host.os.family": KEYWORD,
    "host.os.name": KEYWORD,
    "host.os.version": KEYWORD,
    "host.os.kernel": KEYWORD,
    "host.os.platform": KEYWORD,
    # process
    "process.pid": LONG,
    "process.name": KEYWORD,
    "process.executable": KEYWORD,
    "process.args": KEYWORD + ARRAY,
    "process.args_count": LONG,
    "process.command_line": KEYWORD,
    "process.title": KEYWORD,
    "process.working_directory": KEYWORD,
    "process.parent.pid": LONG,
    "process.parent.name": KEYWORD,
    "process.parent.executable": KEYWORD,
    "process.parent.args": KEYWORD + ARRAY,
    "process.parent.args_count": LONG,
    "process.parent.command_line": KEYWORD,
    **_PROCESS_USERS,
    # user, related, file
    **_USERS,
    "related.user": KEYWORD + ARRAY,
    "file.path": KEYWORD,
    "file.name": KEYWORD,
    "file.directory": KEYWORD,
    "file.inode": KEYWORD,
    "file.device": KEYWORD,
    "file.mode": KEYWORD,
    "file.uid": KEYWORD,
    "file.gid": KEYWORD,
    "file.owner": KEYWORD,
    "file.group": KEYWORD,
    # rule and threat (alerts)
    "rule.id": KEYWORD,
    "rule.uuid": KEYWORD,
    "rule.name": KEYWORD,
    "rule.description": KEYWORD,
    "rule.category": KEYWORD,
    "rule.ruleset": KEYWORD,
    "rule.reference": KEYWORD,
    "rule.version": KEYWORD,
    "rule.author": KEYWORD + ARRAY,
    "rule.license": KEYWORD,
    "threat.framework": KEYWORD,
    **_ATTACK,
    # our namespaces: checked when present, other fields there are free
    "error.message": TEXT,
    "auditproc.rule.severity": KEYWORD,
    "auditproc.rule.language": KEYWORD,
    "auditproc.rule.tags": KEYWORD + ARRAY,
    "auditproc.rule.references": KEYWORD + ARRAY,
    "auditproc.suppressed.count": LONG,
    "auditproc.suppressed.window.start": DATE,
    "auditproc.suppressed.window.end": DATE,
}

# ecs-mapping §7.3: anything else must not be used.
ALLOWED = {
    "event.kind": {"alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error"},
    "event.category": {
        "api", "authentication", "configuration", "database", "driver", "email", "file", "host", "iam",
        "intrusion_detection", "library", "malware", "network", "package", "process", "registry", "session",
        "threat", "vulnerability", "web",
    },
    "event.type": {
        "access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied", "device", "end",
        "error", "group", "indicator", "info", "installation", "protocol", "start", "user",
    },
    "event.outcome": {"success", "failure", "unknown"},
    "host.os.type": {"linux", "macos", "unix", "windows", "ios", "android"},
}  # fmt: skip

ISO_UTC_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _scalar_problem(kind: str, value: Any) -> str | None:
    if kind in (KEYWORD, TEXT):
        ok = isinstance(value, str)
    elif kind == LONG:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == FLOAT:
        ok = isinstance(value, float)
    else:
        ok = isinstance(value, str) and ISO_UTC_MS.fullmatch(value) is not None
    return None if ok else f"expected {kind}, got {value!r}"


def violations(doc: dict, prefix: str = "") -> list[str]:
    """Return one ``path: problem`` per field of ``doc`` that breaks the table (empty when all is well)."""
    out: list[str] = []
    for key, value in doc.items():
        path = f"{prefix}{key}"
        kind = FIELDS.get(path)
        free = path.split(".", 1)[0] in FREE_NAMESPACES
        if kind is None:
            if isinstance(value, dict):
                out.extend(violations(value, f"{path}."))
            elif not free:
                out.append(f"{path}: not in the table of fields we emit")
            continue
        if kind.endswith(ARRAY):
            if not isinstance(value, list):
                out.append(f"{path}: expected an array of {kind[: -len(ARRAY)]}, got {value!r}")
                continue
            values, kind = value, kind[: -len(ARRAY)]
        else:
            values = [value]
        out.extend(f"{path}: {problem}" for v in values if (problem := _scalar_problem(kind, v)))
        allowed = ALLOWED.get(path)
        if allowed is not None:
            out.extend(f"{path}: {v!r} is not an allowed value" for v in values if v not in allowed)
    return out


def _documents() -> list[tuple[str, dict]]:
    docs = [(f"alert-{i}", alert) for i, alert in enumerate(sample_alerts())]
    for path in sorted(FIXTURES.glob("*.expected.ndjson")):
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if line.strip():
                docs.append((f"{path.name}:{number}", orjson.loads(line)))
    return docs


DOCUMENTS = _documents()


@pytest.mark.parametrize("doc", [doc for _, doc in DOCUMENTS], ids=[name for name, _ in DOCUMENTS])
def test_field_types(doc):
    assert violations(doc) == []


def test_alerts_and_events_are_both_checked():
    kinds = [doc["event"]["kind"] for _, doc in DOCUMENTS]
    assert kinds.count("alert") >= 5 and kinds.count("event") >= 20


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"process": {"pid": "2345"}}, "process.pid: expected long, got '2345'"),
        ({"process": {"pid": True}}, "process.pid: expected long, got True"),
        ({"user": {"id": 0}}, "user.id: expected keyword, got 0"),
        ({"event": {"risk_score": 47}}, "event.risk_score: expected float, got 47"),
        ({"event": {"category": "process"}}, "event.category: expected an array of keyword, got 'process'"),
        ({"event": {"category": ["processes"]}}, "event.category: 'processes' is not an allowed value"),
        ({"event": {"kind": "signal"}}, "event.kind: 'signal' is not an allowed value"),
        (
            {"event": {"created": "2024-06-10 06:13:20"}},
            "event.created: expected date, got '2024-06-10 06:13:20'",
        ),
        (
            {"threat": {"tactic": {"id": "TA0007"}}},
            "threat.tactic.id: expected an array of keyword, got 'TA0007'",
        ),
        ({"process": {"entity_id": "x"}}, "process.entity_id: not in the table of fields we emit"),
        ({"labels": {"team": "x"}}, "labels.team: not in the table of fields we emit"),
        ({"auditproc": {"suppressed": {"count": "3"}}}, "auditproc.suppressed.count: expected long, got '3'"),
    ],
)
def test_the_checker_catches(doc, problem):
    assert violations(doc) == [problem]


@pytest.mark.parametrize(
    "doc",
    [
        {"auditd": {"data": {"anything": 1}, "paths": [{"item": "0"}]}},
        {"kibana": {"alert": {"rule": {"threat": [{"tactic": {"id": "TA0007"}}]}}}},
        {"auditproc": {"future": {"field": [1, 2]}}},
        {"error": {"code": 3}},
    ],
)
def test_our_namespaces_are_free(doc):
    assert violations(doc) == []
