"""host.id: what every document carries for rules to join on, and where it comes from."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from auditproc.cli import app
from auditproc.identity import machine_id
from auditproc.normalize.common import EcsSettings, host
from tests.conftest import FIXTURES


@pytest.mark.parametrize(("settings", "node", "expected"), [
    (EcsSettings(host_name="h", host_id="given", machine_id="m"), "n", "given"),  # --host-id wins
    (EcsSettings(host_name="h", machine_id="m"), "n", "n"),  # node= names the host that wrote it
    (EcsSettings(host_name="h", machine_id="m"), None, "m"),  # this host's own log, followed
    (EcsSettings(host_name="h"), None, "h"),  # an archive: --host, default this machine's name
    (EcsSettings(), None, None),  # nothing known: absent, never invented
])
def test_host_id_precedence(settings: EcsSettings, node: str | None, expected: str | None) -> None:
    assert host(node, settings).get("id") == expected


def test_machine_id_reads_the_first_file_that_holds_one(tmp_path) -> None:
    empty, real = tmp_path / "empty", tmp_path / "machine-id"
    empty.write_text("\n")
    real.write_text("0f6c2a5e9b1d4c3e8a7f6b5c4d3e2f1a\n")
    assert machine_id((str(tmp_path / "absent"), str(empty), str(real))) == "0f6c2a5e9b1d4c3e8a7f6b5c4d3e2f1a"
    assert machine_id((str(tmp_path / "absent"),)) is None


def test_events_host_id_option_marks_every_document() -> None:
    result = CliRunner().invoke(app, ["events", "--host-id", "fleet-7", str(FIXTURES / "node.log")])
    assert result.exit_code == 0, result.output
    docs = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert docs and {d["host"]["id"] for d in docs} == {"fleet-7"}
    assert {d["host"]["name"] for d in docs} == {"web-01", "db 02"}  # the name stays the node's
