"""`auditproc follow` under faults: crash and resume, output that fails, a state that is not its own.

Each scenario is what an operator or an attacker did to a running follower; each must end with
nothing lost, every output line whole, and a message that says what happened."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from auditproc.sinks import OutputBlocked, SinkError
from tests.follow.conftest import ENV, FOLLOW_ARGS, SRC, AuditdWriter, Follower, wait_for


def _lines(path: Path) -> list[dict]:
    data = path.read_bytes() if path.exists() else b""
    assert not data or data.endswith(b"\n"), "a torn last line"
    return [orjson.loads(line) for line in data.splitlines()]


def _by_pid(docs: list[dict]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for doc in docs:
        if doc["event"]["kind"] == "event":
            out.setdefault(doc["process"]["pid"], []).append(doc)
    return out


def test_a_repeat_after_kill9_is_the_same_document(tmp_path):
    """The parent learned before the checkpoint is still known when the child is emitted again."""
    log = tmp_path / "audit.log"
    writer = AuditdWriter(log, first_pid=3000)  # the writer's events all have ppid 3000
    follower = Follower(tmp_path, log, tmp_path / "state" / "state.json")
    try:
        writer.write(b"")
        follower.start("--events")
        writer.write(writer.event("ls")[0])  # pid 3000: the parent of what follows
        wait_for(lambda: 3000 in _by_pid(follower.docs()), what="the parent's document")
        before = follower.state.stat().st_mtime_ns
        wait_for(lambda: follower.state.stat().st_mtime_ns != before, what="a checkpoint after it")
        saved = follower.state.read_bytes()
        child, pid = writer.event("hping3")
        writer.write(child)
        wait_for(lambda: pid in _by_pid(follower.docs()), what="the child's document")
        follower.kill9()
        follower.state.write_bytes(saved)  # as if killed before any checkpoint after the child
        follower.start("--events")
        wait_for(lambda: len(_by_pid(follower.docs())[pid]) == 2, what="the child's repeat")
        first, repeat = _by_pid(follower.docs())[pid]
        assert first["process"]["parent"]["name"] == "ls"
        first.get("event", {}).pop("created", None)
        repeat.get("event", {}).pop("created", None)
        assert repeat == first
    finally:
        follower.cleanup()
        writer.close()


def test_a_second_follower_on_the_same_state_exits_2_naming_the_first(writer, follower, tmp_path):
    writer.write(b"")
    follower.start()
    second = subprocess.run(
        [sys.executable, "-m", "auditproc.cli", "follow", str(writer.path), "--state", str(follower.state),
         *FOLLOW_ARGS], cwd=SRC, env=ENV, capture_output=True, timeout=30,
    )
    assert second.returncode == 2
    assert f"another auditproc follow (pid {follower.proc.pid})" in second.stderr.decode()
    assert b"Traceback" not in second.stderr
    assert follower.stop() == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="the ownership checks apply to root")
def test_as_root_a_state_others_can_write_is_refused(writer, tmp_path):
    state_dir = tmp_path / "planted"
    state_dir.mkdir(mode=0o777)
    state_dir.chmod(0o777)
    result = subprocess.run(
        [sys.executable, "-m", "auditproc.cli", "follow", str(writer.path), "--state", str(state_dir / "s.json"),
         *FOLLOW_ARGS], cwd=SRC, env=ENV, capture_output=True, timeout=30,
    )
    assert result.returncode == 2
    assert "writable by group or others: chmod go-w it" in result.stderr.decode()


def test_a_state_directory_that_cannot_be_created_is_one_line(writer, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-m", "auditproc.cli", "follow", str(writer.path), "--state", str(blocker / "s.json"),
         *FOLLOW_ARGS], cwd=SRC, env=ENV, capture_output=True, timeout=30,
    )
    err = result.stderr.decode()
    assert result.returncode == 2 and "cannot use this state directory" in err and "Traceback" not in err


def test_an_output_in_a_missing_directory_is_one_line(writer, tmp_path):
    out = tmp_path / "nowhere" / "alerts.ndjson"
    result = subprocess.run(
        [sys.executable, "-m", "auditproc.cli", "follow", str(writer.path), "--state", str(tmp_path / "s.json"),
         "--output", str(out), *FOLLOW_ARGS], cwd=SRC, env=ENV, capture_output=True, timeout=30,
    )
    err = result.stderr.decode()
    assert result.returncode == 2 and str(out.parent) in err and "Traceback" not in err


def test_consumer_gone_checkpoints_what_was_delivered_and_exits_3(writer, follower, tmp_path):
    """`follow | head -1`: the next start goes on after the last line the reader got."""
    writer.write(b"")
    read_fd, write_fd = os.pipe()
    follower.start("--events", stdout=write_fd)
    os.close(write_fd)
    pids: list[int] = []
    data, first = writer.event("ls")
    writer.write(data)
    with os.fdopen(read_fd, "rb") as reader:
        got = reader.readline()
    assert orjson.loads(got)["process"]["pid"] == first
    for _ in range(5):  # the pipe is closed now: the next write fails with EPIPE
        data, pid = writer.event("ls")
        pids.append(pid)
        writer.write(data)
    assert follower.proc.wait(10) == 3
    assert "the reader went away" in follower.stderr()
    follower.start("--events")
    wait_for(lambda: set(pids) <= set(_by_pid(follower.docs())), what="the undelivered documents")
    assert first not in _by_pid(follower.docs())  # delivered before: not again
    assert follower.stop() == 0


def test_sigterm_ends_a_follower_blocked_on_its_output(writer, follower):
    writer.write(b"")
    read_fd, write_fd = os.pipe()
    try:
        follower.start("--events", stdout=write_fd)
        os.close(write_fd)
        pids = []
        for _ in range(4):  # ~1.5 kB a document: a few pipe buffers (64 kB)
            for _ in range(50):
                data, pid = writer.event("ls")
                pids.append(pid)
                writer.write(data)
            time.sleep(0.2)
        time.sleep(0.5)  # blocked now: nobody reads the pipe
        started = time.monotonic()
        assert follower.stop(signal.SIGTERM, timeout=10) == 0
        assert time.monotonic() - started < 5
        received = b""
        os.set_blocking(read_fd, False)
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(read_fd, 1 << 16):
                received += chunk
    finally:
        os.close(read_fd)
    delivered = {orjson.loads(line)["process"]["pid"] for line in received.splitlines() if line.endswith(b"}")}
    assert delivered and set(pids) - delivered, "the test needs some output delivered and some stuck"
    follower.start("--events")
    wait_for(lambda: set(pids) - delivered <= set(_by_pid(follower.docs())), what="the rest after the restart")
    assert follower.stop() == 0


def _output_lines_of(paths: list[Path]) -> list[dict]:
    return [doc for path in paths for doc in _lines(path)]


@pytest.mark.parametrize("with_sighup", [False, True])
def test_a_renamed_output_file_is_reopened(writer, follower, tmp_path, with_sighup):
    out = tmp_path / "alerts.ndjson"
    writer.write(b"")
    follower.start("--events", "--output", str(out))
    assert out.stat().st_mode & 0o777 == 0o600
    first = [writer.event("ls") for _ in range(3)]
    writer.write(b"".join(d for d, _ in first))
    wait_for(lambda: len(_lines(out)) == 3, what="the first documents")
    out.rename(tmp_path / "alerts.ndjson.1")  # logrotate without copytruncate
    if with_sighup:
        follower.send(signal.SIGHUP)
    later = [writer.event("ls") for _ in range(3)]
    writer.write(b"".join(d for d, _ in later))
    wait_for(lambda: out.exists() and len(_lines(out)) == 3, what="the later documents in a new file")
    assert follower.stop() == 0
    assert [d["process"]["pid"] for d in _lines(tmp_path / "alerts.ndjson.1")] == [p for _, p in first]
    assert [d["process"]["pid"] for d in _lines(out)] == [p for _, p in later]
    assert out.stat().st_mode & 0o777 == 0o600


def test_a_torn_line_left_by_a_crash_is_replaced(writer, follower, tmp_path):
    out = tmp_path / "alerts.ndjson"
    out.write_bytes(b'{"whole": 1}\n{"torn": ')
    writer.write(b"")
    follower.start("--events", "--output", str(out))
    data, pid = writer.event("ls")
    writer.write(data)
    wait_for(lambda: len(_lines(out)) == 2, what="the document after the repaired line")
    assert _lines(out)[0] == {"whole": 1} and _lines(out)[1]["process"]["pid"] == pid
    assert follower.stop() == 0


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if shutil.which("mount") is None or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True
    ).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_holds_the_output_and_retries_without_losing_a_line(writer, follower, tiny_tmpfs):
    out = tiny_tmpfs / "alerts.ndjson"
    filler = tiny_tmpfs / "filler"
    writer.write(b"")
    follower.start("--events", "--output", str(out))
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"x" * 4096)
    os.close(fd)
    pids = []
    for _ in range(20):
        data, pid = writer.event("ls")
        pids.append(pid)
        writer.write(data)
    follower.wait_stderr("No space left on device")
    assert len(_lines(out)) < len(pids)  # whole lines only, and not all of them
    filler.unlink()
    wait_for(lambda: [d["process"]["pid"] for d in _lines(out)] == pids, what="every document once, in order")
    follower.wait_stderr("output works again")
    assert follower.stop() == 0


def test_disk_full_with_exit_on_output_error_exits_3_and_resumes_after_it(writer, follower, tmp_path):
    writer.write(b"")
    follower.start("--events", "--output", "/dev/full", "--exit-on-output-error")
    data, pid = writer.event("ls")
    writer.write(data)
    assert follower.proc.wait(10) == 3
    assert "No space left on device" in follower.stderr()
    out = tmp_path / "after.ndjson"
    follower.start("--events", "--output", str(out))
    wait_for(lambda: [d["process"]["pid"] for d in _lines(out)] == [pid], what="the document after the restart")
    assert follower.stop() == 0


def test_kill9_while_the_log_rotates_loses_nothing_and_repeats_are_identical(tmp_path):
    """A short soak: events written steadily, auditd-style rotation, kill -9 twice (no file is
    rotated past num_logs before a restart could read it: that loss is said, tested above)."""
    log = tmp_path / "audit.log"
    writer = AuditdWriter(log)
    follower = Follower(tmp_path, log, tmp_path / "state" / "state.json")
    written: list[int] = []
    try:
        writer.write(b"")
        follower.start("--events")
        for round_ in range(6):
            for _ in range(10):
                data, pid = writer.event("ls")
                written.append(pid)
                writer.write_split(data, pause=0.005)
            writer.rotate_rename(generations=8)
            if round_ in (1, 3):
                follower.kill9()
                time.sleep(0.1)
                follower.start("--events", wait_ready=False)
                follower.wait_stderr("following ")
        try:
            wait_for(lambda: set(written) <= set(_by_pid(follower.docs())), what="every event at least once")
        except AssertionError:
            missing = sorted(set(written) - set(_by_pid(follower.docs())))
            raise AssertionError(f"missing {missing} of {written[0]}…{written[-1]}\n{follower.stderr(True)}") from None
        assert follower.stop() == 0
    finally:
        follower.cleanup()
        writer.close()
    for copies in _by_pid(follower.docs()).values():
        for doc in copies:
            doc["event"].pop("created", None)
        assert all(doc == copies[0] for doc in copies)
    assert set(_by_pid(follower.docs())) == set(written)


class _FlakySink:
    """Takes lines; its first ``failures`` flushes fail as a full disk does; remembers the most it held."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures, self.queue, self.out, self.most_held = failures, b"", b"", 0

    @property
    def pending(self) -> int:
        return len(self.queue)

    def write(self, data: bytes) -> None:
        self.queue += data
        self.most_held = max(self.most_held, len(self.queue))

    def flush(self, should_stop=None) -> None:
        if self.failures:
            self.failures -= 1
            raise SinkError("flaky: cannot write: No space left on device", retryable=True)
        self.out, self.queue = self.out + self.queue, b""


