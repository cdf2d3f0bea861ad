"""LogFollower in-process: files followed by identity, truncation seen even when rewritten past us."""

from __future__ import annotations

import os
import socket

import pytest

from auditproc import tail
from auditproc.checkpoint import Checkpoint, FileMark


def lines_of(follower: tail.LogFollower) -> list[bytes]:
    out: list[bytes] = []
    while True:
        batch = follower.read(0.01)
        if not batch:
            return out
        out.extend(line for line, _ in batch)


def rotate(log, generations: int = 5) -> None:
    """auditd's rotation: .n-1 → .n …, log → .1, a new empty log."""
    for n in range(generations - 1, 0, -1):
        older = log.with_name(f"{log.name}.{n}")
        if older.exists():
            older.rename(log.with_name(f"{log.name}.{n + 1}"))
    log.rename(log.with_name(f"{log.name}.1"))
    log.write_bytes(b"")


def test_copytruncate_rewritten_past_our_offset_is_read_from_the_start(tmp_path):
    log = tmp_path / "audit.log"
    log.write_bytes(b"first a\nfirst b\n")
    said: list[str] = []
    follower = tail.LogFollower(log, from_start=True, say=said.append, poll_interval=0.01)
    assert lines_of(follower) == [b"first a", b"first b"]
    with open(log, "r+b") as f:  # copytruncate, and the writer already wrote more than we had read
        f.truncate(0)
        f.write(b"second 1\nsecond 2\nsecond 3\n")
    assert lines_of(follower) == [b"second 1", b"second 2", b"second 3"]
    assert any("truncated" in m for m in said)
    follower.close()


def test_a_rotation_during_catch_up_skips_nothing(tmp_path):
    log = tmp_path / "audit.log"
    log.write_bytes(b"old 1\nold 2\n")
    st = os.stat(log)
    checkpoint = Checkpoint(FileMark.of(st.st_dev, st.st_ino, b"old 1\nold 2\n"), len(b"old 1\n"), str(log))
    rotate(log)
    log.write_bytes(b"middle 1\n")
    follower = tail.LogFollower(log, checkpoint=checkpoint, say=lambda m: None, poll_interval=0.01)
    rotate(log)  # the follower has planned its files; auditd rotates again before it reads them
    log.write_bytes(b"new 1\n")
    assert lines_of(follower) == [b"old 2", b"middle 1", b"new 1"]
    follower.close()


def test_start_at_end_means_the_end_at_start_up(tmp_path):
    log = tmp_path / "audit.log"
    log.write_bytes(b"before\n")
    follower = tail.LogFollower(log, say=lambda m: None, poll_interval=0.01)
    with open(log, "ab") as f:
        f.write(b"after\n")
    assert lines_of(follower) == [b"after"]
    follower.close()


def _mark(path, size: int | None = None) -> FileMark:
    st = os.stat(path)
    return FileMark.of(st.st_dev, st.st_ino, path.read_bytes()[:size])


@pytest.mark.parametrize("old_survives", [True, False])
def test_a_reused_inode_is_never_resumed_in(tmp_path, old_survives):
    # ext4 gives a deleted file's inode to the next file created: after rotations while stopped,
    # the live log can carry the checkpointed inode. Simulated by marking the checkpoint with
    # the live file's inode and the checkpointed file's content.
    log = tmp_path / "audit.log"
    log.write_bytes(b"old 1\nold 2\n")
    head = log.read_bytes()
    older = [_mark(log)]  # a file the set held before: already read
    rotate(log)
    log.write_bytes(b"middle 1\n")
    rotate(log)
    log.write_bytes(b"new 1, a longer line than the offset\n")
    if not old_survives:
        (tmp_path / "audit.log.2").unlink()
    st = os.stat(log)
    checkpoint = Checkpoint(FileMark.of(st.st_dev, st.st_ino, head), len(b"old 1\n"), str(log), len(head))
    if not old_survives:
        checkpoint.older = older
    said: list[str] = []
    follower = tail.LogFollower(log, checkpoint=checkpoint, say=said.append, poll_interval=0.01)
    expected = [b"middle 1", b"new 1, a longer line than the offset"]
    assert lines_of(follower) == ([b"old 2"] if old_survives else []) + expected
    follower.close()
    if not old_survives:
        assert any("reuses its inode" in m for m in said)
        assert any("6 bytes of it were never read" in m for m in said)


def test_a_checkpointed_file_rotated_away_costs_only_its_unread_rest(tmp_path):
    log = tmp_path / "audit.log"
    log.write_bytes(b"ancient 1\n")
    rotate(log)
    log.write_bytes(b"old 1\nold 2\n")
    checkpoint = Checkpoint(_mark(log), len(b"old 1\n"), str(log), len(b"old 1\nold 2\n"),
                            older=[_mark(tmp_path / "audit.log.1")])
    for text in (b"newer 1\n", b"newer 2\n", b"live 1\n"):
        rotate(log)
        log.write_bytes(text)
    (tmp_path / "audit.log.3").unlink()  # the checkpointed file: rotated past num_logs
    (tmp_path / "audit.log.4").write_bytes(b"ancient 1\n")  # an older file still there: read before
    said: list[str] = []
    follower = tail.LogFollower(log, checkpoint=checkpoint, say=said.append, poll_interval=0.01)
    assert lines_of(follower) == [b"newer 1", b"newer 2", b"live 1"]
    follower.close()
    assert any("6 bytes of it were never read" in m for m in said), said


def test_a_checkpoint_of_an_empty_live_file_reads_what_came_since(tmp_path):
    log = tmp_path / "audit.log"
    log.write_bytes(b"")
    checkpoint = Checkpoint(_mark(log), 0, str(log), 0)
    log.write_bytes(b"first\n")
    rotate(log)
    log.write_bytes(b"second\n")
    follower = tail.LogFollower(log, checkpoint=checkpoint, say=lambda m: None, poll_interval=0.01)
    assert lines_of(follower) == [b"first", b"second"]
    follower.close()


@pytest.mark.parametrize("make", ["fifo", "socket"])
def test_a_fifo_or_socket_is_refused_without_blocking(tmp_path, make):
    path = tmp_path / "audit.log"
    if make == "fifo":
        os.mkfifo(path)
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    with pytest.raises(tail.FollowError, match="follow reads auditd's log file"):
        tail.LogFollower(path, say=lambda m: None)
