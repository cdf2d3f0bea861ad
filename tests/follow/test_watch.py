"""The follower's wait for changes: inotify read by the follower itself, no watcher thread."""

from __future__ import annotations

import threading
import time

import pytest

from auditproc import tail
from auditproc.watch import DirectoryWatch

DEADLINE_S = 5.0  # a wait for a change ends as soon as it is seen
QUIET_S = 0.2  # how long a change that does not count is given to (wrongly) end a wait


def _append(path) -> None:
    with path.open("ab") as f:
        f.write(b"x\n")


@pytest.mark.parametrize(("change", "counts"), [
    (lambda d: _append(d / "audit.log"), True),
    (lambda d: (d / "audit.log").rename(d / "audit.log.1"), True),
    (lambda d: (d / "audit.log").unlink(), True),
    (lambda d: _append(d / "other.log"), False),
], ids=["append", "rotate", "delete", "another file"])
def test_a_change_to_the_log_or_its_rotated_files_ends_a_wait(tmp_path, change, counts):
    (tmp_path / "audit.log").write_bytes(b"")
    watch = DirectoryWatch()
    try:
        watch.watch(str(tmp_path), "audit.log")
        change(tmp_path)
        assert watch.wait(DEADLINE_S if counts else QUIET_S) is counts
    finally:
        watch.close()


def test_wake_ends_a_wait_at_once(tmp_path):
    watch = DirectoryWatch()
    try:
        watch.watch(str(tmp_path), "audit.log")
        threading.Timer(0.05, watch.wake).start()
        started = time.monotonic()
        assert watch.wait(DEADLINE_S) is False  # woken, nothing changed
        assert time.monotonic() - started < DEADLINE_S / 2
    finally:
        watch.close()


def test_writes_made_while_the_follower_works_wake_it_once(tmp_path):
    """The kernel merges the IN_MODIFY of writes nobody has read yet: one wake-up, then quiet."""
    log = tmp_path / "audit.log"
    log.write_bytes(b"")
    watch = DirectoryWatch()
    try:
        watch.watch(str(tmp_path), "audit.log")
        for _ in range(100):
            _append(log)
        assert watch.wait(DEADLINE_S) is True
        assert watch.wait(QUIET_S) is False
    finally:
        watch.close()


def test_following_starts_no_thread(tmp_path):
    """A watcher thread that handled every write cost a third of the follower's CPU (bench/README.md)."""
    log = tmp_path / "audit.log"
    log.write_bytes(b"")
    before = threading.active_count()
    follower = tail.LogFollower(log, say=lambda m: None)
    try:
        follower.start_watching()
        assert threading.active_count() == before
        _append(log)
        assert [line for line, _ in follower.read(DEADLINE_S)] == [b"x"]
    finally:
        follower.close()
