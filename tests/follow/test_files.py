"""`auditproc follow` against a real log: appends, rotations, truncation, deletion, absence, access."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import orjson
import pytest

from auditproc import tail
from auditproc.sources import user_name
from tests.follow.conftest import ENV, FOLLOW_ARGS, HPING_RULE, SRC, wait_for

MIX = ["hping3", "ls", "nping", "ls", "ls", "hping3"]


def test_steady_appends_with_partial_lines(writer, follower):
    writer.write(b"")  # the log exists, empty
    follower.start()
    for _ in range(5):
        writer.burst(MIX)
    # A cut inside the EXECVE line, held long enough for the follower to see the half line
    # (but less than the idle flush, which would complete the event without the rest).
    data, pid = writer.event("hping3", ["--data", "120"])
    writer.write_split(data, cut=data.index(b'a2="-p"') + 3, pause=0.06)
    follower.wait_alerts(writer.expected)
    follower.assert_exactly(writer.expected)
    for alert in follower.alerts():  # no line was consumed before its newline arrived
        assert alert["process"]["args"] == writer.args_of[alert["process"]["pid"]]


def test_rotate_rename_several_generations_while_writing(writer, follower):
    writer.write(b"")
    follower.start()
    for _ in range(4):
        writer.burst(MIX, pause=0.01)
        writer.write(writer.events(["hping3", "ls"]))
        writer.rotate_rename(generations=3)  # no pause: the follower may be mid-file
        writer.burst(["nping", "ls"], pause=0.01)
    follower.wait_alerts(writer.expected)
    follower.assert_exactly(writer.expected)
    assert writer.rotated(3).exists() and not writer.rotated(4).exists()


def test_two_rotations_while_the_follower_is_behind(writer, follower):
    """A follower that is slow (here: stopped) when auditd rotates twice must still read the
    middle file, which is then audit.log.1, between the old one (.2) and the new audit.log."""
    writer.write(b"")
    follower.start()
    writer.write(writer.events(["hping3"]))
    follower.wait_alerts(writer.expected)
    follower.send(signal.SIGSTOP)
    try:
        writer.write(writer.events(["hping3", "ls"]))
        writer.rotate_rename(generations=5)
        writer.write(writer.events(["nping", "hping3"]))  # only ever in the middle file
        writer.rotate_rename(generations=5)
        writer.write(writer.events(["hping3"]))
    finally:
        follower.send(signal.SIGCONT)
    follower.wait_alerts(writer.expected)
    follower.assert_exactly(writer.expected)



def test_copytruncate(writer, follower):
    writer.write(b"")
    follower.start()
    writer.burst(MIX * 3)
    follower.wait_alerts(writer.expected)
    writer.copytruncate()
    follower.wait_stderr("truncated")
    writer.burst(["nping", "ls", "hping3"])  # fewer bytes than before the truncation
    follower.wait_alerts(writer.expected)
    follower.assert_exactly(writer.expected)


def test_copytruncate_while_writing(writer, follower):
    """The writer does not wait for the follower to notice the truncation."""
    writer.write(b"")
    follower.start()
    writer.write(writer.events(MIX * 4))
    follower.wait_alerts(writer.expected)
    writer.copytruncate()
    writer.write(writer.events(["hping3"]))
    follower.wait_alerts(writer.expected)
    follower.assert_exactly(writer.expected)


def test_delete_and_recreate(writer, follower):
    writer.write(b"")
    follower.start()
    writer.burst(MIX)
    writer.delete_recreate()
    writer.burst(["hping3", "nping"])
    follower.wait_alerts(writer.expected)
    writer.delete_recreate()
    time.sleep(0.15)  # the follower sees the log missing for a while
    writer.burst(MIX)
    follower.wait_alerts(writer.expected)
    follower.assert_exactly(writer.expected)


def test_absent_at_start_then_created(writer, follower, log):
    assert not log.exists()
    follower.start(wait_ready=False)
    follower.wait_stderr("waiting for")
    time.sleep(0.2)  # several polls while absent: still one message
    # auditd creates the file and writes at once: everything in a file that appeared after
    # the start is new, so it must all be read (not skipped as "before the end").
    writer.write(writer.events(["hping3", "ls", "nping"]))
    follower.wait_alerts(writer.expected)
    writer.burst(MIX)
    follower.wait_alerts(writer.expected)
    follower.assert_exactly(writer.expected)
    assert follower.stderr().count("waiting for") == 1
    assert str(log) in follower.stderr()



def test_permission_denied_names_file_user_and_fix(tmp_path, monkeypatch):
    """auditd's log is 0600 root (0640 with log_group). As root no mode denies access, and the
    interpreter lives under /root, so another user cannot run it: make open() fail instead."""
    log = tmp_path / "audit.log"
    log.write_bytes(b"")
    real_open = os.open

    def denied(path, flags, *args, **kwargs):
        if os.fspath(path) == str(log):
            raise PermissionError(13, "Permission denied", str(log))
        return real_open(path, flags, *args, **kwargs)

    if os.geteuid() == 0:
        monkeypatch.setattr(tail.os, "open", denied)
    else:
        log.chmod(0)
    said: list[str] = []
    with pytest.raises(tail.FollowError) as info:  # the follower opens the log as it starts
        tail.LogFollower(log, say=said.append, poll_interval=0.05)
    msg = str(info.value)
    assert str(log) in msg and "permission denied" in msg
    assert f"user {user_name()}" in msg
    assert "run as root" in msg and "log_group" in msg  # says what to do


_DENY_AND_RUN = """
import os, sys
real_open, denied = os.open, sys.argv.pop(1)
def fake_open(path, flags, *args, **kwargs):
    if os.fspath(path) == denied:
        raise PermissionError(13, "Permission denied", denied)
    return real_open(path, flags, *args, **kwargs)
