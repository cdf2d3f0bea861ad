"""Golden files: fixtures/<name>.log through `auditproc events` equals fixtures/<name>.expected.ndjson."""

from __future__ import annotations

import io

import orjson
import pytest
from typer.testing import CliRunner

from auditproc.cli import app
from auditproc.normalize import EcsSettings
from auditproc.pipeline import PipelineSettings, Reporter, RunStats, enriched_documents
from tests.conftest import FIXTURES

LOGS = sorted(FIXTURES.glob("*.log"))
SETTINGS = PipelineSettings(ecs=EcsSettings(host_name="test-host"))


def render(path) -> bytes:
    docs = enriched_documents([str(path)], SETTINGS, RunStats(), Reporter(io.StringIO()))
    return b"".join(orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE) for d in docs)


@pytest.mark.parametrize("log", LOGS, ids=[p.stem for p in LOGS])
def test_golden(log, update_golden):
    expected_path = log.with_suffix(".expected.ndjson")
    actual = render(log)
    if update_golden:
        expected_path.write_bytes(actual)
    assert expected_path.exists(), f"no golden file: run pytest --update-golden and review {expected_path.name}"
    assert actual.decode().splitlines() == expected_path.read_text().splitlines()


def test_fixture_set_is_complete():
    # Every case the parse/assemble issue names has a fixture.
    names = {p.stem for p in LOGS}
    assert {"interleaved", "eoe", "hex-everything", "execve-split", "enriched", "node", "failed-exec",
            "arches", "garbage", "reversed", "user-records", "exec-basic"} <= names


def test_cli_events_matches_golden():
    log = FIXTURES / "exec-basic.log"
    result = CliRunner().invoke(app, ["events", "--category", "process", "--host", "test-host", str(log)])
    assert result.exit_code == 0, result.output
    assert result.stdout.encode() == log.with_suffix(".expected.ndjson").read_bytes()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_stats_count_truncated_argv(tmp_path, jobs):
    head = b'type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=59 success=yes exit=0 pid=2 comm="x" exe="/x"\n'
    execve = b'type=EXECVE msg=audit(1.000:1): argc=2 a0="x" a1=' + b"41" * (2 << 20) + b"\n"
    log = tmp_path / "big.log"
    log.write_bytes(head + execve)
    result = CliRunner().invoke(app, ["events", "-j", jobs, "--stats", str(log)])
    assert result.exit_code == 0
    doc = orjson.loads(result.stdout)
    assert doc["process"]["args"][-1].startswith("…[") and "truncated" in doc["error"]["message"]
    assert "argv truncated: 1" in result.stderr


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_stats_count_late_records(tmp_path, jobs):
    log = tmp_path / "late.log"
    log.write_bytes(
        b'type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=59 success=yes exit=0 pid=2 comm="x" exe="/x"\n'
        b'type=EXECVE msg=audit(1.000:1): argc=1 a0="x"\n'
        b"type=EOE msg=audit(1.000:1): \n"
        b'type=CWD msg=audit(1.000:1): cwd="/late"\n'
    )
    result = CliRunner().invoke(app, ["events", "-j", jobs, "--stats", str(log)])
    assert result.exit_code == 0
    assert orjson.loads(result.stdout)["process"]["args"] == ["x"]  # one document, without the late CWD
    assert "late records: 1" in result.stderr


def test_rule_names_cannot_drive_the_terminal(tmp_path):
    rule = (FIXTURES / "alerts" / "rules" / "hping_max_signals_2.toml").read_text()
    (tmp_path / "r.toml").write_text(rule.replace("(test copy, max_signals 2)", "\\u001b[2J evil"))
    result = CliRunner().invoke(app, ["rules", "list", str(tmp_path)])
    assert "\x1b" not in result.stdout and "evil" in result.stdout
