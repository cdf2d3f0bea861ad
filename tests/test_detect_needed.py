"""Which event kinds and vocabulary rows replay builds for a rule set (detect.needed)."""

from __future__ import annotations

import pytest

from auditproc.assemble import AuditEvent
from auditproc.detect import needed
from auditproc.emitted import kind_categories, vocabulary
from auditproc.normalize import TRAIL_KIND_NAMES, EcsSettings, Normalizer, kind_rows
from auditproc.normalize.vocabulary import CATCH_ALL, for_record_type, for_syscall
from auditproc.parse import parse_line
from auditproc.rulefiles import load_rules
from auditproc.ruletable import QueryNeeds, query_cannot_match
from tests.conftest import ELASTIC_LINUX, make_rule, needs_elastic


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


def _syscall_event(serial: int, number: int) -> AuditEvent:
    line = (f"type=SYSCALL msg=audit(1733390000.000:{serial}): arch=c000003e syscall={number} success=yes exit=0 "
            "a0=1 a1=2 a2=3 a3=4 items=0 ppid=1 pid=5 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 "
            'fsgid=0 tty=(none) ses=1 comm="x" exe="/usr/bin/x" key=(null)').encode()
    record = parse_line(line)
    return AuditEvent(record.node, record.id, record.time_ms, record.serial, [record])


def test_a_named_syscall_whose_row_no_rule_needs_is_not_built_as_the_catch_all() -> None:
    """With the catch-all row needed (a prctl rule), openat's own row is still not: openat builds nothing.
    (It once fell through to the catch-all and was built in full: replay with one process rule cost 1.6x.)"""
    kinds, rows = needed([make_rule('process where auditd.data.syscall == "prctl"')], "auditd")
    normalizer = Normalizer(EcsSettings(host_name="h"), kinds, rows)
    assert normalizer.document(_syscall_event(1, 257)) is None  # openat
    assert normalizer.document(_syscall_event(2, 157))["auditd"]["data"]["syscall"] == "prctl"
    assert normalizer.document(_syscall_event(3, 999))["event"]["dataset"] == "auditproc.activity"  # no name: catch-all


@needs_elastic
def test_query_needs_agrees_with_query_cannot_match_on_every_row() -> None:
    """The shortcut needed() takes (QueryNeeds, worked out once per query) says what the full check says."""
    queries = [query for rule in load_rules([ELASTIC_LINUX], all_rules=True).rules for query in rule.terms]
    for kind in TRAIL_KIND_NAMES:
        for row in kind_rows(kind):
            shape = vocabulary(kind_categories(kind, row))["auditd"]
            for query in queries:
                assert QueryNeeds.of(query).may_match(shape) is (query_cannot_match(query, shape) is None), (row, query)