os.open = fake_open  # root reads any file: deny this one as a 0600 file denies other users
from auditproc.cli import main
sys.argv[0] = "auditproc"
main()
"""


def test_permission_denied_exits_1_with_the_message(tmp_path):
    """The command turns it into one line on stderr and exit status 1, no traceback."""
    log = tmp_path / "audit.log"
    log.write_bytes(b"")
    log.chmod(0)
    cmd = [sys.executable, "-c", _DENY_AND_RUN, str(log), "follow", str(log), "--state",
           str(tmp_path / "s.json"), *FOLLOW_ARGS]
    proc = subprocess.run(cmd, cwd=SRC, env=ENV, capture_output=True, timeout=20)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert f"{log}: permission denied for user {user_name()}" in err and "Traceback" not in err, err


def test_slow_consumer_loses_nothing(writer, follower):
    """stdout is a pipe nobody reads for a while: the follower blocks, then catches up."""
    writer.write(b"")
    read_fd, write_fd = os.pipe()
    follower.start(stdout=write_fd)
    os.close(write_fd)
    received = bytearray()
    try:
        # ~3 kB per alert: 90 alerts are several pipe buffers (64 kB) full. Fewer than the
        # rules' max_signals (100 per 5 min), past which alerts are summarised, not dropped silently.
        for _ in range(3):
            writer.write(writer.events(["hping3"] * 30 + ["ls"] * 10))
        time.sleep(1.0)  # the follower is now blocked on a full pipe
        reader = threading.Thread(target=_drain_into, args=(read_fd, received), daemon=True)
        reader.start()
        want = {pid for pid, _ in writer.expected}

        def all_read() -> bool:
            pids = {orjson.loads(line)["process"]["pid"] for line in bytes(received).rpartition(b"\n")[0].splitlines()}
            return want <= pids
        wait_for(all_read, what="every alert through the pipe")
        time.sleep(0.3)
        follower.stop()
        reader.join(5)
    finally:
        os.close(read_fd)
    keys = [(d["process"]["pid"], d["rule"]["id"]) for d in map(orjson.loads, bytes(received).splitlines())]
    assert sorted(keys) == sorted(writer.expected)
    assert all(rule == HPING_RULE for _, rule in keys)


def _drain_into(fd: int, buf: bytearray) -> None:
    while chunk := os.read(fd, 65536):
        buf += chunk


def test_waiting_follower_stops_cleanly(follower):
    follower.start(wait_ready=False)
    follower.wait_stderr("waiting for")
    assert follower.stop() == 0
