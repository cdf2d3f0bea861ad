"""Alert documents: one ECS-native alert per (rule, event) match, and the max_signals limiter.

Shape per ``docs/ecs-mapping.md`` §6: the matched event's fields carried over, ``event.kind "alert"``,
``rule.*`` and ``threat.*`` from the rule, ``@timestamp`` left at the event's time. The ``kibana.alert.*``
names are added only with ``AlertSettings(kibana_compat=True)``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from auditproc.eql.ast import SequenceQuery
from auditproc.rulefiles import Rule, Threat
from auditproc.timeexpr import iso_ms, parse_iso

# Kibana's default risk scores per severity (KB3); the External Alerts rule maps them back.
SEVERITY_SCORES = {"low": 21, "medium": 47, "high": 73, "critical": 99}
ALERT_CATEGORY = "intrusion_detection"
ALERT_TYPE = "info"
ALERT_MODULE = "auditproc"
ALERT_DATASET = "auditproc.alert"
ALERT_CODE = "eql"
DEFAULT_RULESET = "auditproc"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """How alerts are shaped: Kibana-compatible extra fields, the ``rule.ruleset`` name, the detection clock."""

    kibana_compat: bool = False
    ruleset_name: str = DEFAULT_RULESET
    clock: Callable[[], datetime] = field(default=_utc_now, compare=False)


format_time = iso_ms  # ISO-8601 UTC with milliseconds and "Z"


def event_time(doc: Mapping[str, Any]) -> datetime | None:
    """Return the document's ``@timestamp`` as an aware datetime, or None when it is missing or unreadable."""
    return parse_iso(doc.get("@timestamp"))


# --- the alert ------------------------------------------------------------------------------------


def build_alert(rule: Rule, doc: Mapping[str, Any], settings: AlertSettings) -> dict:
    """Return the ECS alert for ``rule`` matching ``doc``; ``doc`` is not modified (it may match other rules)."""
    source_event = doc.get("event")
    source_event = source_event if isinstance(source_event, dict) else {}
    event = dict(source_event)  # the only nested object we change; everything else is shared with doc
    event["kind"] = "alert"
    event["category"] = _unique([*_as_list(source_event.get("category")), ALERT_CATEGORY])
    event["type"] = _unique([*_as_list(source_event.get("type")), ALERT_TYPE])
    event["module"] = ALERT_MODULE
    event["dataset"] = ALERT_DATASET
    event["code"] = ALERT_CODE
    event["severity"] = SEVERITY_SCORES[rule.severity]
    event["risk_score"] = float(rule.risk_score)
    event["id"] = alert_id(rule, doc)
    event["created"] = format_time(settings.clock())
    event["reason"] = reason(rule, doc, source_event)

    alert = dict(doc)
    alert["message"] = rule.name
    alert["event"] = event
    alert["rule"] = rule_fields(rule, settings.ruleset_name)
    threat = threat_fields(rule.threat)
    if threat:
        alert["threat"] = threat
    else:
        alert.pop("threat", None)
    own = alert.get("auditproc")
    alert["auditproc"] = {**(own if isinstance(own, dict) else {}), "rule": _auditproc_rule(rule)}
    if settings.kibana_compat:
        alert["kibana"] = kibana_fields(rule, doc, event["reason"])
    return alert


def alert_id(rule: Rule, doc: Mapping[str, Any]) -> str:
    """Return the deterministic ``event.id``: sha256 of ``host|<epoch>.<ms>:<serial>|rule_id``.

    The middle part is the audit event's own identity (``msg=audit(1718000000.123:4242)``), so a replay
    gives the same id; a document without a serial or time falls back to its canonical JSON.
    """
    host = _first(_get(doc, "host.name"))
    identity = _audit_identity(doc)
    middle = identity.encode() if identity else orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    data = b"|".join((str(host or "").encode(), middle, rule.rule_id.encode()))
    return hashlib.sha256(data).hexdigest()