def _delivery(sink, stop: bool = False):
    import threading
    from collections import deque
    from types import SimpleNamespace

    from auditproc.follow import Controls, FollowSettings, _Delivery
    from auditproc.pipeline import Reporter

    controls = Controls(threading.Event(), threading.Event())
    if stop:
        controls.stop.set()
    pipe = SimpleNamespace(emitted=deque([((1, 0), b"a"), ((1, 9), b"b")]))
    return _Delivery(sink, pipe, FollowSettings(Path("unused")), controls, Reporter(io.StringIO())), pipe


def test_a_failing_output_is_retried_and_counted_delivered_only_once_flushed(monkeypatch):
    monkeypatch.setattr("auditproc.follow.OUTPUT_RETRY_S", (0.001, 0.002))
    monkeypatch.setattr("auditproc.follow.SEND_CHUNK_BYTES", 100)
    lines = b"".join(b'{"n":%d,"pad":"%s"}\n' % (n, b"x" * 40) for n in range(50))
    sink = _FlakySink(failures=3)
    out, pipe = _delivery(sink)
    out.send(lines)
    assert sink.out == lines  # every line once, in order, after three failures
    assert sink.most_held < 100 + 60  # queued a piece at a time: a bounded sink never has to drop
    assert [key for _, key in out.delivered] == [b"a", b"b"] and not pipe.emitted


def test_a_stop_while_the_output_fails_delivers_nothing_and_says_so():
    out, pipe = _delivery(_FlakySink(failures=10**6), stop=True)
    with pytest.raises(OutputBlocked):
        out.send(b'{"n":1}\n')
    assert not out.delivered and len(pipe.emitted) == 2  # the checkpoint stays behind them
