"""Audit events to ECS documents: a registry of event kinds, each a table row and a builder.

A kind names the syscalls and record types whose events it turns into documents, the records
its builder reads, and the ``event.category`` values its documents carry. The assembler's filter
is derived from the kinds a run selects (``Normalizer``), so an event nobody asked for is dropped
when its first telling record is read, and adding a kind is one row in ``KINDS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from auditproc.assemble import AuditEvent
from auditproc.normalize.common import ECS_VERSION, EcsSettings, format_timestamp
from auditproc.normalize.process import (
    EXEC_RECORD_TYPES,
    PROCESS_SYSCALLS,
    endpoint_profile,
    exec_document,
    exit_group_pid,
    syscall_kind,
)
from auditproc.parse import Record

__all__ = ["ECS_VERSION", "KINDS", "EcsSettings", "EventKind", "Normalizer", "endpoint_profile", "format_timestamp"]

Builder = Callable[[AuditEvent, EcsSettings], "dict | None"]


@dataclass(frozen=True, slots=True)
class EventKind:
    """One kind of event: what it is made of and how it becomes a document."""

    name: str
    categories: frozenset[str]  # the event.category values its documents carry
    syscalls: frozenset[str]  # syscall names whose events it builds
    opening_types: frozenset[str]  # record types that make an event of this kind without a SYSCALL
    reads: frozenset[str]  # every record type its builder reads
    build: Builder


PROCESS = EventKind(
    name="process",
    categories=frozenset({"process"}),
    # exit_group events build no document: they tell the process table a pid ended.
    syscalls=PROCESS_SYSCALLS,
    opening_types=frozenset({"EXECVE"}),  # an exec whose SYSCALL record was lost
    reads=EXEC_RECORD_TYPES,
    build=exec_document,
)
KINDS: tuple[EventKind, ...] = (PROCESS,)
CATEGORIES = frozenset(c for kind in KINDS for c in kind.categories)


class Normalizer:
    """Documents for the kinds whose categories a run needs; the assembler's filter for them.

    ``categories`` None selects every kind. The process kind is always built when the process
    table is kept: parents of other kinds' processes come from exec events.
    """

    def __init__(self, settings: EcsSettings, categories: Iterable[str] | None = None) -> None:
        self.settings = settings
        chosen = CATEGORIES if categories is None else frozenset(categories)
        self.kinds = tuple(k for k in KINDS if k is PROCESS or k.categories & chosen)
        self.wanted_types = frozenset({"EOE"}).union(*(k.reads | k.opening_types for k in self.kinds))
        self._by_syscall = {name: k for k in self.kinds for name in k.syscalls}
        self._by_type = {rtype: k for k in self.kinds for rtype in k.opening_types}

    def wanted_syscall(self, rec: Record) -> bool:
        """Whether a SYSCALL record's event is one a selected kind builds (asked once per event)."""
        return syscall_kind(rec) in self._by_syscall

    def document(self, event: AuditEvent) -> dict | None:
        """The event's ECS document, or None for an event that makes none (exit_group)."""
        by_type = self._by_type
        for rec in event.records:  # the SYSCALL, or the first record that names a kind
            kind = self._by_syscall.get(syscall_kind(rec)) if rec.type == "SYSCALL" else by_type.get(rec.type)  # type: ignore[arg-type]
            if kind is not None:
                return kind.build(event, self.settings)
        return None

    @staticmethod
    def ended_pid(event: AuditEvent) -> int | None:
        """The pid of a process that ended with this event (exit_group), else None."""
        return exit_group_pid(event)
