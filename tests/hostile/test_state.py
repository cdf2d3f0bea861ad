"""The follow state file: created 0600, replaced atomically, and a bad one means "start at the end", said once."""

from __future__ import annotations

import io
import os
import stat
import threading
from pathlib import Path

import pytest

from auditproc import checkpoint
from auditproc.checkpoint import Checkpoint, CheckpointError
from auditproc.follow import Controls, FollowSettings, follow
from auditproc.pipeline import PipelineSettings, Reporter

from .conftest import exec_event


def test_state_is_created_0600_and_replaced_atomically(tmp_path: Path) -> None:
    state = tmp_path / "lib" / "state.json"
    Checkpoint(1, 2, 3, "/var/log/audit/audit.log", [[None, "1.0:1"]]).save(state)
    first = os.stat(state)
    assert stat.S_IMODE(first.st_mode) == 0o600 and stat.S_IMODE(os.stat(state.parent).st_mode) == 0o700
    Checkpoint(1, 2, 4).save(state)
    assert os.stat(state).st_ino != first.st_ino  # a new file renamed over the old one, never rewritten in place
    assert Checkpoint.load(state) == Checkpoint(1, 2, 4) and os.listdir(state.parent) == ["state.json"]


def test_a_failed_write_keeps_the_old_state_and_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state.json"
    Checkpoint(1, 2, 3).save(state)

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "replace", full_disk)
    with pytest.raises(CheckpointError, match="cannot write state: No space left on device"):
        Checkpoint(9, 9, 9).save(state)
    assert Checkpoint.load(state) == Checkpoint(1, 2, 3) and os.listdir(tmp_path) == ["state.json"]


def _follow_once(log: Path, state: Path) -> tuple[list[dict], str]:
    """One follower start and clean shutdown: what it emitted and what it said."""
    err, docs = io.StringIO(), []
    controls = Controls(threading.Event(), threading.Event())
    controls.stop.set()
    follow(str(log), PipelineSettings(), FollowSettings(state), docs.append, controls, Reporter(err))
    return docs, err.getvalue()


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
