"""Elastic's audit vocabulary: per syscall and per record type, the action, actor/object/how and ECS categories.

The rows are go-libaudit's normalisation table (the one Auditbeat and the auditd_manager integration
use), generated into ``vocabulary_table.py``. A syscall and a record type that share a row share one
``Normalization`` object, which is how summary.py tells "the event's own row" from "its syscall's row".
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from auditproc.normalize import vocabulary_table


@dataclass(frozen=True, slots=True)
class Normalization:
    """One row of the table; field-name tuples are tried in order, the first present wins."""

    action: str = ""  # event.action and auditd.summary.action ("" where the row names none)
    object_what: str = ""  # auditd.summary.object.type
    subject_primary: tuple[str, ...] = ()  # () keeps the default: auid
    subject_secondary: tuple[str, ...] = ()  # () keeps the default: uid
    object_primary: tuple[str, ...] = ()
    object_secondary: tuple[str, ...] = ()
    object_path_index: int = 0  # which PATH item names the object of a file/filesystem row
    how: tuple[str, ...] = ()  # () keeps the default: exe (comm for an interpreter)
    source_ip: tuple[str, ...] = ()  # fields that give source.ip when no SOCKADDR did
    has_fields: tuple[str, ...] = ()  # where a record type has several rows: the fields that select this one
    kind: str = ""  # the table's event.kind ("alert" for ANOM_*; Auditbeat writes "event" regardless)
    categories: tuple[str, ...] = ()  # event.category
    types: tuple[str, ...] = ()  # event.type
    mappings: tuple[tuple[str, str], ...] = ()  # (from, to): a summary value or uid./data. field → an ECS entity


ROWS = tuple(Normalization(**row) for row in vocabulary_table.ROWS)  # type: ignore[arg-type]
SYSCALLS = {name: ROWS[i] for name, i in vocabulary_table.SYSCALLS.items() if name != "*"}
CATCH_ALL = ROWS[vocabulary_table.SYSCALLS["*"]]  # the row of every syscall the table does not name
RECORD_TYPES = {name: tuple(ROWS[i] for i in rows) for name, rows in vocabulary_table.RECORD_TYPES.items()}
KNOWN_RECORD_TYPES = frozenset(RECORD_TYPES)  # record types that make an event the table can name


def for_syscall(name: str) -> Normalization:
    """The row for a syscall name; the catch-all row for a name the table does not list."""
    return SYSCALLS.get(name, CATCH_ALL)


def for_record_type(record_type: str, fields: Container[str] = ()) -> Normalization | None:
    """The row for a record type, or None; among rows with ``has_fields``, the last whose fields are all in ``fields``."""
    rows = RECORD_TYPES.get(record_type)
    if rows is None:
        return None
    if len(rows) == 1:
        return rows[0]
    chosen = None
    for row in rows:  # go-libaudit keeps the last match
        if all(f in fields for f in row.has_fields):
            chosen = row
    return chosen
