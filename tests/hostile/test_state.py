"""The follow state file: created 0600, replaced atomically, and a bad one means "start at the end", said once."""

from __future__ import annotations

import io
import os
import stat
import threading
from pathlib import Path

import orjson
import pytest

from auditproc import checkpoint
from auditproc.checkpoint import Checkpoint, CheckpointError, FileMark
from auditproc.follow import Controls, FollowSettings, follow
from auditproc.output import dumps_line
from auditproc.pipeline import PipelineSettings, Reporter
from auditproc.sinks import FileSink

from .conftest import exec_event


def test_state_is_created_0600_and_replaced_atomically(tmp_path: Path) -> None:
    state = tmp_path / "lib" / "state.json"
    Checkpoint(FileMark(1, 2), 3, "/var/log/audit/audit.log", 3, [[None, "1.0:1"]]).save(state)
    first = os.stat(state)
    assert stat.S_IMODE(first.st_mode) == 0o600 and stat.S_IMODE(os.stat(state.parent).st_mode) == 0o700
    Checkpoint(FileMark(1, 2), 4).save(state)
    assert os.stat(state).st_ino != first.st_ino  # a new file renamed over the old one, never rewritten in place
    assert Checkpoint.load(state) == Checkpoint(FileMark(1, 2), 4) and os.listdir(state.parent) == ["state.json"]


def test_a_failed_write_keeps_the_old_state_and_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state.json"
    Checkpoint(FileMark(1, 2), 3).save(state)

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "replace", full_disk)
    with pytest.raises(CheckpointError, match="cannot write state: No space left on device"):
        Checkpoint(FileMark(9, 9), 9).save(state)
    assert Checkpoint.load(state) == Checkpoint(FileMark(1, 2), 3) and os.listdir(tmp_path) == ["state.json"]


def _follow_once(log: Path, state: Path) -> tuple[list[dict], str]:
    """One follower start and clean shutdown: what it emitted and what it said."""
    err, out = io.StringIO(), log.with_name("out.ndjson")
    out.unlink(missing_ok=True)
    controls = Controls(threading.Event(), threading.Event())
    controls.stop.set()
    follow(str(log), PipelineSettings(), FollowSettings(state), dumps_line, FileSink(out), controls, Reporter(err))
    return [orjson.loads(line) for line in out.read_bytes().splitlines()], err.getvalue()


CORRUPT = {
    "garbage": b"\x00\xff not json",
    "truncated": b'{"version": 1, "dev": 1, "ino"',
    "wrong types": b'{"dev": "x", "ino": [], "offset": {}}',
    "not an object": b"[1, 2, 3]",
    "empty": b"",
}
CRASHING = {  # were accepted by Checkpoint.load, then fatal at every start: a crash loop under systemd
    "infinite number": b'{"dev": 1e999, "ino": 1, "offset": 0}',
    "done of the wrong shape": b'{"dev": 1, "ino": 1, "offset": 0, "done": [["a", "b", "c"]]}',
    "done of the wrong types": b'{"dev": 1, "ino": 1, "offset": 0, "done": [[1, 2]]}',
}


@pytest.mark.parametrize("content", [pytest.param(v, id=k) for k, v in {**CORRUPT, **CRASHING}.items()])
def test_a_corrupt_state_file_means_start_at_the_end_and_say_so(tmp_path: Path, content: bytes) -> None:
    log, state = tmp_path / "audit.log", tmp_path / "state.json"
    log.write_bytes(b"\n".join(exec_event(1)) + b"\n")
    state.write_bytes(content)
    docs, said = _follow_once(log, state)
    assert docs == []  # from the end: the event already in the log is not replayed
    assert f"{state}: corrupt state file" in said and f"ignoring it and starting at the end of {log}" in said
    assert Checkpoint.load(state) is not None  # a good state replaces it: the next start is clean
    assert "corrupt state file" not in _follow_once(log, state)[1]


def test_an_unreadable_state_file_means_start_at_the_end_and_say_so(tmp_path: Path) -> None:
    log, state = tmp_path / "audit.log", tmp_path / "state.json"
    log.write_bytes(b"\n".join(exec_event(1)) + b"\n")
    state.mkdir()  # unreadable even for root, who ignores file modes
    docs, said = _follow_once(log, state)
    assert docs == [] and f"{state}: cannot read state" in said and "starting at the end" in said


def test_a_checkpoint_round_trips_and_a_version_1_state_still_resumes(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    saved = Checkpoint(FileMark.of(1, 2, b"type=SYSCALL"), 12, "/l", 40, [[None, "1.0:1"]],
                       [FileMark.of(1, 3, b"older")], [[7, "sh", "/bin/sh", ["sh"], None, "/"]])
    saved.save(state)
    assert Checkpoint.load(state) == saved
    state.write_bytes(b'{"version": 1, "dev": 1, "ino": 2, "offset": 3, "path": "/l", "done": []}')
    assert Checkpoint.load(state) == Checkpoint(FileMark(1, 2), 3, "/l", 3)


BAD_PROCESS_ROWS = {
    "not a row": ["x"],
    "pid as text": [["1", "sh", None, None, None, None]],
    "args not strings": [[1, "sh", None, [1, 2], None, None]],
    "short row": [[1, "sh"]],
}


@pytest.mark.parametrize("rows", BAD_PROCESS_ROWS.values(), ids=BAD_PROCESS_ROWS.keys())
def test_a_malformed_process_table_is_ignored_and_said(tmp_path: Path, rows: list) -> None:
    log, state = tmp_path / "audit.log", tmp_path / "state.json"
    log.write_bytes(b"")
    st = log.stat()
    Checkpoint(FileMark(st.st_dev, st.st_ino), 0, str(log), 0, processes=rows).save(state)
    docs, said = _follow_once(log, state)
    assert "process table ignored" in said and "Traceback" not in said
