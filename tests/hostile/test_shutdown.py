"""Batch runs end promptly and quietly, -j 1 to -j 4 alike (issues #10, #12): a closed output pipe, Ctrl-C,
SIGTERM, a worker that dies, a parent that fails. Each case runs the real command in its own process group and
checks that nothing of it is left afterwards."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditproc import offload
from auditproc.cli import EXIT_FAILED, app

from .conftest import exec_event
from .test_rules import _write

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find the processes of a run")

DEADLINE_S = 15.0  # a hang is forever; this only bounds how long a failing test takes
EVENTS = 8000  # about 5 MB of log: far more output than a pipe buffer holds
JOBS = ["1", "2", "3", "4"]
WORKERS = ["2", "3", "4"]
# `python -m auditproc.cli ARGS` on a machine that lets it use 16 cores, so that -j 3 and -j 4 run here too.
SIXTEEN_CORES = ("import os; os.sched_getaffinity = lambda pid: set(range(16)); from auditproc.cli import main; "
                 "main()")


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shutdown") / "audit.log"
    path.write_bytes(b"".join(line + b"\n" for n in range(1, EVENTS + 1) for line in exec_event(n, ms=n)))
    return path


@pytest.fixture(scope="module")
def rule(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rule that fires on every event of ``log``."""
    return _write(tmp_path_factory.mktemp("rules") / "every_ls.toml", 'process where process.name == "ls"')


def _processes() -> Iterator[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every live, non-zombie process."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            state, ppid, pgrp = stat.rpartition(")")[2].split()[:3]
            if state != "Z":
                yield int(entry.name), int(ppid), int(pgrp)


def _wait_until_gone(pgid: int) -> list[int]:
    """Wait (up to the deadline) until no process of group ``pgid`` is left; return those still there."""
    deadline = time.monotonic() + DEADLINE_S
    while (left := [pid for pid, _, pgrp in _processes() if pgrp == pgid]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _workers_of(pid: int, count: int) -> list[int]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        children = [child for child, ppid, _ in _processes() if ppid == pid]
        if len(children) >= count:
            return children
        time.sleep(0.05)
    raise AssertionError("the worker processes did not start")


class Run:
    """``auditproc ARGS`` in a process group of its own, as a shell starts a pipeline."""

    def __init__(self, args: list[str], stdin: Any = None, stdout: Any = subprocess.PIPE) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SIXTEEN_CORES, *args], stdin=stdin, stdout=stdout,
                                     stderr=subprocess.PIPE, start_new_session=True)

    def first_line(self) -> bytes:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.endswith(b"}\n")
        return line

    def close_output(self) -> None:
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def finish(self, drain: bool = False) -> tuple[int, bytes]:
        """Exit status and stderr; output is read to its end when ``drain``, else left unread until the exit."""
        if not drain:
            self.proc.wait(timeout=DEADLINE_S)
        _, err = self.proc.communicate(timeout=DEADLINE_S)  # ends only when no process holds the pipes
        return self.proc.returncode, err

    def kill(self) -> None:
        """Whatever happened, leave nothing running."""
        for pid, _, pgrp in _processes():
            if pgrp == self.proc.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def run() -> Iterator[Callable[..., Run]]:
    """Starts runs; kills whatever is left of them after the test."""
    started: list[Run] = []

    def start(*args: Any, **kwargs: Any) -> Run:
        started.append(Run(*args, **kwargs))
        return started[-1]

    yield start
    for r in started:
        r.kill()


def _assert_nothing_left(r: Run) -> None:
    assert _wait_until_gone(r.proc.pid) == []


@pytest.mark.parametrize("jobs", JOBS)
@pytest.mark.parametrize("command", ["events", "replay"])
def test_a_closed_output_pipe_ends_the_run_quietly(run: Callable[..., Run], log: Path, rule: Path, command: str, jobs: str) -> None:
    extra = ["-q", "--rules", str(rule)] if command == "replay" else []
    r = run([command, "-j", jobs, "--host", "h", *extra, str(log)])
    r.first_line()
    r.close_output()  # as `| head -1` does
    assert r.finish() == (128 + signal.SIGPIPE, b"")
    _assert_nothing_left(r)


