"""Helpers for the follow integration tests: an auditd-like writer and a follower subprocess.

Waits poll with deadlines; nothing sleeps longer than a fraction of a second."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The follower runs from this tree (cwd and PYTHONPATH); AUDITPROC_SRC points it at another
# checkout, e.g. a clean `git archive` when the shared working tree is mid-change.
SRC = Path(os.environ.get("AUDITPROC_SRC") or REPO)
ENV = {**os.environ, "PYTHONPATH": str(SRC)}
HPING_RULE = "90169566-2260-4824-b8e4-8615c3b4ed52"
NPING_RULE = "0d69150b-96f8-467c-a86d-a67a3378ce77"
RULE_OF = {"hping3": HPING_RULE, "nping": NPING_RULE}  # ls: no rule
DEADLINE_S = 8.0  # generous for a loaded 2-core CI box; waits end as soon as the condition holds
FOLLOW_ARGS = ["--poll-interval", "0.05", "--idle-flush", "0.1", "--checkpoint-interval", "0.1", "--host", "web-01"]

_PATHS = {"hping3": "/usr/sbin/hping3", "nping": "/usr/bin/nping", "ls": "/usr/bin/ls"}
_ARGS = {
    "hping3": ["hping3", "-S", "-p", "80", "-c", "3", "10.0.0.5"],
    "nping": ["nping", "--tcp", "-p", "22", "10.0.0.0/24"],
    "ls": ["ls", "-la", "/tmp"],
}


def wait_for(cond: Callable[[], object], timeout: float = DEADLINE_S, what: str = "condition") -> object:
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class AuditdWriter:
    """Appends exec events to a log the way auditd does, and rotates it the ways it gets rotated."""

    def __init__(self, path: Path, first_pid: int = 20000) -> None:
        self.path = path
        self.serial = 5000
        self.next_pid = first_pid
        self.expected: list[tuple[int, str]] = []  # (pid, rule id) of every alerting event written
        self.args_of: dict[int, list[str]] = {}
        self._fd: int | None = None

    # --- events -------------------------------------------------------------------------

    def event(self, name: str, extra: list[str] | None = None) -> tuple[bytes, int]:
        """One exec event (SYSCALL, EXECVE, CWD, PATH, PROCTITLE) stamped now; its pid."""
        self.serial += 1
        pid, self.next_pid = self.next_pid, self.next_pid + 1
        now = time.time()
        hdr = f"msg=audit({int(now)}.{int(now * 1000) % 1000:03d}:{self.serial}):"
        args = _ARGS[name] + (extra or [])
        exe = _PATHS[name]
        execve = " ".join(f'a{i}="{a}"' for i, a in enumerate(args))
        title = "00".join(a.encode().hex().upper() for a in args)
        lines = [
            f"type=SYSCALL {hdr} arch=c000003e syscall=59 success=yes exit=0 a0=55f1c2a3e0b0 a1=55f1c2a41c80 "
            f"a2=55f1c2a3f900 a3=8 items=2 ppid=3000 pid={pid} auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 "
            f'egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="{name}" exe="{exe}" subj=unconfined key="exec"'
            '\x1dARCH=x86_64 SYSCALL=execve AUID="alice" UID="root" GID="root" EUID="root" SUID="root" '
            'FSUID="root" EGID="root" SGID="root" FSGID="root"',
            f"type=EXECVE {hdr} argc={len(args)} {execve}",
            f'type=CWD {hdr} cwd="/root"',
            f'type=PATH {hdr} item=0 name="{exe}" inode=1837 dev=08:01 mode=0100755 ouid=0 ogid=0 '
            "rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
            f"type=PROCTITLE {hdr} proctitle={title}",
        ]
        if name in RULE_OF:
            self.expected.append((pid, RULE_OF[name]))
            self.args_of[pid] = args
        return ("\n".join(lines) + "\n").encode(), pid

    def events(self, names: list[str]) -> bytes:
        return b"".join(self.event(n)[0] for n in names)

    # --- writing ------------------------------------------------------------------------

    def _file(self) -> int:
        if self._fd is None:
            # auditd creates its log 0600; O_APPEND like its fopen("a")
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd

    def write(self, data: bytes) -> None:
        os.write(self._file(), data)

    def write_split(self, data: bytes, cut: int | None = None, pause: float = 0.03) -> None:
        """Write in two pieces with a pause between, the first ending inside a line (as a
        buffered auditd flush can): the follower must hold the half line back."""
        if cut is None:
            cut = len(data) // 2
            while data[cut - 1:cut] == b"\n":  # make sure the cut is inside a line
                cut += 1
        self.write(data[:cut])
        time.sleep(pause)
        self.write(data[cut:])

    def burst(self, names: list[str], pause: float = 0.03) -> None:
        """Events written as auditd's incremental flushes do: in chunks that end mid-line."""
        data = self.events(names)
        self.write_split(data, pause=pause)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # --- rotation -----------------------------------------------------------------------

    def rotated(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")

    def rotate_rename(self, generations: int = 4) -> None:
        """auditd's rotation keeping ``generations`` old files: make read-only, close, shift
        .(n-1)→.n down to .1→.2 (overwriting the oldest), audit.log→.1, create a new audit.log."""
        if self._fd is not None:
            os.fchmod(self._fd, 0o400)
        self.close()
        for n in range(generations, 1, -1):
            if self.rotated(n - 1).exists():
                os.rename(self.rotated(n - 1), self.rotated(n))
        os.rename(self.path, self.rotated(1))
        self._file()

    def copytruncate(self) -> None:
        """logrotate's copytruncate: copy to .1, then truncate the live file in place (same inode)."""
        self.rotated(1).write_bytes(self.path.read_bytes())
        os.truncate(self.path, 0)

    def delete_recreate(self) -> None:
        self.close()
        os.unlink(self.path)
        self._file()


class Follower:
    """``auditproc follow`` as a subprocess; every run appends to its own output file."""

    def __init__(self, workdir: Path, log: Path, state: Path) -> None:
        self.workdir, self.log, self.state = workdir, log, state
        self.proc: subprocess.Popen | None = None
        self.outputs: list[Path] = []
        self.err = workdir / "stderr.txt"
        self._err_start = 0

    def start(self, *extra: str, wait_ready: bool = True, stdout: int | None = None, **popen: object) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        out = self.workdir / f"out-{len(self.outputs)}.ndjson"
        self.outputs.append(out)
        self._err_start = self.err.stat().st_size if self.err.exists() else 0
        cmd = [sys.executable, "-m", "auditproc.cli", "follow", str(self.log), "--state", str(self.state),
               *FOLLOW_ARGS, *extra]
        with open(out, "wb") as fout, open(self.err, "ab") as ferr:
            self.proc = subprocess.Popen(cmd, stdout=fout if stdout is None else stdout, stderr=ferr,
                                         cwd=SRC, env=ENV, **popen)  # type: ignore[call-overload]
        if wait_ready:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Started and reading: resuming from a checkpoint, or holding the file open (its
        position at the end has been taken) once the first checkpoint is written."""
        had_state = self.state.exists()
        mtime = self.state.stat().st_mtime_ns if had_state else 0
        self.wait_stderr("following ")
        if not had_state:
            wait_for(lambda: self.state.exists() and self.state.stat().st_mtime_ns != mtime, what="first checkpoint")

    def stderr(self, all_runs: bool = False) -> str:
        if not self.err.exists():
            return ""
        data = self.err.read_bytes()
        return data.decode(errors="replace") if all_runs else data[self._err_start:].decode(errors="replace")

    def wait_stderr(self, text: str, timeout: float = DEADLINE_S) -> None:
        def seen() -> bool:
            if self.proc is not None and self.proc.poll() is not None and text not in self.stderr():
                raise AssertionError(f"follower exited ({self.proc.returncode}) without saying {text!r}:\n"
                                     + self.stderr())
            return text in self.stderr()
        wait_for(seen, timeout, f"{text!r} on stderr; got:\n{self.stderr()}")

    def docs(self) -> list[dict]:
        docs = []
        for out in self.outputs:
            if out.exists():
                # the follower may be mid-write: only lines that have their newline
                for line in out.read_bytes().rpartition(b"\n")[0].splitlines():
                    docs.append(json.loads(line))
        return docs

    def alerts(self) -> list[dict]:
        return [d for d in self.docs() if d.get("event", {}).get("kind") == "alert"]

    def alert_keys(self) -> Counter:
        return Counter((a["process"]["pid"], a["rule"]["id"]) for a in self.alerts())

    def wait_alerts(self, keys: list[tuple[int, str]], timeout: float = DEADLINE_S) -> None:
        """Until every key has an alert; then a short quiet period to catch extra ones."""
        want = set(keys)
        wait_for(lambda: want <= set(self.alert_keys()), timeout,
                 f"alerts for {sorted(want - set(self.alert_keys()))}; stderr:\n{self.stderr(True)}")
        time.sleep(0.3)  # > idle flush + poll: anything spurious would have arrived

    def assert_exactly(self, expected: list[tuple[int, str]]) -> None:
        got = self.alert_keys()
        missing = set(expected) - set(got)
        extra = set(got) - set(expected)
        repeated = {k: n for k, n in got.items() if n > 1}
        assert not missing and not extra and not repeated, (
            f"missing {sorted(missing)}, unexpected {sorted(extra)}, repeated {repeated}\n{self.stderr(True)}")

    def send(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = DEADLINE_S) -> int:
        assert self.proc is not None
        self.proc.send_signal(signum)
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(DEADLINE_S)

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with_cont = getattr(signal, "SIGCONT", None)
            if with_cont is not None:
                self.proc.send_signal(with_cont)  # a test may have left it stopped
            self.proc.kill()
            self.proc.wait(DEADLINE_S)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "audit.log"


@pytest.fixture
def writer(log: Path):
    w = AuditdWriter(log)
    yield w
    w.close()


@pytest.fixture
def follower(tmp_path: Path, log: Path):
    f = Follower(tmp_path, log, tmp_path / "state" / "state.json")
    yield f
    f.cleanup()
