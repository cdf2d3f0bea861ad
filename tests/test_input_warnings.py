"""One line on stderr for inputs users get wrong: compressed files, no records, subdirectories, a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditproc.cli import app
from tests.conftest import FIXTURES, REPO

EXEC_LOG = (FIXTURES / "exec-basic.log").read_bytes()
COMPRESSED = [
    (b"\x28\xb5\x2f\xfd\x04\x58\x01\x02", "zstd", "zstdcat"),
    (b"\xfd7zXZ\x00\x00\x04\xe6\xd6", "xz", "xzcat"),
    (b"BZh91AY&SY\x01\x02", "bzip2", "bzcat"),
]


def events(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["events", *args])
    return result.exit_code, result.stderr


@pytest.mark.parametrize(("magic", "name", "tool"), COMPRESSED, ids=[c[1] for c in COMPRESSED])
def test_compressed_file_says_how_to_read_it(tmp_path: Path, magic: bytes, name: str, tool: str) -> None:
    log = tmp_path / "audit.log.1"
    log.write_bytes(magic + os.urandom(200))
    code, stderr = events("-j", "1", str(log))
    assert code == 1  # an input error, like an unreadable file
    assert stderr == (
        f"auditproc: {log}: looks like {name}-compressed data: decompress it first, "
        f"e.g. {tool} {log} | auditproc replay -\n"
    )


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_no_audit_records_is_said_once_per_file(tmp_path: Path, jobs: str) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_bytes(b"not an audit log\n" * 50)
    log = tmp_path / "audit.log"
    log.write_bytes(EXEC_LOG)
    code, stderr = events("-j", jobs, str(junk), str(log))
    assert code == 0
    assert stderr.count("no audit records found") == 1
    assert stderr.splitlines()[-1] == f"auditproc: no audit records found in {junk}"


@pytest.mark.parametrize("content", [b"", EXEC_LOG], ids=["empty", "records"])
def test_nothing_said_of_an_empty_file_or_one_with_records(tmp_path: Path, content: bytes) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(content)
    assert events("-j", "1", str(log)) == (0, "")


def test_subdirectories_of_a_rotated_set_are_said_skipped(tmp_path: Path) -> None:
    (tmp_path / "audit.log").write_bytes(EXEC_LOG)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "audit.log").write_bytes(EXEC_LOG)
    (tmp_path / ".hidden").mkdir()
    result = CliRunner().invoke(app, ["events", "--category", "process", "-j", "1", str(tmp_path)])
    assert result.exit_code == 0 and result.stdout.count("\n") == 1  # audit.log, not old/audit.log
    assert result.stderr == (
        f"auditproc: {tmp_path / 'old'}: a directory inside {tmp_path}, skipped (only the files of a rotated set are read)\n"
    )


@pytest.mark.parametrize(("args", "said"), [([], True), (["-"], False)], ids=["no path", "dash"])
def test_reading_a_terminal_is_said(args: list[str], said: bool) -> None:
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "auditproc.cli", "events", "-j", "1", *args],
            stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
        )
        os.write(primary, b"\x04")  # Ctrl-D: the end of input on a terminal
        _, stderr = proc.communicate(timeout=30)
    finally:
        os.close(primary)
        os.close(secondary)
    assert proc.returncode == 0
    assert (stderr == b"auditproc: reading audit records from stdin (Ctrl-D to end)\n") is said, stderr
    assert said or stderr == b""
