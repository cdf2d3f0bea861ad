"""`auditproc replay` end to end: golden alerts, determinism, profiles, time bounds, ECS input."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from auditproc.cli import app
from tests.conftest import FIXTURES

ALERTS = FIXTURES / "alerts"
CASES = {
    "discovery-session": ["--host", "web-01", str(ALERTS / "discovery-session.log")],
    "flood": ["--host", "web-01", "--rules", str(ALERTS / "rules"), "--exceptions",
              str(ALERTS / "lab-exceptions.ndjson"), str(ALERTS / "flood.log")],
}


def replay(*args: str) -> list[dict]:
    result = CliRunner().invoke(app, ["replay", *args])
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def pinned(alerts: list[dict]) -> bytes:
    for alert in alerts:
        alert["event"].pop("created", None)  # detection wall-clock time
    return b"".join(orjson.dumps(a, option=orjson.OPT_APPEND_NEWLINE) for a in alerts)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_alerts(name, update_golden):
    expected = ALERTS / f"{name}.expected.ndjson"
    actual = pinned(replay(*CASES[name]))
    if update_golden:
        expected.write_bytes(actual)
    assert actual.decode().splitlines() == expected.read_text().splitlines()


def test_discovery_session_semantics():
    alerts = replay(*CASES["discovery-session"])
    summary = [(a["rule"]["name"], a["process"]["name"], a["process"]["parent"].get("name")) for a in alerts]
    assert summary == [
        ("Hping Process Activity", "hping3", "sh"),  # bash → sh → hping3: the parent chain
        ("Nping Process Activity", "nping", "bash"),
        ("Hping Process Activity", "hping3", None),  # pid 4000 ended: its reused pid lends nothing
    ]
    # Near misses never fire: HPING3 (case-sensitive `in`), hping-wrapper, nping2.
    assert not {"HPING3", "hping-wrapper", "nping2"} & {a["process"]["name"] for a in alerts}
    assert alerts[0]["process"]["parent"]["args"] == ["sh", "-c", "hping3 -S -p 80 -c 3 10.0.0.5"]
    assert alerts[0]["event"]["reason"] == (
        "process event with process hping3, parent process sh, by root on web-01 "
        "created medium alert Hping Process Activity."
    )


def test_flood_counts_overflow_and_exception():
    alerts = replay(*CASES["flood"])
    args = [a["process"]["args"][-1] for a in alerts]
    assert args == ["10.0.0.0", "10.0.0.2", "10.0.0.4", "10.0.0.200"]  # 10.0.0.1 excepted
    summary = alerts[2]
    assert summary["auditproc"]["suppressed"]["count"] == 2
    assert "suppressed" in summary["message"]


def test_replay_is_deterministic():
    first = pinned(replay(*CASES["discovery-session"]))
    assert first == pinned(replay(*CASES["discovery-session"]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_process_and_two_give_the_same_alerts(name):
    assert pinned(replay("-j", "1", *CASES[name])) == pinned(replay("-j", "2", *CASES[name]))


def test_events_same_with_one_and_two_processes():
    args = ["events", "--host", "web-01", str(ALERTS / "discovery-session.log"), str(FIXTURES / "garbage.log")]
    one = CliRunner().invoke(app, [*args, "-j", "1"])
    two = CliRunner().invoke(app, [*args, "-j", "2"])
    assert one.exit_code == two.exit_code == 0
    assert one.stdout == two.stdout and one.stdout.count("\n") == 19  # 16 execs, every other kind too (an exit_group)


def test_since_until_select_by_audit_time():
    log = str(ALERTS / "discovery-session.log")
    late = replay("--host", "web-01", "--since", "2024-06-10T06:13:21.500Z", log)
    assert [a["process"]["name"] for a in late] == ["nping", "hping3"]
    early = replay("--host", "web-01", "--until", "2024-06-10T06:13:21.500Z", log)
    assert [a["process"]["name"] for a in early] == ["hping3"]
    assert replay("--host", "web-01", "--since", "now-1h", log) == []


def test_endpoint_profile_fires_defend_only_rules(tmp_path):
    rule = (ALERTS / "rules" / "hping_max_signals_2.toml").read_text()
    rule = rule.replace('"exec_event", "start", "ProcessRollup2", "executed", "process_started"', '"exec_event"')
    (tmp_path / "defend_only.toml").write_text(rule)
    log = str(ALERTS / "discovery-session.log")
    assert replay("--rules", str(tmp_path), log) == []
    alerts = replay("--rules", str(tmp_path), "--ecs-profile", "endpoint", log)
    assert len(alerts) == 2
    assert alerts[0]["event"]["action"] == "exec"
    assert alerts[0]["process"]["real_user"]["id"] == "0"


def test_ecs_input_gives_the_same_alerts(tmp_path):
    log = str(ALERTS / "discovery-session.log")
    events = CliRunner().invoke(app, ["events", "--host", "web-01", log])
    ndjson = tmp_path / "events.ndjson"
    ndjson.write_text(events.stdout)
    from_ecs = pinned(replay("--input-format", "ecs", str(ndjson)))
    assert from_ecs == pinned(replay("--host", "web-01", log))


def test_output_appends_to_a_file(tmp_path):
    out = tmp_path / "alerts.ndjson"
    for _ in range(2):
        assert replay("--host", "web-01", "-o", str(out), str(ALERTS / "discovery-session.log")) == []
    assert len(out.read_text().splitlines()) == 6


def test_rule_errors_exit_2(tmp_path):
    (tmp_path / "bad.toml").write_text('[rule]\nname = "x"\nquery = "process where ("\n')
    result = CliRunner().invoke(app, ["replay", "--rules", str(tmp_path), str(ALERTS / "flood.log")])
    assert result.exit_code == 2


def test_missing_input_exits_1(tmp_path):
    result = CliRunner().invoke(app, ["replay", str(tmp_path / "nope.log")])
    assert result.exit_code == 1
    assert "no such file" in result.stderr
