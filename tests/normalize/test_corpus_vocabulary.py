"""Every event of the real corpus gets the ``event.action`` and ``event.category`` Elastic's table gives it.

The events are those ``replay`` builds with every kind selected (tests/test_corpus_real.py). What each
must become is worked out apart from the normaliser: auparse (python3-audit, through
tests/reference/auparse_events.py --interpret) reads each event's lines, names its syscall with its own
per-architecture tables and names its fields (an SELinux AVC's verdict becomes ``seresult``); the row of
Elastic's table (``vocabulary.py``, checked against normalizations.yaml in tests/test_vocabulary.py) is
then chosen the way Elastic's normaliser, go-libaudit's aucoalesce, chooses it:

- an event of one record is of that record's type; of several, of its first record's type unless that
  is the SYSCALL;
- a SYSCALL event takes its syscall's row (the catch-all row for a syscall the table does not name); any
  other takes its record type's row, among several the last whose ``has_fields`` are all present; with
  no row there is no action and no category;
- a non-SYSCALL event that carries a syscall adds the syscall's categories to its row's (once each).

Where auditproc departs from that on purpose, ``DEPARTURES`` says why and what it does instead, and
``DEPARTED`` pins how many events of which file depart.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable

import pytest

from auditproc.assemble import AuditEvent
from auditproc.normalize.vocabulary import KNOWN_RECORD_TYPES, for_record_type, for_syscall
from auditproc.parse import Record
from tests.test_corpus_real import AUPARSE_SCRIPT, CORPUS, FILES, SYSTEM_PYTHON, replay_events

Reading = dict  # auparse's reading of one event: {"syscall": name or None, "fields": [names]}
Outcome = tuple[str, list[str]] | None  # (event.action or "", event.category); None: no document


def elastic_outcome(types: list[str], reading: Reading) -> Outcome:
    """What go-libaudit's normaliser makes of an event with these record types (see the module docstring)."""
    if not types:
        return None  # an event of a lone EOE: no message, no event
    event_type = types[0] if len(types) == 1 or types[0] != "SYSCALL" else "SYSCALL"
    syscall_row = for_syscall(reading["syscall"]) if reading["syscall"] is not None else None
    row = syscall_row if event_type == "SYSCALL" else for_record_type(event_type, set(reading["fields"]))
    if row is None:
        return ("", [])
    categories = list(row.categories)
    if syscall_row is not None and syscall_row is not row:
        categories += [c for c in syscall_row.categories if c not in categories]
    return (row.action, categories)


def _syscall_row(types: list[str], reading: Reading) -> Outcome:
    row = for_syscall(reading["syscall"])
    return (row.action, list(row.categories))


LOST_SYSCALL = "an exec whose SYSCALL record is missing"
UNNAMED_FIRST = "records the table does not name before the SYSCALL"
ONLY_PATHS = "only PATH records"

# Why an event departs from Elastic's rules → what auditproc gives it instead.
DEPARTURES: dict[str, Callable[[list[str], Reading], Outcome]] = {
    # go-libaudit names the event after its first record (EXECVE, CWD) and finds no row; the exec's
    # argv is all there, so auditproc builds its process document (the SYSCALL fields stay absent).
    LOST_SYSCALL: lambda types, reading: ("executed", ["process"]),
    # Records written before their SYSCALL in an order no kernel writes (a capture reversed, PROCTITLE
    # first): go-libaudit would name the event PATH or PROCTITLE and find no row; the syscall says what
    # happened.
    UNNAMED_FIRST: _syscall_row,
    # PATH records without the rest of their event (a one-line sample, a log cut short): nothing says
    # who did what; go-libaudit would make an uncategorised document of them, auditproc makes none.
    ONLY_PATHS: lambda types, reading: None,
}


