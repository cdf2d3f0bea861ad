"""Alert documents (ecs-mapping §6.3/§6.4), the Kibana-compatible extras and the max_signals limiter."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from auditproc.alerts import (
    AlertSettings,
    SignalLimiter,
    alert_id,
    build_alert,
    build_overflow_alert,
    format_time,
    threat_fields,
)
from auditproc.rulefiles import AttackRef, Rule, Technique, Threat

HPING_ID = "90169566-2260-4824-b8e4-8615c3b4ed52"
DETECTED_AT = datetime(2024, 6, 10, 6, 13, 20, 450000, tzinfo=UTC)
SETTINGS = AlertSettings(ruleset_name="elastic/detection-rules", clock=lambda: DETECTED_AT)

DISCOVERY = AttackRef("TA0007", "Discovery", "https://attack.mitre.org/tactics/TA0007/")
EXECUTION = AttackRef("TA0002", "Execution", "https://attack.mitre.org/tactics/TA0002/")
T1046 = Technique("T1046", "Network Service Discovery", "https://attack.mitre.org/techniques/T1046/")
T1082 = Technique("T1082", "System Information Discovery", "https://attack.mitre.org/techniques/T1082/")
UNIX_SHELL = AttackRef("T1059.004", "Unix Shell", "https://attack.mitre.org/techniques/T1059/004/")
T1059 = Technique(
    "T1059", "Command and Scripting Interpreter", "https://attack.mitre.org/techniques/T1059/", (UNIX_SHELL,)
)

HPING_RULE = Rule(
    rule_id=HPING_ID,
    name="Hping Process Activity",
    description="Hping ran on a Linux host. Hping is a FOSS command-line packet analyzer …",
    severity="medium",
    risk_score=47,
    type="eql",
    language="eql",
    query='process where host.os.type == "linux" and process.name in ("hping", "hping2", "hping3")',
    path=Path("rules/discovery_linux_hping_activity.toml"),
    tags=("Domain: Endpoint", "OS: Linux", "Use Case: Threat Detection", "Tactic: Discovery"),
    references=("https://en.wikipedia.org/wiki/Hping", "https://example.org/hping-manual"),
    author=("Elastic",),
    license="Elastic License v2",
    version="213",
    threat=(Threat("MITRE ATT&CK", DISCOVERY, (T1082,)),),
)

BARE_RULE = Rule(
    rule_id="bare-0001",
    name="Bare Rule",
    description="A rule that says as little as a rule can.",
    severity="critical",
    risk_score=99,
    type="eql",
    language="eql",
    query="process where true",
    path=Path("bare.toml"),
)

# The normalised hping3 event of ecs-mapping §5.4 (uid 0 = root, auid 1000 = alice, parent bash).
HPING_EVENT: dict[str, Any] = {
    "@timestamp": "2024-06-10T06:13:20.123Z",
    "ecs": {"version": "8.17.0"},
    "event": {
        "kind": "event",
        "category": ["process"],
        "type": ["start"],
        "action": "executed",
        "outcome": "success",
        "module": "auditd",
        "dataset": "auditproc.process",
        "sequence": 4242,
    },
    "host": {"name": "web-01", "hostname": "web-01", "architecture": "x86_64", "os": {"type": "linux"}},
    "process": {
        "pid": 2345,
        "parent": {"pid": 2201, "name": "bash", "executable": "/usr/bin/bash"},
        "name": "hping3",
        "executable": "/usr/sbin/hping3",
        "args": ["hping3", "-S", "-p", "80", "-c", "3", "10.0.0.5"],
        "args_count": 7,
        "command_line": "hping3 -S -p 80 -c 3 10.0.0.5",
        "title": "hping3 -S -p 80 -c 3 10.0.0.5",
        "working_directory": "/root",
    },
    "user": {"id": "0", "name": "root", "group": {"id": "0", "name": "root"}},
    "related": {"user": ["root", "alice"]},
    "file": {
        "path": "/usr/sbin/hping3",
        "inode": "1837",
        "device": "00:00",
        "mode": "0755",
        "uid": "0",
        "gid": "0",
        "owner": "root",
        "group": "root",
    },
    "auditd": {
        "message_type": "syscall",
        "result": "success",
        "session": "3",
        "summary": {
            "actor": {"primary": "alice", "secondary": "root"},
            "object": {"type": "file", "primary": "/usr/sbin/hping3"},
            "how": "/usr/sbin/hping3",
        },
        "user": {
            "audit": {"id": "1000", "name": "alice"},
            "saved": {"id": "0", "name": "root", "group": {"id": "0", "name": "root"}},
            "filesystem": {"id": "0", "name": "root", "group": {"id": "0", "name": "root"}},
            "selinux": {"user": "unconfined"},
        },
        "data": {
            "a0": "55f1c2a3e0b0",
            "a1": "55f1c2a41c80",
            "a2": "55f1c2a3f900",
            "a3": "8",
            "arch": "x86_64",
            "argc": 7,
            "exit": "0",
            "syscall": "execve",
            "tty": "pts0",
        },
        "paths": [
            {"item": "0", "name": "/usr/sbin/hping3", "inode": "1837", "nametype": "NORMAL"},
            {"item": "1", "name": "/lib64/ld-linux-x86-64.so.2", "inode": "4382", "nametype": "NORMAL"},
        ],
    },
    "tags": ["exec"],
    "service": {"type": "auditd"},
}

# The fields the worked alert of ecs-mapping §6.4 shows (it leaves parts of the event out for brevity).
WORKED_ALERT: dict[str, Any] = {
    "@timestamp": "2024-06-10T06:13:20.123Z",
    "ecs": {"version": "8.17.0"},
    "message": "Hping Process Activity",
    "event": {
        "kind": "alert",
        "category": ["process", "intrusion_detection"],
        "type": ["start", "info"],
        "action": "executed",
        "outcome": "success",
        "module": "auditproc",
        "dataset": "auditproc.alert",
        "severity": 47,
        "risk_score": 47.0,
        "sequence": 4242,
        "id": "11f588f18a701b7512b71553c285e4e9f79365e8db649cf7bffcfa98501025d7",
        "created": "2024-06-10T06:13:20.450Z",
        "reason": "process event with process hping3, parent process bash, by root on web-01 "
        "created medium alert Hping Process Activity.",
    },
    "rule": {
        "id": HPING_ID,
        "uuid": HPING_ID,
        "name": "Hping Process Activity",
        "description": "Hping ran on a Linux host. Hping is a FOSS command-line packet analyzer …",
        "category": "Discovery",
        "ruleset": "elastic/detection-rules",
        "reference": "https://en.wikipedia.org/wiki/Hping",
        "version": "213",
        "author": ["Elastic"],
        "license": "Elastic License v2",
    },
    "threat": {
        "framework": "MITRE ATT&CK",
        "tactic": {
            "id": ["TA0007"],
            "name": ["Discovery"],
            "reference": ["https://attack.mitre.org/tactics/TA0007/"],
        },
        "technique": {
            "id": ["T1082"],
            "name": ["System Information Discovery"],
            "reference": ["https://attack.mitre.org/techniques/T1082/"],
        },
    },
    "host": {"name": "web-01", "hostname": "web-01", "architecture": "x86_64", "os": {"type": "linux"}},
    "process": HPING_EVENT["process"],
    "user": {"id": "0", "name": "root", "group": {"id": "0", "name": "root"}},
    "related": {"user": ["root", "alice"]},
    "auditd": {
        "message_type": "syscall",
        "result": "success",
        "session": "3",
        "user": {"audit": {"id": "1000", "name": "alice"}},
        "data": HPING_EVENT["auditd"]["data"],
    },
    "tags": ["exec"],
    "auditproc": {
        "rule": {
            "severity": "medium",
            "language": "eql",
            "tags": ["Domain: Endpoint", "OS: Linux", "Use Case: Threat Detection", "Tactic: Discovery"],
        }
    },
}


def event(**changes: Any) -> dict[str, Any]:
    """The §5.4 event with top-level or dotted-path changes (a None value removes the field)."""
    doc = copy.deepcopy(HPING_EVENT)
    for path, value in changes.items():
        *parents, leaf = path.replace("__", ".").split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return doc


def leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested objects to dotted paths; lists stay whole."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(leaves(item, f"{prefix}.{key}" if prefix else key))
    return out


def stream(rule: Rule, times: list[str]) -> list[dict[str, Any]]:
    """Matching events of ``rule`` at the given times, serials counting up from 1."""
    return [event(**{"@timestamp": t, "event.sequence": i}) for i, t in enumerate(times, 1)]


# --- the worked alert -----------------------------------------------------------------------------


def test_worked_alert_of_ecs_mapping_6_4():
    alert = build_alert(HPING_RULE, HPING_EVENT, SETTINGS)
    got = leaves(alert)
    expected = leaves(WORKED_ALERT)
    assert {path: got.get(path) for path in expected} == expected
    assert alert["event"]["code"] == "eql"
    # What §6.4 left out for brevity is carried unchanged.
    assert alert["file"] == HPING_EVENT["file"]
    assert alert["auditd"] == HPING_EVENT["auditd"]
    assert alert["service"] == {"type": "auditd"}


def test_the_matched_event_is_not_modified():
    doc = event(**{"event.original": "type=SYSCALL msg=audit(1718000000.123:4242): …"})
    before = copy.deepcopy(doc)
    first = build_alert(HPING_RULE, doc, SETTINGS)
    second = build_alert(BARE_RULE, doc, dataclasses.replace(SETTINGS, kibana_compat=True))
    assert doc == before
    assert first["event"] is not doc["event"] and second["event"] is not first["event"]
    assert first["event"]["original"] == second["event"]["original"] == doc["event"]["original"]
    assert first["event"]["sequence"] == 4242


@pytest.mark.parametrize(
    ("source", "category", "types"),
    [
        ({"category": ["process"], "type": ["start"]}, ["process", "intrusion_detection"], ["start", "info"]),
        (
            {"category": ["intrusion_detection", "process"], "type": ["info", "start"]},
            ["intrusion_detection", "process"],
            ["info", "start"],
        ),
        ({"category": "process", "type": "start"}, ["process", "intrusion_detection"], ["start", "info"]),
        ({}, ["intrusion_detection"], ["info"]),
        (None, ["intrusion_detection"], ["info"]),
    ],
)
def test_event_category_and_type(source, category, types):
    alert = build_alert(HPING_RULE, event(event=source), SETTINGS)
    assert (alert["event"]["category"], alert["event"]["type"]) == (category, types)
    assert alert["event"]["kind"] == "alert"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "process event with process hping3, parent process bash, by root on web-01"),
        ({"process.parent.name": None, "user.name": None}, "process event with process hping3 on web-01"),
        ({"process.name": None, "host.name": None}, "process event, parent process bash, by root"),
        ({"event.category": None}, "event with process hping3, parent process bash, by root on web-01"),
        ({"event.category": ["file", "process"]}, "file event with process hping3, parent process bash, by root on web-01"),
        ({"file.name": "hping3", "user.name": ["root", "alice"]}, "process event with process hping3, parent process bash, file hping3, by root on web-01"),
        ({"source": {"ip": "10.0.0.9", "port": 4444}}, "process event with process hping3, parent process bash, source 10.0.0.9:4444, by root on web-01"),
    ],
)  # fmt: skip
def test_reason_sentence(changes, expected):
    alert = build_alert(HPING_RULE, event(**changes), SETTINGS)
    assert alert["event"]["reason"] == expected + " created medium alert Hping Process Activity."


# --- event.id -------------------------------------------------------------------------------------


def test_event_id_is_stable_across_calls_and_clocks():
    later = dataclasses.replace(SETTINGS, clock=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    ids = {
        build_alert(HPING_RULE, HPING_EVENT, SETTINGS)["event"]["id"],
        build_alert(HPING_RULE, copy.deepcopy(HPING_EVENT), later)["event"]["id"],
        alert_id(HPING_RULE, HPING_EVENT),
    }
    assert ids == {WORKED_ALERT["event"]["id"]}


@pytest.mark.parametrize(
    ("rule", "doc"),
    [
        (BARE_RULE, HPING_EVENT),
        (HPING_RULE, event(**{"host.name": "web-02"})),
        (HPING_RULE, event(**{"event.sequence": 4243})),
        (HPING_RULE, event(**{"@timestamp": "2024-06-10T06:13:20.124Z"})),
        (HPING_RULE, event(**{"event.sequence": None})),
    ],
    ids=["other rule", "other host", "other serial", "other time", "no serial"],
)
def test_event_id_differs(rule, doc):
    assert alert_id(rule, doc) != WORKED_ALERT["event"]["id"]


def test_event_id_without_serial_hashes_the_canonical_document():
    doc = event(**{"event.sequence": None})
    reordered = dict(reversed(list(doc.items())))
    assert alert_id(HPING_RULE, doc) == alert_id(HPING_RULE, reordered)
    assert alert_id(HPING_RULE, doc) != alert_id(
        HPING_RULE, event(**{"event.sequence": None, "process.pid": 1})
    )


# --- rule.* and threat.* --------------------------------------------------------------------------


def test_a_rule_that_says_little_gives_only_what_it_says():
    alert = build_alert(BARE_RULE, HPING_EVENT, AlertSettings(clock=lambda: DETECTED_AT))
    assert alert["rule"] == {
        "id": "bare-0001",
        "uuid": "bare-0001",
        "name": "Bare Rule",
        "description": "A rule that says as little as a rule can.",
        "ruleset": "auditproc",
    }
    assert "threat" not in alert
    assert alert["auditproc"] == {"rule": {"severity": "critical", "language": "eql"}}
    assert (alert["event"]["severity"], alert["event"]["risk_score"]) == (99, 99.0)


@pytest.mark.parametrize(("severity", "score"), [("low", 21), ("medium", 47), ("high", 73), ("critical", 99)])
def test_event_severity_from_rule_severity(severity, score):
    rule = dataclasses.replace(HPING_RULE, severity=severity, risk_score=50)
    alert = build_alert(rule, HPING_EVENT, SETTINGS)
    assert (alert["event"]["severity"], alert["event"]["risk_score"]) == (score, 50.0)
    assert alert["auditproc"]["rule"]["severity"] == severity


THREATS = (
    Threat("MITRE ATT&CK", DISCOVERY, (T1046, T1082)),
    Threat("MITRE ATT&CK", EXECUTION, (T1059, T1082)),
)


def test_threat_arrays_with_two_techniques_and_a_subtechnique():
    assert threat_fields(THREATS) == {
        "framework": "MITRE ATT&CK",
        "tactic": {
            "id": ["TA0007", "TA0002"],
            "name": ["Discovery", "Execution"],
            "reference": [
                "https://attack.mitre.org/tactics/TA0007/",
                "https://attack.mitre.org/tactics/TA0002/",
            ],
        },
        "technique": {
            "id": ["T1046", "T1082", "T1059"],
            "name": [
                "Network Service Discovery",
                "System Information Discovery",
                "Command and Scripting Interpreter",
            ],
            "reference": [
                "https://attack.mitre.org/techniques/T1046/",
                "https://attack.mitre.org/techniques/T1082/",
                "https://attack.mitre.org/techniques/T1059/",
            ],
            "subtechnique": {
                "id": ["T1059.004"],
                "name": ["Unix Shell"],
                "reference": ["https://attack.mitre.org/techniques/T1059/004/"],
            },
        },
    }


@pytest.mark.parametrize(
    ("threats", "expected_keys"),
    [
        ((), None),
        ((Threat("MITRE ATT&CK", DISCOVERY),), {"framework", "tactic"}),
        ((Threat("MITRE ATT&CK", DISCOVERY, (T1082,)),), {"framework", "tactic", "technique"}),
    ],
)
def test_threat_parts_present_only_when_known(threats, expected_keys):
    alert = build_alert(dataclasses.replace(HPING_RULE, threat=threats), HPING_EVENT, SETTINGS)
    assert (set(alert["threat"]) if "threat" in alert else None) == expected_keys
    assert "subtechnique" not in alert.get("threat", {}).get("technique", {})


# --- --kibana-compat ------------------------------------------------------------------------------


def test_kibana_compat_fields():
    rule = dataclasses.replace(HPING_RULE, threat=THREATS)
    alert = build_alert(rule, HPING_EVENT, dataclasses.replace(SETTINGS, kibana_compat=True))
    assert alert["kibana"] == {
        "alert": {
            "original_time": "2024-06-10T06:13:20.123Z",
            "rule": {
                "name": "Hping Process Activity",
                "rule_id": HPING_ID,
                "uuid": HPING_ID,
                "version": "213",
                "threat": [
                    {
                        "framework": "MITRE ATT&CK",
                        "tactic": {"id": "TA0007", "name": "Discovery", "reference": DISCOVERY.reference},
                        "technique": [
                            {
                                "id": "T1046",
                                "name": "Network Service Discovery",
                                "reference": T1046.reference,
                            },
                            {
                                "id": "T1082",
                                "name": "System Information Discovery",
                                "reference": T1082.reference,
                            },
                        ],
                    },
                    {
                        "framework": "MITRE ATT&CK",
                        "tactic": {"id": "TA0002", "name": "Execution", "reference": EXECUTION.reference},
                        "technique": [
                            {
                                "id": "T1059",
                                "name": "Command and Scripting Interpreter",
                                "reference": T1059.reference,
                                "subtechnique": [
                                    {
                                        "id": "T1059.004",
                                        "name": "Unix Shell",
                                        "reference": UNIX_SHELL.reference,
                                    }
                                ],
                            },
                            {
                                "id": "T1082",
                                "name": "System Information Discovery",
                                "reference": T1082.reference,
                            },
                        ],
                    },
                ],
            },
            "severity": "medium",
            "risk_score": 47.0,
            "reason": WORKED_ALERT["event"]["reason"],
            "workflow_status": "open",
        }
    }
    assert alert["event"]["kind"] == "alert" and alert["@timestamp"] == HPING_EVENT["@timestamp"]


def test_no_kibana_fields_by_default():
    assert "kibana" not in build_alert(HPING_RULE, HPING_EVENT, SETTINGS)


# --- max_signals ----------------------------------------------------------------------------------

LIMITED_RULE = dataclasses.replace(HPING_RULE, max_signals=2, interval="5m")
WINDOW_1 = [
    f"2024-06-10T06:1{m}:{s}.000Z" for m, s in [(0, "00"), (1, "10"), (2, "20"), (3, "30"), (4, "59")]
]
WINDOW_2 = ["2024-06-10T06:15:00.000Z", "2024-06-10T06:16:00.000Z", "2024-06-10T06:17:00.000Z"]


def run_limiter(limiter: SignalLimiter, rule: Rule, docs: list[dict]) -> tuple[list[bool], list[list[dict]]]:
    admitted, summaries = [], []
    for doc in docs:
        ok, due = limiter.admit(rule, doc)
        admitted.append(ok)
        summaries.append(due)
    return admitted, summaries


def test_max_signals_over_two_windows():
    limiter = SignalLimiter(SETTINGS)
    docs = stream(LIMITED_RULE, WINDOW_1 + WINDOW_2)
    admitted, summaries = run_limiter(limiter, LIMITED_RULE, docs)
    assert admitted == [True, True, False, False, False, True, True, False]
    assert [len(s) for s in summaries] == [0, 0, 0, 0, 0, 1, 0, 0]
    summary = summaries[5][0]
    assert summary["message"] == "Hping Process Activity (3 more alerts suppressed by max_signals)"
    assert summary["event"]["kind"] == "alert"
    assert summary["auditproc"]["suppressed"] == {
        "count": 3,
        "window": {"start": "2024-06-10T06:10:00.000Z", "end": "2024-06-10T06:15:00.000Z"},
    }
    assert summary["event"]["reason"].startswith(
        "3 more matches of Hping Process Activity between 2024-06-10T06:10:00.000Z and 2024-06-10T06:15:00.000Z "
        "were not emitted"
    )
    assert summary["event"]["sequence"] == 5  # the last dropped match is the example
    assert limiter.suppressed_by_rule == {HPING_ID: 4}
    [last] = limiter.finish()
    assert last["auditproc"]["suppressed"]["count"] == 1
    assert last["auditproc"]["suppressed"]["window"]["start"] == "2024-06-10T06:15:00.000Z"
    assert limiter.finish() == []


def test_max_signals_summary_is_emitted_once_per_window_and_replays_identically():
    def replay() -> list[dict]:
        limiter = SignalLimiter(SETTINGS)
        out: list[dict] = []
        for doc in stream(LIMITED_RULE, WINDOW_1 + WINDOW_2[:1] + ["2024-06-10T06:30:00.000Z"]):
            out.extend(limiter.admit(LIMITED_RULE, doc)[1])
        return out + limiter.finish()

    first, second = replay(), replay()
    assert len(first) == 1
    assert [a["event"]["id"] for a in first] == [a["event"]["id"] for a in second]
    assert (
        first[0]["event"]["id"]
        != build_alert(LIMITED_RULE, stream(LIMITED_RULE, WINDOW_1)[4], SETTINGS)["event"]["id"]
    )


def test_max_signals_counts_each_rule_separately():
    other = dataclasses.replace(LIMITED_RULE, rule_id="other-rule", max_signals=1)
    limiter = SignalLimiter(SETTINGS)
    docs = stream(LIMITED_RULE, WINDOW_1[:3])
    assert run_limiter(limiter, LIMITED_RULE, docs)[0] == [True, True, False]
    assert run_limiter(limiter, other, docs)[0] == [True, False, False]
    assert limiter.suppressed_by_rule == {HPING_ID: 1, "other-rule": 2}
    assert sorted(a["auditproc"]["suppressed"]["count"] for a in limiter.finish()) == [1, 2]


def test_a_late_event_counts_in_the_current_window():
    limiter = SignalLimiter(SETTINGS)
    docs = stream(LIMITED_RULE, [WINDOW_2[0], WINDOW_1[0], WINDOW_2[1]])
    admitted, summaries = run_limiter(limiter, LIMITED_RULE, docs)
    assert admitted == [True, True, False]
    assert summaries == [[], [], []]


def test_default_max_signals_and_interval():
    limiter = SignalLimiter(SETTINGS)
    minute = [f"2024-06-10T06:10:{s:02d}.{ms:03d}Z" for s in range(60) for ms in (0, 500)][:101]
    admitted, _ = run_limiter(limiter, HPING_RULE, stream(HPING_RULE, minute))
    assert admitted.count(True) == 100 and admitted[-1] is False


def test_overflow_alert_with_kibana_compat():
    settings = dataclasses.replace(SETTINGS, kibana_compat=True)
    start, end = datetime(2024, 6, 10, 6, 10, tzinfo=UTC), datetime(2024, 6, 10, 6, 15, tzinfo=UTC)
    alert = build_overflow_alert(LIMITED_RULE, start, end, 7, HPING_EVENT, settings)
    assert alert["kibana"]["alert"]["reason"] == alert["event"]["reason"]
    assert "7 more matches" in alert["event"]["reason"]
    assert (
        alert["event"]["id"]
        == build_overflow_alert(LIMITED_RULE, start, end, 7, HPING_EVENT, SETTINGS)["event"]["id"]
    )


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2024, 6, 10, 6, 13, 20, 450999, tzinfo=UTC), "2024-06-10T06:13:20.450Z"),
        (datetime.fromisoformat("2024-06-10T08:13:20.001+02:00"), "2024-06-10T06:13:20.001Z"),
    ],
)
def test_format_time(moment, text):
    assert format_time(moment) == text


# --- every alert of this file, for the schema test ------------------------------------------------


def sample_alerts() -> list[dict]:
    """Alerts of every shape these tests produce (plain, minimal, rich threat, Kibana extras, overflow)."""
    compat = dataclasses.replace(SETTINGS, kibana_compat=True)
    rich = dataclasses.replace(HPING_RULE, threat=THREATS)
    limiter = SignalLimiter(compat)
    overflow: list[dict] = []
    for doc in stream(LIMITED_RULE, WINDOW_1 + WINDOW_2):
        overflow.extend(limiter.admit(LIMITED_RULE, doc)[1])
    return [
        build_alert(HPING_RULE, HPING_EVENT, SETTINGS),
        build_alert(BARE_RULE, event(**{"event.sequence": None}), SETTINGS),
        build_alert(rich, HPING_EVENT, compat),
        *overflow,
        *limiter.finish(),
    ]
