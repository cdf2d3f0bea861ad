"""Enrich stage and helpers: process table, user names, time expressions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from auditproc.identity import UserDb
from auditproc.proctree import ProcessTable
from auditproc.timeexpr import iso_ms, parse_time


def exec_doc(pid: int, ppid: int, name: str, outcome: str = "success", action: str = "executed") -> dict:
    return {
        "event": {"outcome": outcome, "action": action},
        "process": {"pid": pid, "parent": {"pid": ppid}, "name": name, "executable": f"/usr/bin/{name}",
                    "args": [name, "-x"], "command_line": f"{name} -x"},
    }


def test_only_an_exec_teaches_the_table_what_a_pid_runs():
    tree = ProcessTable()
    tree.enrich(exec_doc(10, 1, "bash"))
    tree.enrich(exec_doc(10, 1, "cat", action="opened-file"))  # a file event of pid 10: not a new image
    assert tree.enrich(exec_doc(11, 10, "ls"))["process"]["parent"]["name"] == "bash"


def test_parent_filled_from_an_earlier_exec():
    tree = ProcessTable()
    tree.enrich(exec_doc(10, 1, "bash"))
    child = tree.enrich(exec_doc(11, 10, "hping3"))
    assert child["process"]["parent"] == {
        "pid": 10, "name": "bash", "executable": "/usr/bin/bash", "args": ["bash", "-x"], "args_count": 2,
        "command_line": "bash -x",
    }


def test_a_new_exec_of_the_same_pid_replaces_the_identity():
    tree = ProcessTable()
    tree.enrich(exec_doc(10, 1, "python3"))
    tree.enrich(exec_doc(10, 1, "bash"))
    assert tree.enrich(exec_doc(11, 10, "id"))["process"]["parent"]["name"] == "bash"


def test_an_ended_pid_lends_nothing():
    tree = ProcessTable()
    tree.enrich(exec_doc(10, 1, "vim"))
    tree.forget(10)
    assert tree.enrich(exec_doc(11, 10, "id"))["process"]["parent"] == {"pid": 10}


def test_a_failed_exec_does_not_change_the_image():
    tree = ProcessTable()
    tree.enrich(exec_doc(10, 1, "bash"))
    tree.enrich(exec_doc(10, 1, "nothere", outcome="failure"))
    assert tree.enrich(exec_doc(11, 10, "id"))["process"]["parent"]["name"] == "bash"


@pytest.mark.parametrize("args", [
    [], [""], ["", ""], ["sh", "-c", "a b"], ["x\0y", "z"], ["ünï", "\udcff"],
], ids=["none", "one-empty", "two-empty", "plain", "nul-in-arg", "non-ascii"])
def test_a_parent_lends_its_argv_exactly_as_learnt_and_as_saved(args):
    """The table packs argv into one string where that reads back the same (proctree.ProcessInfo)."""
    doc = exec_doc(10, 1, "bash")
    doc["process"]["args"] = args
    tree = ProcessTable()
    tree.enrich(doc)
    restored = ProcessTable()
    restored.restore(tree.to_state())
    for table in (tree, restored):
        parent = table.enrich(exec_doc(11, 10, "id"))["process"]["parent"]
        assert (parent["args"], parent["args_count"], parent["command_line"]) == (args, len(args), " ".join(args))


def test_table_is_bounded_lru():
    tree = ProcessTable(max_processes=3)
    for pid in range(10):
        tree.enrich(exec_doc(pid, 1, f"p{pid}"))
    assert len(tree) == 3
    assert tree.enrich(exec_doc(100, 2, "x"))["process"]["parent"] == {"pid": 2}
    assert tree.enrich(exec_doc(101, 9, "x"))["process"]["parent"]["name"] == "p9"


def test_seed_from_proc_learns_this_process():
    import os

    tree = ProcessTable()
    assert tree.seed_from_proc() > 0
    child = tree.enrich(exec_doc(10**9, os.getpid(), "x"))
    assert child["process"]["parent"]["name"]


def test_user_names_from_a_foreign_passwd(tmp_path):
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n")
    (tmp_path / "group").write_text("root:x:0:\nalice:x:1000:\n")
    db = UserDb.from_files(tmp_path / "passwd", tmp_path / "group")
    doc = {"user": {"id": "0", "group": {"id": "0"}, "effective": {"id": "1000"}},
           "auditd": {"user": {"audit": {"id": "1000"}}}}
    db.enrich(doc)
    assert doc["user"]["name"] == "root"
    assert doc["user"]["group"]["name"] == "root"
    assert doc["user"]["effective"]["name"] == "alice"
    assert doc["auditd"]["user"]["audit"]["name"] == "alice"
    assert doc["related"]["user"] == ["root", "alice"]


def test_names_from_the_log_win(tmp_path):
    (tmp_path / "passwd").write_text("other:x:0:0::/:/bin/sh\n")
    doc = {"user": {"id": "0", "name": "root"}}
    UserDb.from_files(tmp_path / "passwd", None).enrich(doc)
    assert doc["user"]["name"] == "root"


NOW = datetime(2026, 11, 23, 15, 30, 12, 345000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", "2026-11-23T15:30:12.345Z"),
        ("now-9m", "2026-11-23T15:21:12.345Z"),
        ("now-1d/d", "2026-11-22T00:00:00.000Z"),
        ("now-2h/h", "2026-11-23T13:00:00.000Z"),
        ("now/M", "2026-11-01T00:00:00.000Z"),
        ("now-1M", "2026-10-23T15:30:12.345Z"),
        ("now+1w/w", "2026-11-30T00:00:00.000Z"),
        ("2024-06-10T06:13:20Z", "2024-06-10T06:13:20.000Z"),
        ("2024-06-10T08:13:20.5+02:00", "2024-06-10T06:13:20.500Z"),
        ("2024-06-10", "2024-06-10T00:00:00.000Z"),
    ],
)
def test_time_expressions(text, expected):
    assert iso_ms(parse_time(text, NOW)) == expected


@pytest.mark.parametrize("text", ["yesterday", "now-9x", "now-", "2024-13-01"])
def test_bad_time_expressions(text):
    with pytest.raises(ValueError):
        parse_time(text, NOW)
