"""Golden files: fixtures/<name>.log through `auditproc events` equals fixtures/<name>.expected.ndjson."""

from __future__ import annotations

import io

import orjson
import pytest
from typer.testing import CliRunner

from auditproc.cli import app
from auditproc.ecs import EcsSettings
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
    result = CliRunner().invoke(app, ["events", "--host", "test-host", str(log)])
    assert result.exit_code == 0, result.output
    assert result.stdout.encode() == log.with_suffix(".expected.ndjson").read_bytes()
