"""`replay` and `events` write through the same sinks as `follow`: private files, one-line errors."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
SESSION = str(REPO / "fixtures" / "alerts" / "discovery-session.log")
JOBS = pytest.mark.parametrize("jobs", ["1", "2"])


def _run(*args: str, stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditproc.cli", *args], cwd=REPO, stdout=stdout,
                          stderr=subprocess.PIPE, timeout=60)


@JOBS
def test_replay_output_is_created_private_and_appended(tmp_path: Path, jobs: str) -> None:
    out = tmp_path / "alerts.ndjson"
    for _ in range(2):
        assert _run("replay", "-j", jobs, "--output", str(out), SESSION).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    ids = [orjson.loads(line)["event"]["id"] for line in out.read_bytes().splitlines()]
    assert len(ids) == 6 and ids[:3] == ids[3:]  # the same alerts twice: appended, never overwritten


@JOBS
def test_replay_output_in_a_missing_directory_is_one_line_and_exit_2(tmp_path: Path, jobs: str) -> None:
    out = tmp_path / "missing" / "alerts.ndjson"
    result = _run("replay", "-q", "-j", jobs, "--output", str(out), SESSION)
    err = result.stderr.decode()
    assert result.returncode == 2 and err.count("\n") == 1
    assert f"{out}: cannot open: No such file or directory: create the directory" in err


@JOBS
@pytest.mark.parametrize("command", ["events", "replay"])
def test_a_full_disk_is_one_line_and_exit_3(jobs: str, command: str) -> None:
    with open("/dev/full", "wb") as full:
        result = _run(command, "-j", jobs, SESSION, stdout=full)
    err = result.stderr.decode()
    assert result.returncode == 3 and "No space left on device" in err and "Traceback" not in err