@pytest.mark.parametrize("jobs", JOBS)
def test_a_closed_output_pipe_ends_a_run_reading_stdin(run: Callable[..., Run], log: Path, jobs: str) -> None:
    cat = subprocess.Popen(["cat", str(log)], stdout=subprocess.PIPE)
    try:
        r = run(["events", "-j", jobs, "--host", "h", "-"], stdin=cat.stdout)
        assert cat.stdout is not None
        cat.stdout.close()  # only auditproc (and nothing it started) reads the pipe now
        r.first_line()
        r.close_output()
        assert r.finish() == (128 + signal.SIGPIPE, b"")
        _assert_nothing_left(r)
        cat.wait(timeout=DEADLINE_S)  # stdin was not kept open by a leftover process
    finally:
        cat.kill()
        cat.wait()


@pytest.mark.parametrize("jobs", JOBS)
def test_reading_stdin_to_the_end(run: Callable[..., Run], log: Path, jobs: str) -> None:
    with log.open("rb") as stdin:
        r = run(["events", "-j", jobs, "--host", "h", "-"], stdin=stdin.fileno())
        out, err = r.proc.communicate(timeout=DEADLINE_S)
    assert (r.proc.returncode, err, out.count(b"\n")) == (0, b"", EVENTS)
    _assert_nothing_left(r)


@pytest.mark.parametrize("jobs", JOBS)
@pytest.mark.parametrize(("signum", "times", "message"), [
    (signal.SIGINT, 1, b"interrupted"), (signal.SIGINT, 2, b"interrupted"), (signal.SIGTERM, 1, b"terminated"),
])
def test_a_signal_stops_every_process_of_the_run(run: Callable[..., Run], log: Path, jobs: str, signum: int, times: int,
                                                 message: bytes) -> None:
    r = run(["events", "-j", jobs, "--host", "h", str(log)])
    r.first_line()  # running, and now stuck writing: nobody reads the rest
    for _ in range(times):
        if signum == signal.SIGINT:
            os.killpg(r.proc.pid, signum)  # Ctrl-C: the terminal signals the whole group
        else:
            os.kill(r.proc.pid, signum)
    assert r.finish() == (128 + signum, b"auditproc: " + message + b"\n")
    _assert_nothing_left(r)


@pytest.mark.parametrize("jobs", WORKERS)
def test_a_killed_worker_is_reported_in_one_line(run: Callable[..., Run], log: Path, jobs: str) -> None:
    r = run(["events", "-j", jobs, "--host", "h", str(log)])
    r.first_line()
    os.kill(_workers_of(r.proc.pid, int(jobs) - 1)[-1], signal.SIGKILL)  # -j N: N - 1 workers beside the parent
    status, err = r.finish(drain=True)
    assert status == EXIT_FAILED
    assert err.count(b"\n") == 1 and err.startswith(b"auditproc: ") and b"SIGKILL" in err
    _assert_nothing_left(r)


@pytest.mark.parametrize("jobs", WORKERS)
def test_a_killed_parent_leaves_no_worker_behind(run: Callable[..., Run], log: Path, jobs: str) -> None:
    r = run(["events", "-j", jobs, "--host", "h", str(log)])
    r.first_line()
    _workers_of(r.proc.pid, int(jobs) - 1)
    os.kill(r.proc.pid, signal.SIGKILL)  # no clean-up of its own: the worker has to notice
    assert r.finish() == (-signal.SIGKILL, b"")
    _assert_nothing_left(r)


@pytest.mark.parametrize("jobs", JOBS)
def test_a_failing_parent_stops_the_worker(run: Callable[..., Run], log: Path, jobs: str) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "wb") as full:
        r = run(["events", "-j", jobs, "--host", "h", str(log)], stdout=full.fileno())
        status, _ = r.finish()
    assert status != 0
    _assert_nothing_left(r)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="patches a forked worker")
def test_an_error_in_the_worker_is_reported_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(doc: dict) -> bytes:
        raise ValueError("no JSON today")

    monkeypatch.setattr(offload, "dumps_line", broken)
    log = tmp_path / "audit.log"
    log.write_bytes(b"".join(line + b"\n" for line in exec_event(1)))
    result = CliRunner().invoke(app, ["events", "-j", "2", "--host", "h", str(log)])
    assert result.exit_code == EXIT_FAILED
    assert result.stderr == "auditproc: worker process failed: ValueError: no JSON today\n"