def _audit_identity(doc: Mapping[str, Any]) -> str | None:
    sequence = _get(doc, "event.sequence")
    moment = event_time(doc)
    if type(sequence) is not int or moment is None:
        return None
    millis = round(moment.timestamp() * 1000)
    return f"{millis // 1000}.{millis % 1000:03d}:{sequence}"


def reason(rule: Rule, doc: Mapping[str, Any], event: Mapping[str, Any]) -> str:
    """Return Kibana's reason sentence (KB3) for ``doc``, leaving out the parts whose field is missing."""
    category = _first(event.get("category"))
    parts = [f"{category} event" if category else "event"]
    pieces = (
        (" with process {}", "process.name"),
        (", parent process {}", "process.parent.name"),
        (", file {}", "file.name"),
        (", source {}", "source.ip"),
        (":{}", "source.port"),
        (", destination {}", "destination.ip"),
        (":{}", "destination.port"),
        (", by {}", "user.name"),
        (" on {}", "host.name"),
    )
    for template, path in pieces:
        value = _first(_get(doc, path))
        if value is not None and value != "":
            parts.append(template.format(value))
    parts.append(f" created {rule.severity} alert {rule.name}.")
    return "".join(parts)


# --- sequences and samples -------------------------------------------------------------------------

BUILDING_BLOCK = "default"  # Kibana's kibana.alert.building_block_type of a sequence's event alerts


def build_sequence_alerts(rule: Rule, docs: list[Mapping[str, Any]], settings: AlertSettings) -> list[dict]:
    """Return the alerts of one matched sequence or sample, as Kibana writes them: a shell alert, then a
    building-block alert per matched event with its whole document, all sharing a group id.

    The shell carries the fields every matched event shares with the same value (the join keys among
    them), ``@timestamp`` of the last event, ``event.start``/``event.end`` of the first and last. Ids are
    deterministic: the group id hashes the matched events' own alert ids, so a replay repeats them.
    """
    group = hashlib.sha256("|".join(alert_id(rule, doc) for doc in docs).encode()).hexdigest()
    shared = _shared_fields(docs)
    shared["@timestamp"] = docs[-1].get("@timestamp")
    shell = build_alert(rule, shared, settings)
    event = shell["event"]
    event["id"] = group
    event["start"], event["end"] = docs[0].get("@timestamp"), docs[-1].get("@timestamp")
    event["reason"] = sequence_reason(rule, docs)
    shell["auditproc"]["alert"] = {"group": {"id": group}, "size": len(docs)}
    if settings.kibana_compat:
        shell["kibana"]["alert"].update(reason=event["reason"], group={"id": group})
    alerts = [shell]
    for index, doc in enumerate(docs):
        alert = build_alert(rule, doc, settings)
        alert["event"]["id"] = hashlib.sha256(f"{group}|{index}".encode()).hexdigest()
        alert["auditproc"]["alert"] = {"group": {"id": group, "index": index}, "building_block_type": BUILDING_BLOCK}
        if settings.kibana_compat:
            alert["kibana"]["alert"].update(group={"id": group, "index": index}, building_block_type=BUILDING_BLOCK)
        alerts.append(alert)
    return alerts


def sequence_reason(rule: Rule, docs: list[Mapping[str, Any]]) -> str:
    """Return one sentence naming what happened: how many events of which categories, joined on which values."""
    shape = rule.compiled.ast
    word = "sequence" if isinstance(shape, SequenceQuery) else "sample"
    runs: list[list] = []  # categories in order, a run of one counted: "authentication ×25, process"
    for doc in docs:
        category = str(_first(_get(doc, "event.category")) or "event")
        if runs and runs[-1][0] == category:
            runs[-1][1] += 1
        else:
            runs.append([category, 1])
    categories = ", ".join(f"{category} ×{count}" if count > 1 else category for category, count in runs)
    keys = (*shape.keys, *shape.terms[0].keys)
    joined = []
    for key in keys:
        name = ".".join(map(str, key.path))
        value = _first(_get(docs[0], name))
        if value is not None:
            joined.append(f"{name} {value}")
    text = f"{word} of {len(docs)} events ({categories})"
    if joined:
        text += " joined on " + ", ".join(joined)
    host = _first(_get(docs[-1], "host.name"))
    if host:
        text += f" on {host}"
    return f"{text} created {rule.severity} alert {rule.name}."


