"""auditd.summary.actor names its actor where the ids have names, as Elastic's data does (go-libaudit
resolves them): from the log's ENRICHED part, or from --passwd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditproc.cli import app
from tests.conftest import FIXTURES

ENRICHED_SETUID = (
    "type=SYSCALL msg=audit(1733390000.000:77): arch=c000003e syscall=105 success=yes exit=0 a0=3e9 a1=0 a2=0 a3=0 "
    "items=0 ppid=900 pid=901 auid=1000 uid=1001 gid=1001 euid=1001 suid=1001 fsuid=1001 egid=1001 sgid=1001 "
    'fsgid=1001 tty=pts0 ses=3 comm="runas" exe="/usr/local/bin/runas" key=(null)'
    '\x1dARCH=x86_64 SYSCALL=setuid AUID="ann" UID="bob" GID="bob" EUID="bob" SUID="bob" FSUID="bob" EGID="bob" '
    'SGID="bob" FSGID="bob"\n'
)


def actor(*args: str) -> dict:
    result = CliRunner().invoke(app, ["events", "--host", "h", "-j", "1", *args])
    assert result.exit_code == 0, result.output
    (doc,) = [json.loads(line) for line in result.stdout.splitlines()]
    return doc["auditd"]["summary"]["actor"]


def test_names_from_the_enriched_record(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(ENRICHED_SETUID)
    assert actor(str(log)) == {"primary": "ann", "secondary": "bob"}


@pytest.mark.parametrize(("passwd", "expected"), [
    ("ann:x:1000:1000::/home/ann:/bin/sh\n", {"primary": "ann", "secondary": "ann"}),
    ("", {"primary": "1000", "secondary": "1000"}),  # no name known: the ids stay
])
def test_names_from_passwd(tmp_path: Path, passwd: str, expected: dict) -> None:
    db = tmp_path / "passwd"
    db.write_text(passwd)
    assert actor("--passwd", str(db), str(FIXTURES / "trail" / "setuid.log")) == expected
