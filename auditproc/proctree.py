"""Parent-process enrichment from a bounded table of processes seen executing."""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from typing import NamedTuple

DEFAULT_MAX_PROCESSES = 32_768  # one default pid_max worth; beats#42317 is an unbounded process DB
# Per process: the table holds up to DEFAULT_MAX_PROCESSES of these, so its bytes stay bounded
# (32 MiB of argv at most) even when every process ran with a megabyte of arguments.
MAX_PARENT_ARGV_BYTES = 1024
# Saved in the follower's checkpoint (most recently seen first kept): with 1 KiB of argv each,
# at most a few MiB of state, and the parents a restart needs are the recent ones.
MAX_SAVED_PROCESSES = 4096


class ProcessInfo(NamedTuple):
    """What an exec told us about a process image.

    A full table holds 32,768 of these, so they are kept small: ``argv`` is the arguments joined by
    NUL, which no argument holds (C strings), one object where a tuple held one per argument; names
    and paths are shared between processes (``sys.intern``). With a full table (the dense 1M-line log,
    82k execs) ``events --category process`` peaked at 66 MB resident instead of 95 MB, at the same
    CPU. A tuple remains for an argv a join cannot carry (none at all, or one with a NUL read back
    from a state file).
    """

    name: str | None
    executable: str | None
    argv: str | tuple[str, ...] | None
    command_line: str | None
    working_directory: str | None

    def args(self) -> list[str] | None:
        """The arguments as the exec gave them (cut to MAX_PARENT_ARGV_BYTES), a new list each time."""
        argv = self.argv
        if argv is None:
            return None
        return argv.split("\0") if argv.__class__ is str else list(argv)  # type: ignore[union-attr]


# What enriching one document does to the table, known from the document alone: (parent pid looked
# up, pid, the image it now runs). A pid with no image is one seen ending; None: no change.
TableStep = tuple[int | None, int | None, ProcessInfo | None]


def step_of(doc: dict) -> TableStep:
    """The lookup and the change enriching ``doc`` makes (``ProcessTable.apply`` makes them)."""
    process = doc.get("process")
    if not process:
        return (None, None, None)
    parent = process.get("parent")
    parent_pid = parent.get("pid") if parent else None
    pid = process.get("pid")
    # Only a successful exec changes what a pid runs (a failed one leaves the old image; a file or
    # network event of the process teaches nothing new): "executed" is the exec builder's action.
    event = doc.get("event", {})
    if pid is None or event.get("outcome") != "success" or event.get("action") != "executed":
        return (parent_pid, None, None)
    return (parent_pid, pid, image_of(process))


def ended(pid: int) -> TableStep:
    """The step of a process seen ending (exit_group): its pid may be reused."""
    return (None, pid, None)


def image_of(process: dict) -> ProcessInfo:
    """What the table keeps of an ECS ``process`` object (argv up to ``MAX_PARENT_ARGV_BYTES``)."""
    args = process.get("args")
    command_line = process.get("command_line")
    if args is not None:
        args = _packed(_bounded(args))
        # Our command_line is argv joined by spaces: rebuilt when lent, not stored twice.
        command_line = None
    return ProcessInfo(_shared(process.get("name")), _shared(process.get("executable")), args, command_line,
                       _shared(process.get("working_directory")))


def _shared(value: object) -> object:
    """One object for equal names and paths: they repeat across the processes of a table."""
    return sys.intern(value) if value.__class__ is str else value  # type: ignore[arg-type]


def _packed(args: tuple[str, ...]) -> str | tuple[str, ...]:
    """Argv as one NUL-joined string where that reads back as the same list (see ProcessInfo)."""
    if not args:
        return args
    joined = "\0".join(args)
    return joined if joined.count("\0") == len(args) - 1 else args


