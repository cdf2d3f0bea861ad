"""exit_group: the process table forgets the pid, whether or not its document is built (--category).

With every kind selected the event also becomes Elastic's exit_group document (action ``end``), built
with its parent before the pid is forgotten; with the process kind alone it builds nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditproc.cli import app


def syscall_line(serial: int, seconds: int, pid: int, ppid: int, name: str, syscall: int, key: str) -> str:
    hdr = f"msg=audit(17333900{seconds:02d}.000:{serial}):"
    return (
        f"type=SYSCALL {hdr} arch=c000003e syscall={syscall} success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=0 "
        f"ppid={ppid} pid={pid} auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 "
        f'fsgid=1000 tty=pts0 ses=3 comm="{name}" exe="/usr/bin/{name}" key={key}'
    )


def exec_lines(serial: int, seconds: int, pid: int, ppid: int, name: str) -> list[str]:
    hdr = f"msg=audit(17333900{seconds:02d}.000:{serial}):"
    return [
        syscall_line(serial, seconds, pid, ppid, name, 59, "(null)"),
        f'type=EXECVE {hdr} argc=1 a0="{name}"',
        f"type=PROCTITLE {hdr} proctitle={name.encode().hex().upper()}",
    ]


def exit_lines(serial: int, seconds: int, pid: int, ppid: int, name: str) -> list[str]:
    return [syscall_line(serial, seconds, pid, ppid, name, 231, '"exits"')]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    lines = (
        exec_lines(1, 0, 700, 1, "bash")  # bash, 700
        + exec_lines(2, 1, 701, 700, "sleep")  # its child: parent bash
        + exit_lines(3, 2, 700, 1, "bash")  # bash ends
        + exec_lines(4, 3, 702, 700, "orphan")  # a child of the gone 700: no parent to lend
    )
    path = tmp_path / "audit.log"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize(("category", "exit_documents"), [("all", 1), ("process", 0)])
def test_an_exited_pid_is_forgotten_whatever_is_built(log: Path, jobs: str, category: str, exit_documents: int) -> None:
    result = CliRunner().invoke(app, ["events", "--host", "h", "-j", jobs, "--category", category, str(log)])
    assert result.exit_code == 0, result.output
    docs = {d["event"]["sequence"]: d for d in map(json.loads, result.stdout.splitlines())}
    assert docs[2]["process"]["parent"]["name"] == "bash"
    assert "name" not in docs[4]["process"].get("parent", {})
    assert sum(d["event"].get("action") == "end" for d in docs.values()) == exit_documents
    if exit_documents:
        ended = docs[3]
        assert (ended["process"]["pid"], ended["event"]["type"], ended["auditd"]["summary"]["how"]) == (
            700, ["end"], "exit_group")