def departure(types: list[str]) -> str | None:
    """Which of ``DEPARTURES`` an event with these record types falls under, if any."""
    if "SYSCALL" not in types and "EXECVE" in types:
        return LOST_SYSCALL
    if types and set(types) == {"PATH"}:
        return ONLY_PATHS
    if "SYSCALL" in types and types[0] != "SYSCALL" and types[0] not in KNOWN_RECORD_TYPES:
        return UNNAMED_FIRST
    return None


DEPARTED: dict[str, Counter[str]] = {
    "beats/filebeat/module/auditd/log/test/execve-hex-arg.log": Counter({LOST_SYSCALL: 1}),
    "beats/filebeat/module/auditd/log/test/test.log": Counter({LOST_SYSCALL: 1}),
    "go-libaudit/auparse/testdata/audit-rhel7.log": Counter({LOST_SYSCALL: 4}),
    "go-libaudit/auparse/testdata/test3.log": Counter({LOST_SYSCALL: 1}),
    "integrations/packages/auditd/data_stream/log/_dev/test/pipeline/test-auditd-raw.log": Counter({LOST_SYSCALL: 1}),
    "linux-audit-parser-rs/src/testdata/line-execve.txt": Counter({LOST_SYSCALL: 1}),
    "laurel/src/testdata/fork-sleep-exec.txt": Counter({UNNAMED_FIRST: 2}),
    "laurel/src/testdata/record-syscall-nullkey.txt": Counter({UNNAMED_FIRST: 1}),
    "go-libaudit/auparse/testdata/audit-ubuntu14.log": Counter({ONLY_PATHS: 1}),
    "linux-audit-parser-rs/src/testdata/line-path.txt": Counter({ONLY_PATHS: 1}),
    "linux-audit-parser-rs/src/testdata/line-path-enriched.txt": Counter({ONLY_PATHS: 1}),
}


def _line(rec: Record) -> str:
    """A record as a plain log line (a relayed line loses its syslog prefix, which auparse would skip)."""
    return f"type={rec.type} msg=audit({rec.id.decode()}): " + rec.raw[rec.body_at:].decode("utf-8", "replace")


@pytest.fixture(scope="module")
def replayed() -> dict[str, list[tuple[AuditEvent, dict | None, Reading]]]:
    """Per corpus file: each event replay builds, its document, and auparse's reading of its lines."""
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import auparse"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("python3-audit (auparse) is not installed for /usr/bin/python3")
    built = {name: replay_events(CORPUS / name) for name in FILES}
    events = [event for pairs in built.values() for event, _ in pairs]
    lines = [[_line(r) for r in e.records if r.type != "EOE"] for e in events]
    done = subprocess.run([SYSTEM_PYTHON, str(AUPARSE_SCRIPT), "--interpret"], input=json.dumps(lines).encode(),
                          capture_output=True, check=True, timeout=120)
    readings = iter(json.loads(done.stdout))
    return {name: [(event, doc, next(readings)) for event, doc in pairs] for name, pairs in built.items()}


def test_departed_names_existing_files_and_reasons() -> None:
    assert set(DEPARTED) <= set(FILES)
    assert {reason for counts in DEPARTED.values() for reason in counts} <= set(DEPARTURES)


@pytest.mark.parametrize("name", FILES)
def test_every_event_has_the_tables_action_and_category(
    name: str, replayed: dict[str, list[tuple[AuditEvent, dict | None, Reading]]]
) -> None:
    departed: Counter[str] = Counter()
    for event, doc, reading in replayed[name]:
        types = [r.type for r in event.records if r.type != "EOE"]
        if "SYSCALL" in types:
            assert reading["syscall"] is not None, (event.id, "auparse names no syscall")
        reason = departure(types)
        if reason is None:
            expected = elastic_outcome(types, reading)
        else:
            departed[reason] += 1
            expected = DEPARTURES[reason](types, reading)
        got = None if doc is None else (doc["event"].get("action", ""), doc["event"].get("category", []))
        assert got == expected, (event.id, types, reason)
    assert departed == DEPARTED.get(name, Counter())
