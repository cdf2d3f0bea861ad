"""Which event kinds and vocabulary rows replay builds for a rule set (detect.needed)."""

from __future__ import annotations

import pytest

from auditproc.detect import needed
from auditproc.normalize.vocabulary import CATCH_ALL, for_record_type, for_syscall
from tests.conftest import make_rule


@pytest.mark.parametrize(("queries", "kinds", "rows_in", "rows_out"), [
    # exec rules: the exec kind alone, no trail row (replay costs what it did)
    (['process where event.type == "start" and event.action == "executed" and process.name == "nping"'],
     ("process",), [], [for_syscall("openat"), CATCH_ALL]),
    # a file rule on deletions: unlink's row, not openat's
    (['file where event.action == "deleted" and file.path like "/var/log/*"'],
     ("process", "file"), [for_syscall("unlinkat")], [for_syscall("openat"), for_syscall("connect")]),
    # a syscall no table row names (prctl) is the catch-all row of process activity; an AVC takes its
    # syscall's category, so uncategorised events may be process events too
    (['process where auditd.data.syscall == "prctl"'], ("process", "activity", "other"), [CATCH_ALL], []),
    # a login rule: USER_LOGIN's row
    (['authentication where event.action == "logged-in" and event.outcome == "failure"'],
     ("process", "authentication"), [for_record_type("USER_LOGIN")], [for_syscall("openat")]),
])
def test_needed_builds_what_a_rule_can_match(queries, kinds, rows_in, rows_out) -> None:
    got_kinds, rows = needed([make_rule(q, n) for n, q in enumerate(queries)], "auditd")
    assert got_kinds == kinds
    assert all(row in rows for row in rows_in)
    assert not any(row in rows for row in rows_out)
