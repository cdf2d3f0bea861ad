"""The batch pipeline: inputs → lines → records → events → ECS documents, with honest counts."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TextIO

from auditproc.assemble import DEFAULT_MAX_INFLIGHT, DEFAULT_WINDOW_MS, Assembler, AuditEvent
from auditproc.ecs import EcsSettings, is_exec_syscall, to_ecs
from auditproc.parse import ParseError, parse_line
from auditproc.sources import DEFAULT_MAX_LINE_BYTES, InputError, expand_inputs, open_input, read_lines

# Records an exec document is built from; other types only count towards their event.
EXEC_RECORD_TYPES = frozenset({"SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE", "EOE"})
MAX_REPORTED_LINES = 20  # per run; the rest are only counted (rate limit)


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """Every knob of a batch run, with its default in one place."""

    window_ms: int = DEFAULT_WINDOW_MS
    max_inflight: int = DEFAULT_MAX_INFLIGHT
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    ecs: EcsSettings = EcsSettings()


@dataclass(slots=True)
class RunStats:
    """Counts for ``--stats``: nothing is dropped without being counted here."""

    files: int = 0
    lines: int = 0
    bytes: int = 0
    blank: int = 0
    records: int = 0
    malformed: Counter = field(default_factory=Counter)
    oversized: int = 0
    events: int = 0
    exec_events: int = 0
    input_errors: int = 0
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> list[str]:
        """Human-readable lines for stderr."""
        seconds = max(time.monotonic() - self.started, 1e-9)
        out = [
            f"files: {self.files}  lines: {self.lines}  bytes: {self.bytes}  records: {self.records}",
            f"events: {self.events}  exec events: {self.exec_events}",
            f"malformed lines: {sum(self.malformed.values())}  oversized lines: {self.oversized}  "
            f"blank lines: {self.blank}  input errors: {self.input_errors}",
        ]
        for reason, n in sorted(self.malformed.items()):
            out.append(f"  {reason}: {n}")
        out.append(f"seconds: {seconds:.3f}  lines/s: {self.lines / seconds:,.0f}")
        return out


class Reporter:
    """Diagnostics on stderr: file and line, the reason, a safe excerpt; rate-limited."""

    def __init__(self, stream: TextIO | None = None, limit: int = MAX_REPORTED_LINES) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.limit = limit
        self.reported = 0

    def bad_line(self, source: str, lineno: int, reason: str, raw: bytes) -> None:
        """Report one malformed line (until the limit is reached)."""
        self.reported += 1
        if self.reported <= self.limit:
            self.say(f"{source}:{lineno}: {reason}: {safe_excerpt(raw)}")
            if self.reported == self.limit:
                self.say("(further malformed lines are counted, not shown; see --stats)")

    def say(self, message: str) -> None:
        """One line on stderr."""
        print(f"auditproc: {message}", file=self.stream)


def safe_excerpt(raw: bytes, limit: int = 120) -> str:
    """A line excerpt that cannot forge output or drive a terminal: control bytes escaped."""
    text = raw[:limit].decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text + ("…" if len(raw) > limit else "")


def iter_documents(
    paths: Iterable[str],
    settings: PipelineSettings,
    stats: RunStats,
    reporter: Reporter,
    progress: Callable[[int], None] | None = None,
) -> Iterable[dict]:
    """ECS process documents for every exec event in the inputs, in completion order."""
    ready: list[AuditEvent] = []
    asm = Assembler(
        ready.append,
        window_ms=settings.window_ms,
        max_inflight=settings.max_inflight,
        wanted_types=EXEC_RECORD_TYPES,
        wanted_syscall=is_exec_syscall,
    )
    ecs_settings = settings.ecs
    cap = settings.max_line_bytes
    for inp in expand_inputs(list(paths)):
        try:
            stream = open_input(inp)
        except InputError as exc:
            stats.input_errors += 1
            reporter.say(str(exc))
            continue
        stats.files += 1
        lineno = 0
        try:
            for line in read_lines(stream, cap):
                lineno += 1
                stats.bytes += len(line) + 1
                if not line:
                    stats.blank += 1
                    continue
                truncated = len(line) > cap
                if truncated:
                    stats.oversized += 1
                    reporter.bad_line(inp.name, lineno, f"line longer than {cap} bytes, cut", line)
                rec = parse_line(line, truncated)
                if rec.__class__ is ParseError:
                    stats.malformed[rec.reason.value] += 1
                    reporter.bad_line(inp.name, lineno, rec.reason.value, rec.raw)
                    continue
                stats.records += 1
                asm.push(rec)
                if ready:
                    yield from _normalize(ready, ecs_settings, stats)
                if progress is not None and not lineno & 0xFFFF:
                    progress(stats.bytes)
        except OSError as exc:  # e.g. a corrupt gzip member: say where, keep what was read
            stats.input_errors += 1
            reporter.say(f"{inp.name}:{lineno}: read error: {exc}")
        finally:
            stats.lines += lineno
            if stream is not sys.stdin.buffer:
                stream.close()
    asm.flush()
    yield from _normalize(ready, ecs_settings, stats)
    stats.events = asm.stats.events


def _normalize(ready: list[AuditEvent], settings: EcsSettings, stats: RunStats) -> Iterable[dict]:
    for event in ready:
        doc = to_ecs(event, settings)
        if doc is not None:
            stats.exec_events += 1
            yield doc
    ready.clear()
