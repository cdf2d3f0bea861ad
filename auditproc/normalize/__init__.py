"""Audit events to ECS documents: a registry of event kinds, each a table row and a builder.

A kind names the syscalls and record types whose events it turns into documents, the records its
builder reads, and the ``event.category`` values its documents carry. The assembler's filter is
derived from the kinds a run selects (``Normalizer``), so an event nobody asked for is dropped when
its first telling record is read. Which syscall or record type belongs to which kind follows the
first ECS category Elastic's vocabulary gives it (``KIND_OF_CATEGORY``): adding a kind is a row there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from auditproc.assemble import AuditEvent
from auditproc.normalize.common import ECS_VERSION, EcsSettings, format_timestamp
from auditproc.normalize.process import (
    DATASET as EXEC_DATASET,
)
from auditproc.normalize.process import (
    EXEC_RECORD_TYPES,
    EXEC_SYSCALLS,
    PROCESS_SYSCALLS,
    endpoint_profile,
    exec_document,
    exit_group_pid,
)
from auditproc.normalize.syscalls import ALL_NAMES, syscall_name
from auditproc.normalize.trail import ENDPOINT_ACTIONS, endpoint_trail_profile, trail_document
from auditproc.normalize.vocabulary import CATCH_ALL, RECORD_TYPES, Normalization, for_syscall
from auditproc.parse import Record

__all__ = [
    "ECS_VERSION", "ENDPOINT_ACTIONS", "EXEC_DATASET", "EXIT_ACTION", "KINDS", "EcsSettings", "EventKind", "Normalizer",
    "endpoint_profile", "endpoint_trail_profile", "format_timestamp",
]

Builder = Callable[[AuditEvent, EcsSettings], "dict | None"]

# A row's first ECS category → the kind its events belong to. Exec events are the "process" kind;
# the other syscalls and messages Elastic files under process (kill, ptrace, setuid, service
# starts, audit daemon messages) are "activity"; rows without a category (AVC, SECCOMP, TTY) "other".
KIND_OF_CATEGORY = {
    "file": "file", "network": "network", "driver": "driver", "host": "host", "iam": "iam",
    "authentication": "authentication", "session": "session", "configuration": "configuration",
    "intrusion_detection": "intrusion_detection", "package": "package", "process": "activity",
}
OTHER = "other"


@dataclass(frozen=True, slots=True)
class EventKind:
    """One kind of event: what it is made of and how it becomes a document."""

    name: str
    categories: frozenset[str]  # the event.category values its documents carry
    syscalls: frozenset[str]  # syscall names whose events it builds
    opening_types: frozenset[str]  # record types that make an event of this kind without a SYSCALL
    reads: frozenset[str] | None  # every record type its builder reads; None: any
    build: Builder
    catch_all: bool = False  # also builds syscalls no table names


PROCESS = EventKind(
    name="process",
    categories=frozenset({"process"}),
    # exit_group events tell the process table a pid ended; the activity kind, when selected, also
    # builds their document (Normalizer: a later kind takes a syscall over from an earlier one).
    syscalls=PROCESS_SYSCALLS,
    opening_types=frozenset({"EXECVE"}),  # an exec whose SYSCALL record was lost
    reads=EXEC_RECORD_TYPES,
    build=exec_document,
)


def _kind_name(row: Normalization) -> str:
    return KIND_OF_CATEGORY[row.categories[0]] if row.categories else OTHER


def _trail_kinds() -> tuple[EventKind, ...]:
    """The kinds of every other event, grouped from Elastic's vocabulary."""
    syscalls: dict[str, set[str]] = {}
    types: dict[str, set[str]] = {}
    categories: dict[str, set[str]] = {}
    for name in ALL_NAMES - EXEC_SYSCALLS:  # exit_group too: the process kind keeps it only for the table
        row = for_syscall(name)
        syscalls.setdefault(_kind_name(row), set()).add(name)
        categories.setdefault(_kind_name(row), set()).update(row.categories)
    for rtype, rows in RECORD_TYPES.items():
        kind = _kind_name(rows[0])
        types.setdefault(kind, set()).add(rtype)
        categories.setdefault(kind, set()).update(c for row in rows for c in row.categories)
    catch_all = _kind_name(CATCH_ALL)
    return tuple(
        EventKind(
            name=name,
            categories=frozenset(categories.get(name, ())),
            syscalls=frozenset(syscalls.get(name, ())),
            opening_types=frozenset(types.get(name, ())),
            reads=None,
            build=functools.partial(trail_document, dataset=f"auditproc.{name}"),
            catch_all=name == catch_all,
        )
        for name in sorted(set(syscalls) | set(types))
    )


KINDS: tuple[EventKind, ...] = (PROCESS, *_trail_kinds())
EXIT_ACTION = for_syscall("exit_group").action  # the event.action of an exit_group document
KIND_NAMES = tuple(kind.name for kind in KINDS)
TRAIL_KIND_NAMES = KIND_NAMES[1:]
# Auditbeat adds the login's result to USER_LOGIN's event.type (trail.py).
_EXTRA_TYPES = {"USER_LOGIN": ("authentication_success", "authentication_failure")}