def _shared_fields(docs: list[Mapping[str, Any]]) -> dict:
    """Return the fields every document has with the same value, objects compared field by field."""
    first, rest = docs[0], docs[1:]
    shared: dict[str, Any] = {}
    for name, value in first.items():
        others = [doc.get(name) for doc in rest]
        if type(value) is dict and all(type(other) is dict for other in others):
            inner = _shared_fields([value, *others])
            if inner:
                shared[name] = inner
        elif all(other == value for other in others) and all(name in doc for doc in rest):
            shared[name] = value
    return shared


def rule_fields(rule: Rule, ruleset: str) -> dict:
    """Return the ECS ``rule.*`` object of a rule, leaving out what the rule does not say."""
    out: dict[str, Any] = {
        "id": rule.rule_id,
        "uuid": rule.rule_id,
        "name": rule.name,
        "description": rule.description,
    }
    if rule.threat:
        out["category"] = rule.threat[0].tactic.name
    out["ruleset"] = ruleset
    if rule.references:
        out["reference"] = rule.references[0]
    if rule.version is not None:
        out["version"] = str(rule.version)
    if rule.author:
        out["author"] = list(rule.author)
    if rule.license is not None:
        out["license"] = rule.license
    return out


def threat_fields(threats: Iterable[Threat]) -> dict:
    """Return ECS ``threat.*``: parallel arrays of tactics, techniques and subtechniques (empty dict for none)."""
    threats = tuple(threats)
    if not threats:
        return {}
    tactics = _unique((t.tactic.id, t.tactic.name, t.tactic.reference) for t in threats)
    techniques = _unique((x.id, x.name, x.reference) for t in threats for x in t.techniques)
    subs = _unique(
        (s.id, s.name, s.reference) for t in threats for x in t.techniques for s in x.subtechniques
    )
    out: dict[str, Any] = {"framework": threats[0].framework, "tactic": _columns(tactics)}
    if techniques:
        out["technique"] = _columns(techniques)
        if subs:
            out["technique"]["subtechnique"] = _columns(subs)
    return out


def _columns(rows: list[tuple[str, str, str]]) -> dict[str, list[str]]:
    # ECS keeps tactic/technique lists parallel: element i of id, name and reference describe one entry.
    return {
        "id": [r[0] for r in rows],
        "name": [r[1] for r in rows],
        "reference": [r[2] for r in rows],
    }


def _auditproc_rule(rule: Rule) -> dict:
    out: dict[str, Any] = {"severity": rule.severity, "language": rule.language}
    if rule.tags:
        out["tags"] = list(rule.tags)
    if rule.references:
        out["references"] = list(rule.references)
    return out


def kibana_fields(rule: Rule, doc: Mapping[str, Any], reason_text: str) -> dict:
    """Return the ``kibana.*`` object of ``--kibana-compat`` (names as in Kibana's own alerts, docs/ecs-mapping.md §6)."""
    rule_copy: dict[str, Any] = {"name": rule.name, "rule_id": rule.rule_id, "uuid": rule.rule_id}
    if rule.version is not None:
        rule_copy["version"] = str(rule.version)
    rule_copy["threat"] = [_kibana_threat(t) for t in rule.threat]
    alert: dict[str, Any] = {}
    if "@timestamp" in doc:
        alert["original_time"] = doc["@timestamp"]
    alert.update(
        rule=rule_copy,
        severity=rule.severity,
        risk_score=float(rule.risk_score),
        reason=reason_text,
        workflow_status="open",
    )
    return {"alert": alert}


def _kibana_threat(threat: Threat) -> dict:
    def ref(item: Any) -> dict:
        return {"id": item.id, "name": item.name, "reference": item.reference}

    out: dict[str, Any] = {"framework": threat.framework, "tactic": ref(threat.tactic)}
    if threat.techniques:
        out["technique"] = [
            {**ref(x), "subtechnique": [ref(s) for s in x.subtechniques]} if x.subtechniques else ref(x)
            for x in threat.techniques
        ]
    return out


