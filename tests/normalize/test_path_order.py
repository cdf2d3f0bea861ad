"""PATH records come in item order wherever an event's paths are read, whatever order the log has."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditproc.cli import app

SYSCALL = (b"type=SYSCALL msg=audit(1700000000.000:1): arch=c000003e syscall=82 success=yes exit=0 a0=7ffd "
           b"a1=7ffe a2=0 a3=0 items=3 ppid=1 pid=10 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 "
           b'fsgid=0 tty=(none) ses=1 comm="mv" exe="/usr/bin/mv" key=(null)')
PATHS = {  # a rename: the parent, the old name, the new one
    0: b'name="/a/" inode=2 dev=fd:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT',
    1: b'name="/a/old" inode=4 dev=fd:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=DELETE',
    2: b'name="/x/new" inode=5 dev=fd:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE',
}


def _events(tmp_path: Path, order: list[int], quoted: int | None = None) -> bytes:
    lines = [SYSCALL]
    for n in order:
        item = b'"%d"' % n if n == quoted else b"%d" % n
        lines.append(b"type=PATH msg=audit(1700000000.000:1): item=" + item + b" " + PATHS[n])
    log = tmp_path / f"{order}-{quoted}.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    result = CliRunner().invoke(app, ["events", "--host", "h", str(log)])
    assert result.exit_code == 0
    return result.stdout_bytes


@pytest.mark.parametrize(("order", "quoted"), [([2, 1, 0], None), ([1, 0, 2], None), ([2, 1, 0], 2), ([0, 2, 1], 1)])
def test_the_document_is_that_of_the_paths_in_item_order(tmp_path: Path, order: list[int], quoted: int | None) -> None:
    """A quoted item (user space could write one) is read by its number too: the summary's object, the
    file and auditd.paths all come from the same order."""
    expected = _events(tmp_path, [0, 1, 2])
    assert b'"primary":"/x/new"' in expected and b'"path":"/a/old"' in expected
    assert _events(tmp_path, order, quoted) == expected
