"""Hostile argv, file names and rule names: JSON output stays one object per line, stderr cannot drive a terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditproc.cli import app
from auditproc.pipeline import Reporter

from .conftest import exec_event, ndjson_lines
from .test_rules import _write

NASTY = [b"a\nb", b"\r{\"forged\":true}\n", b"\x1b[2J\x1b]0;pwned\x07", "\u2028x\u2029".encode(), b"\xff\xc0\x80",
         b"nul\x00byte", b"\x1d UID=\"root\"", b"\x7f\x08\x08", "\u009b[2J\u0085".encode()]
ESCAPES = [b"\x1b", b"\r", b"\x00", b"\x07", b"\x08"]


def _log(tmp_path: Path) -> Path:
    lines = [line for n, arg in enumerate(NASTY, 1) for line in exec_event(n, [b"sh", arg], paths=[arg, b"/bin/sh"], cwd=arg, comm=arg[:15])]
    path = tmp_path / "audit.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_hostile_values_are_escaped_in_json_output(tmp_path: Path, jobs: str) -> None:
    result = CliRunner().invoke(app, ["events", "--host", "h", "-j", jobs, str(_log(tmp_path))])
    assert result.exit_code == 0
    docs = list(ndjson_lines(result.stdout_bytes))
    assert [d["process"]["args"][1] for d in docs] == [a.decode("utf-8", "backslashreplace") for a in NASTY]
    assert [d["process"]["working_directory"] for d in docs] == [d["file"]["path"] for d in docs]
    assert not any(bad in result.stdout_bytes for bad in ESCAPES)


def test_c1_controls_and_unicode_line_separators_are_escaped_in_json_output(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["events", "--host", "h", "-j", "1", str(_log(tmp_path))])
    text = result.stdout_bytes.decode()
    assert len(text.splitlines()) == len(NASTY) and "\x9b" not in text and "\x85" not in text and "\x7f" not in text


def test_a_malformed_line_is_reported_escaped() -> None:
    err = io.StringIO()
    Reporter(err).bad_line("f", 1, "malformed header", b"\x1b[2J\nforged line\r\xff" + "\u2028".encode())
    assert err.getvalue().count("\n") == 1 and "\x1b" not in err.getvalue() and "\r" not in err.getvalue()


def test_every_stderr_message_is_escaped(tmp_path: Path) -> None:
    name = "log\x1b[2J\nauditproc: forged\r\u2028"
    result = CliRunner().invoke(app, ["events", "-j", "1", str(tmp_path / name)])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "no such file" in result.stderr
    assert "\x1b" not in result.stderr and "\r" not in result.stderr and "\u2028" not in result.stderr


def test_rule_names_and_paths_in_messages_are_escaped(tmp_path: Path) -> None:
    rules = tmp_path / "rules\x1b[31m"
    rules.mkdir()
    _write(rules / "evil\x1b]0;x\x07.toml", name="evil\\u001b[2J", query="process where process.name ==")
    _write(rules / "skipped.toml", name="skip\\u001b[2J\\r", query="process where true | head 1")
    result = CliRunner().invoke(app, ["replay", "-j", "1", "-v", "--rules", str(rules), str(_log(tmp_path))])
    assert result.exit_code == 2 and "rule error" in result.stderr and "skipped rule" in result.stderr
    assert not any(c in result.stderr for c in "\x1b\x07\r")
