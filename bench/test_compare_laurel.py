"""compare_laurel.py: what it counts in a log, and which commands it times.

    .venv/bin/pytest bench/test_compare_laurel.py
"""

from __future__ import annotations

from pathlib import Path

from compare_laurel import build_tools, count_events

LOG = """\
type=SYSCALL msg=audit(1700000000.100:1): arch=c000003e syscall=59 success=yes exit=0 items=2 pid=10 comm="ls"
type=EXECVE msg=audit(1700000000.100:1): argc=1 a0="ls"
type=SYSCALL msg=audit(1700000000.101:2): arch=c000003e syscall=257 success=yes exit=3 items=1 pid=11 comm="cat"
type=USER_LOGIN msg=audit(1700000000.102:3): pid=12 uid=0 auid=1000 ses=4 msg='op=login acct="ann" res=success'
type=PATH msg=audit(1700000000.101:2): item=0 name="/etc/passwd" nametype=NORMAL
type=SYSCALL msg=audit(1700000000.103:4): arch=c000003e syscall=322 success=yes exit=0 items=2 pid=13 comm="sh"
"""


def test_count_events_counts_ids_and_exec_syscalls(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(LOG)
    assert count_events(log) == (4, 2)  # a late PATH is no new event; execve and execveat are execs


def test_every_event_and_exec_only_runs_are_timed(tmp_path: Path) -> None:
    auditproc = tmp_path / "auditproc"
    auditproc.write_text("")
    tools, _ = build_tools(tmp_path / "audit.log", tmp_path, auditproc, tmp_path / "no-rules")
    events = {t.name: t.argv[1:5] for t in tools if t.name.startswith("auditproc events")}
    assert events == {
        "auditproc events --category all -j 1": ["events", "--category", "all", "-j"],
        "auditproc events --category all -j 2": ["events", "--category", "all", "-j"],
        "auditproc events --category process -j 1": ["events", "--category", "process", "-j"],
    }
    assert all(t.argv[5] == t.name[-1] for t in tools if t.name in events)