# --- max_signals ----------------------------------------------------------------------------------


def build_overflow_alert(
    rule: Rule,
    window_start: datetime,
    window_end: datetime,
    suppressed_count: int,
    last_doc: Mapping[str, Any],
    settings: AlertSettings,
) -> dict:
    """Return the summary alert for ``suppressed_count`` matches of ``rule`` dropped by max_signals in a window.

    It carries the last dropped event as an example; ``auditproc.suppressed`` says how many and when.
    """
    start, end = format_time(window_start), format_time(window_end)
    alert = build_alert(rule, last_doc, settings)
    text = (
        f"{suppressed_count} more matches of {rule.name} between {start} and {end} were not emitted: "
        f"max_signals {rule.max_signals} per {rule.interval} reached; the last one is shown."
    )
    alert["message"] = f"{rule.name} ({suppressed_count} more alerts suppressed by max_signals)"
    alert["event"]["reason"] = text
    identity = f"max_signals|{start}|{end}|{rule.rule_id}".encode()
    alert["event"]["id"] = hashlib.sha256(identity).hexdigest()
    alert["auditproc"]["suppressed"] = {"count": suppressed_count, "window": {"start": start, "end": end}}
    if settings.kibana_compat:
        alert["kibana"]["alert"]["reason"] = text
    return alert


@dataclass(slots=True)
class _Window:
    """One rule's current max_signals window: its start (epoch seconds), what was emitted and dropped."""

    rule: Rule
    start: int
    emitted: int = 0
    suppressed: int = 0
    last_suppressed: Mapping[str, Any] | None = None


class SignalLimiter:
    """Per rule, at most ``max_signals`` alerts per ``interval`` of event time; the excess is counted and summarised.

    Windows are aligned to multiples of the interval since the epoch. An event older than the rule's
    current window (audit records arrive slightly out of order) is counted in the current window, so the
    state stays one window per rule.
    """

    def __init__(self, settings: AlertSettings) -> None:
        self.settings = settings
        self.suppressed_by_rule: Counter[str] = Counter()
        self._windows: dict[str, _Window] = {}

    def admit(self, rule: Rule, doc: Mapping[str, Any]) -> tuple[bool, list[dict]]:
        """Return whether to emit ``rule``'s alert for ``doc``, and the overflow summaries that became due."""
        interval = rule.interval_seconds
        moment = event_time(doc)
        window = self._windows.get(rule.rule_id)
        due: list[dict] = []
        if moment is not None:
            start = int(moment.timestamp()) // interval * interval
            if window is None or start > window.start:
                if window is not None:
                    due.extend(self._summary(window))
                window = self._windows[rule.rule_id] = _Window(rule, start)
        if window is None:  # no event time yet for this rule: open the window at the epoch
            window = self._windows[rule.rule_id] = _Window(rule, 0)
        if window.emitted < rule.max_signals:
            window.emitted += 1
            return True, due
        window.suppressed += 1
        window.last_suppressed = doc
        self.suppressed_by_rule[rule.rule_id] += 1
        return False, due

    def finish(self) -> list[dict]:
        """Return the summaries of every open window that dropped alerts, and forget all windows."""
        due = [alert for window in self._windows.values() for alert in self._summary(window)]
        self._windows.clear()
        return due

    def _summary(self, window: _Window) -> list[dict]:
        if not window.suppressed or window.last_suppressed is None:
            return []
        interval = window.rule.interval_seconds
        return [
            build_overflow_alert(
                window.rule,
                datetime.fromtimestamp(window.start, UTC),
                datetime.fromtimestamp(window.start + interval, UTC),
                window.suppressed,
                window.last_suppressed,
                self.settings,
            )
        ]


# --- small helpers --------------------------------------------------------------------------------


def _get(doc: Mapping[str, Any], path: str) -> Any:
    """Return the value at a dotted path of nested objects, or None."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _unique(values: Iterable[Any]) -> list:
    return list(dict.fromkeys(values))
