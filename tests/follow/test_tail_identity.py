"""LogFollower in-process: files followed by identity, truncation seen even when rewritten past us."""

from __future__ import annotations

import os

from auditproc import tail
from auditproc.checkpoint import Checkpoint


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
    checkpoint = Checkpoint(st.st_dev, st.st_ino, len(b"old 1\n"), str(log))
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