class ProcessTable:
    """pid → the image it last executed; fills ``process.parent.*`` and learns from every exec.

    Identity is only ever taken from an exec seen earlier in the input (never guessed). A pid
    forgets its identity when the process is seen ending (exit_group) or when a new exec of the
    same pid replaces it, so a reused pid never lends an old process's identity. The table is
    an LRU with a fixed maximum size.
    """

    def __init__(self, max_processes: int = DEFAULT_MAX_PROCESSES) -> None:
        self.max_processes = max_processes
        self._table: OrderedDict[int, ProcessInfo] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def enrich(self, doc: dict, step: TableStep | None = None) -> dict:
        """Add the parent's identity to an exec document, then remember this process.

        ``step`` is ``step_of(doc)`` when the caller already has it (``--jobs``: workers share steps).
        """
        info = self.apply(step_of(doc) if step is None else step)
        if info is not None:
            _fill(doc["process"]["parent"], info)
        return doc

    def apply(self, step: TableStep) -> ProcessInfo | None:
        """Make the change ``step`` describes; returns what the table knew of the parent pid looked up."""
        parent_pid, pid, image = step
        info = None
        if parent_pid is not None:
            info = self._table.get(parent_pid)
            if info is not None:
                self._table.move_to_end(parent_pid)
        if pid is not None:
            if image is None:
                self.forget(pid)
            else:
                self.learn(pid, image)
        return info

    def remember(self, pid: int, process: dict) -> None:
        """Record the image a pid now runs (its argv kept up to ``MAX_PARENT_ARGV_BYTES``)."""
        self.learn(pid, image_of(process))

    def learn(self, pid: int, image: ProcessInfo) -> None:
        """Record ``image`` as what ``pid`` now runs; the least recently seen process goes when full."""
        self._table[pid] = image
        self._table.move_to_end(pid)
        if len(self._table) > self.max_processes:
            self._table.popitem(last=False)

    def to_state(self, limit: int = MAX_SAVED_PROCESSES) -> list[list]:
        """The ``limit`` most recently seen processes as JSON-ready rows, least recent first."""
        rows = []
        for pid in list(self._table)[-limit:]:
            info = self._table[pid]
            rows.append([pid, info.name, info.executable, info.args(), info.command_line, info.working_directory])
        return rows

    def restore(self, rows: list) -> None:
        """Learn the processes of ``to_state`` rows (they become the most recently seen).

        ValueError if a row is malformed: a state file must never crash the follower.
        """
        infos = []
        for row in rows:
            if not (isinstance(row, list) and len(row) == 6 and type(row[0]) is int
                    and all(v is None or isinstance(v, str) for v in (*row[1:3], *row[4:]))
                    and (row[3] is None or (isinstance(row[3], list) and all(isinstance(a, str) for a in row[3])))):
                raise ValueError("a process row is [pid, name, executable, args, command_line, cwd]")
            pid, name, exe, args, command_line, cwd = row
            infos.append((pid, ProcessInfo(name, exe, None if args is None else _packed(tuple(args)), command_line, cwd)))
        for pid, info in infos:
            self.learn(pid, info)

    def forget(self, pid: int) -> None:
        """The process ended: its pid may be reused and must not keep this identity."""
        self._table.pop(pid, None)

    def seed_from_proc(self, proc: str = "/proc") -> int:
        """Learn the processes running now (for following the live log); returns how many."""
        count = 0
        try:
            entries = os.listdir(proc)
        except OSError:
            return 0
        for entry in entries:
            if not entry.isdigit():
                continue
            base = os.path.join(proc, entry)
            try:
                with open(os.path.join(base, "cmdline"), "rb") as f:
                    argv = [a.decode("utf-8", "backslashreplace") for a in f.read().split(b"\0")[:-1]]
                with open(os.path.join(base, "comm"), "rb") as f:
                    name = f.read().rstrip(b"\n").decode("utf-8", "backslashreplace")
                exe = _readlink(os.path.join(base, "exe"))
                cwd = _readlink(os.path.join(base, "cwd"))
            except OSError:
                continue  # gone meanwhile, or not ours to read
            process = {"name": name, "executable": exe, "working_directory": cwd}
            if argv:  # kernel threads have no argv
                process["args"] = argv
                process["command_line"] = " ".join(argv)
            self.remember(int(entry), process)
            count += 1
        return count


def _bounded(args: list[str]) -> tuple[str, ...]:
    """Argv cut to MAX_PARENT_ARGV_BYTES characters, with a marker saying how much went."""
    kept, used = [], 0
    for n, arg in enumerate(args):
        used += len(arg) + 1
        if used > MAX_PARENT_ARGV_BYTES:
            kept.append(arg[: max(0, MAX_PARENT_ARGV_BYTES - (used - len(arg) - 1))])
            kept.append(f"…[{len(args) - n - 1} more arguments truncated by auditproc]")
            return tuple(kept)
        kept.append(arg)
    return tuple(kept)


def _fill(parent: dict, info: ProcessInfo) -> None:
    if info.name is not None:
        parent["name"] = info.name
    if info.executable is not None:
        parent["executable"] = info.executable
    args = info.args()
    if args is not None:
        parent["args"] = args
        parent["args_count"] = len(args)
        parent["command_line"] = " ".join(args)
    elif info.command_line is not None:
        parent["command_line"] = info.command_line
    if info.working_directory is not None:
        parent["working_directory"] = info.working_directory


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None