def _rows_of(kind_name: str) -> list[tuple[Normalization, tuple[str, ...]]]:
    """Each row of Elastic's table a trail kind's documents come from, with the event.type values
    its documents add to the row's."""
    kind = next(k for k in KINDS if k.name == kind_name)
    rows = [(for_syscall(name), ()) for name in sorted(kind.syscalls)]
    rows += [(row, _EXTRA_TYPES.get(rtype, ())) for rtype in sorted(kind.opening_types) for row in RECORD_TYPES[rtype]]
    if kind.catch_all:
        rows.append((CATCH_ALL, ()))
    return rows


def kind_rows(kind_name: str) -> list[Normalization]:
    """The rows of Elastic's table a trail kind's documents come from, each once."""
    return list(dict.fromkeys(row for row, _ in _rows_of(kind_name)))


@functools.cache
def _syscall_categorisation() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every category and type a syscall's row gives: what an uncategorised event (AVC) may take
    from its syscall (summary.py)."""
    rows = [for_syscall(name) for name in ALL_NAMES]
    return tuple({c for row in rows for c in row.categories}), tuple({t for row in rows for t in row.types})


def trail_rows(kind_name: str, only: Normalization | None = None) -> list[tuple[str, set[str], set[str]]]:
    """(category, its event.action values, its event.type values) of a trail kind's documents (``only``:
    of one row's); the category is "" for documents Elastic's table gives none (AVC, SECCOMP)."""
    borrowed_categories, borrowed_types = ("",), ()
    if kind_name == OTHER:
        categories, borrowed_types = _syscall_categorisation()
        borrowed_categories = ("", *categories)
    out: dict[str, tuple[set[str], set[str]]] = {}
    for row, extra in _rows_of(kind_name):
        if only is not None and row != only:
            continue
        if not row.categories:
            extra = (*extra, *borrowed_types)
        for category in row.categories or borrowed_categories:
            actions, types = out.setdefault(category, (set(), set()))
            if row.action:
                actions.add(row.action)
            types.update(row.types, extra)
    return [(category, actions, types) for category, (actions, types) in sorted(out.items())]


class Normalizer:
    """Documents for the kinds a run selects; the assembler's filter for them.

    ``kinds`` None selects every kind. The process kind is always built: it keeps the process
    table (parents of every kind's processes come from exec events).
    """

    def __init__(self, settings: EcsSettings, kinds: Iterable[str] | None = None,
                 rows: frozenset[Normalization] | None = None) -> None:
        self.settings = settings
        chosen = frozenset(KIND_NAMES if kinds is None else kinds)
        unknown = chosen - set(KIND_NAMES)
        if unknown:
            raise ValueError(f"unknown event kind {', '.join(sorted(unknown))}; known: {', '.join(KIND_NAMES)}")
        self.kinds = tuple(k for k in KINDS if k is PROCESS or k.name in chosen)
        # Exec documents built only for the process table are not handed on.
        self.hidden_dataset = None if PROCESS.name in chosen else EXEC_DATASET
        reads = [k.reads for k in self.kinds]
        self.wanted_types: frozenset[str] | None = (
            None if None in reads else frozenset({"EOE"}).union(*reads, *(k.opening_types for k in self.kinds))
        )
        # rows: the table rows some loaded rule can match (detect.needed_rows); None: every row.
        def wanted(row: Normalization) -> bool:
            return rows is None or row in rows

        self._by_syscall = {name: k for k in self.kinds for name in k.syscalls
                            if k is PROCESS or wanted(for_syscall(name))}
        self._by_type = {rtype: k for k in self.kinds for rtype in k.opening_types
                         if k is PROCESS or any(wanted(row) for row in RECORD_TYPES[rtype])}
        self.leading_types = frozenset(self._by_type)  # a record of one makes its event wanted
        self._catch_all = next((k for k in self.kinds if k.catch_all), None) if wanted(CATCH_ALL) else None
        # A record type no kind names, with no SYSCALL (APPARMOR_DENIED): an uncategorised document.
        self._unnamed = next((k for k in self.kinds if k.name == OTHER), None)

    def _syscall_kind(self, rec: Record) -> EventKind | None:
        name = syscall_name(*rec.arch_and_syscall())
        # The catch-all row is for syscalls no table names; a named one whose row no rule needs is not built.
        return self._by_syscall.get(name) if name in ALL_NAMES else self._catch_all

    def wanted_syscall(self, rec: Record) -> bool:
        """Whether a SYSCALL record's event is one a selected kind builds (asked once per event)."""
        return self._syscall_kind(rec) is not None

    def document(self, event: AuditEvent) -> dict | None:
        """The event's ECS document, or None for an event that makes none (exit_group, no table row)."""
        records = event.records
        if not records:
            return None
        first = records[0]
        # The first record says what the event is (an AVC before its SYSCALL), unless it is the
        # SYSCALL itself or a type no kind opens on (then the SYSCALL decides).
        by_type = self._by_type
        kind = by_type.get(first.type) if first.type != "SYSCALL" else None
        if kind is None:
            syscall = first if first.type == "SYSCALL" else next((r for r in records if r.type == "SYSCALL"), None)
            if syscall is not None:
                kind = self._syscall_kind(syscall)
            else:  # its SYSCALL lost: any record that names a kind (an exec's EXECVE after its CWD)
                kind = next((by_type[r.type] for r in records if r.type in by_type), self._unnamed)
        return None if kind is None else kind.build(event, self.settings)

    @staticmethod
    def ended_pid(event: AuditEvent) -> int | None:
        """The pid of a process that ended with this event (exit_group), else None."""
        return exit_group_pid(event)
