"""Records to events: group by (node, timestamp, serial), complete on EOE, age, overflow or end.

auditd's own log file has no EOE records (they only reach dispatcher plugins), records of
different CPUs interleave, and stragglers arrive after newer events; so an event completes
when an EOE arrives, when it is older than ``window_ms`` relative to the newest record seen
(audit time, so replay is deterministic), when the table holds more than ``max_inflight``
events (oldest first), at ``flush()``, or when a record shows that a second event shares its
id (a "collision": spliced files, logs of several hosts without ``node=``). Nothing is ever
dropped unseen: every completed event goes to the ``emit`` callback, and evictions are counted.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

from auditproc.parse import Record

DEFAULT_WINDOW_MS = 5_000  # laurel's expiry; auparse's 2 s splits late records (audit-userspace#148)
DEFAULT_MAX_INFLIGHT = 16_384
DEFAULT_MAX_RECORDS_PER_EVENT = 4_096  # a hostile event must not grow without bound
RECENT_KEYS = 4_096  # completed events remembered so their stragglers are not a new event
MIN_EVENTS_BEHIND = 16  # ...and at least this many events begun after it
CLOCK_JUMP_MS = 600_000  # an event this far ahead of the stream's clock is from a broken clock

# Record types an event holds once, as bits of AuditEvent.once: a second one opens a second
# event with the same id. PATH, AVC and the like repeat; EXECVE repeats as continuation records
# of one argv, so only a record that begins an argv (README: "split over several records") counts.
_ONCE_BITS = {"SYSCALL": 1, "PROCTITLE": 2, "EXECVE": 4}
_ARGV_STARTS = (b"argc=", b"a0=", b"a0_len=")  # continuations begin with a later aK, aK_len or aK[i]

# How events are told apart: the id span ``b"1700000000.123:42"``, or ``(node, span)`` when the
# records carry ``node=``. A plain bytes or tuple, not a class: it is built for every record.
EventKey: TypeAlias = bytes | tuple[bytes, bytes]


class CompletionCause(StrEnum):
    """Why the assembler handed an event on (``--stats`` counts each)."""

    EOE = "eoe"  # its end-of-event record arrived (plugin streams; not in auditd's own log)
    AGE = "age"  # older than the window behind the newest record (audit time)
    IDLE = "idle"  # following a live log: no record for it for a while (wall clock)
    OVERFLOW = "overflow"  # the oldest of too many events in flight
    COLLISION = "collision"  # a record began a second event with its id
    END = "end"  # end of input, or shutdown


@dataclass(slots=True)
class AuditEvent:
    """All records of one audit event, in arrival order."""

    node: bytes | None
    id: bytes
    time_ms: int
    serial: int
    records: list[Record]
    completed_by: CompletionCause | None = None
    dropped_records: int = 0  # records beyond the per-event cap
    position: object = None  # where its first record was read (follow mode's checkpoint)
    last_seen: float = 0.0  # the assembler's wall clock at its latest record (follow mode)
    once: int = 0  # the _ONCE_BITS of the records it holds

    @property
    def key(self) -> EventKey:
        """How the assembler tells events apart: the id, with the node name when records carry one."""
        return self.id if self.node is None else (self.node, self.id)


@dataclass(slots=True)
class AssemblyStats:
    """What the assembler did: completions by cause and what it discarded on purpose."""

    events: int = 0  # every distinct event id seen, wanted or not
    by_cause: dict[CompletionCause, int] = field(default_factory=dict)
    filtered_records: int = 0  # records of events nobody asked for (non-exec syscalls)
    capped_records: int = 0
    late_records: int = 0  # records of an event that had already completed
    id_collisions: int = 0  # events that began while an earlier event with their id was open or recent


_DROP = None  # table value for an event already known to be uninteresting
_NEW = object()  # push's event for a record that begins one


class Assembler:
    """Groups records into events; call ``push`` per record, ``expire`` on a clock, ``flush`` at the end."""

    def __init__(
        self,
        emit: Callable[[AuditEvent], None],
        *,
        window_ms: int = DEFAULT_WINDOW_MS,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        max_records: int = DEFAULT_MAX_RECORDS_PER_EVENT,
        min_events_behind: int = MIN_EVENTS_BEHIND,
        wanted_types: frozenset[str] | None = None,
        wanted_syscall: Callable[[Record], bool] | None = None,
        leading_types: frozenset[str] = frozenset(),
    ) -> None:
        self._emit = emit
        self.window_ms = window_ms
        self.max_inflight = max_inflight
        self.max_records = max_records
        self.min_events_behind = min_events_behind
        # Records of other types only register their event (so it is counted); with a
        # syscall filter, an event whose SYSCALL it rejects is discarded as soon as the SYSCALL
        # is seen, and its later records are dropped on arrival: most events on a busy host
        # are not execs, and buffering them would dominate the cost.
        self._wanted_types = wanted_types
        self._wanted_syscall = wanted_syscall
        self._leading_types = leading_types  # record types that make their event wanted on their own
        self._table: dict[EventKey, AuditEvent | None] = {}
        self._order: deque[tuple[int, int, EventKey]] = deque()  # (time_ms, arrival no., key)
        self._arrivals = 0  # events begun so far
        self.stats = AssemblyStats()
        # Set by a follower before push: where the record was read, and a wall clock.
        self.position: object = None
        self.clock = 0.0
        # FIFO of completed keys → SYSCALLs still to come from events emitted before a restart
        self._recent: OrderedDict[EventKey, int] = OrderedDict()
        self._reborn: dict[EventKey, int] = {}  # key → arrival no. of its latest event, after a collision
        self._live: dict[EventKey, AuditEvent] = {}  # events holding records: what idle expiry scans

    def __len__(self) -> int:
        """Number of events in flight (including ones known to be discarded)."""
        return len(self._table)

    def push(self, rec: Record) -> bool:
        """Add one record; may complete this or older events. False when its event is discarded."""
        key = rec.id if rec.node is None else (rec.node, rec.id)  # AuditEvent.key, inlined: per record
        table = self._table
        rtype = rec.type
        bit = _ONCE_BITS.get(rtype, 0)
        if bit == 4 and not _starts_argv(rec):  # an EXECVE that continues an argv
            bit = 0
        if key in table:
            event = table[key]
            if event is _DROP:
                if rtype != "SYSCALL":  # a discarded event's own SYSCALL came first
                    self.stats.filtered_records += 1
                    return False
                event = self._end_twin(key)
            elif bit:
                if event.once & bit:
                    event = self._end_twin(key)
                else:
                    event.once |= bit
        else:
            if key in self._recent:
                # A straggler after its event completed (wazuh#35250): never a second, partial
                # event. Only a SYSCALL opens one (parse.OPENING_TYPES lets it through the parser's
                # skip), unless it is the re-read of an event emitted before a restart.
                replays = self._recent[key]
                if rtype != "SYSCALL" or replays:
                    if rtype == "SYSCALL":
                        self._recent[key] = replays - 1
                    self.stats.late_records += 1
                    return False
                self._note_twin(key)
            event = _NEW
        if event is _NEW:
            event = AuditEvent(rec.node, rec.id, rec.time_ms, rec.serial, [], position=self.position, once=bit)
            table[key] = event
            self._arrivals += 1
            self._order.append((rec.time_ms, self._arrivals, key))
            if len(self._order) > 4 * self.max_inflight:
                self._compact()
            # The clock is the newest arrival's time, not the largest ever seen: one record
            # stamped in the far future must not stop completion by age for the rest of the run.
            self.expire(rec.time_ms - self.window_ms)
            if len(table) > self.max_inflight:
                self._evict_oldest()
        if rtype == "EOE":
            self._complete(key, CompletionCause.EOE)
            return True
        if self._wanted_types is not None and rtype not in self._wanted_types:
            self.stats.filtered_records += 1
            return True
        # A leading record kept before the SYSCALL (an ADD_USER or AVC the kernel wrote first) already
        # made the event wanted, whatever its syscall.
        if (rtype == "SYSCALL" and self._wanted_syscall is not None
                and not (event.records and event.records[0].type in self._leading_types)
                and not self._wanted_syscall(rec)):
            self.stats.filtered_records += len(event.records) + 1
            table[key] = _DROP
            self._live.pop(key, None)
            return False
        if len(event.records) >= self.max_records:
            event.dropped_records += 1
            self.stats.capped_records += 1
            return True
        if not event.records:
            self._live[key] = event
        event.records.append(rec)
        event.last_seen = self.clock
        return True

    def expire(self, before_ms: int) -> None:
        """Complete, oldest arrival first, events older than ``before_ms`` (audit time), and
        events stamped so far ahead of it that they belong to another clock."""
        order, table, reborn = self._order, self._table, self._reborn
        ahead_ms = before_ms + self.window_ms + CLOCK_JUMP_MS
        newest = self._arrivals - self.min_events_behind
        while order:
            time_ms, arrival, key = order[0]
            # Old by the clock and overtaken by enough newer events: a quiet host's next event
            # can be seconds newer while the previous one's last record is still to come
            # (go-libaudit testdata/out_of_order.log).
            if not ((time_ms < before_ms and arrival <= newest) or time_ms > ahead_ms):
                break
            order.popleft()
            if key in table and (not reborn or reborn.get(key, 0) <= arrival):  # _is_current, inlined
                self._complete(key, CompletionCause.AGE)

    def expire_idle(self, before: float) -> None:
        """Complete events whose latest record arrived before ``before`` (the ``clock``'s scale):
        following a live log, an event must not wait for the next one to be emitted."""
        for key in [k for k, e in self._live.items() if e.last_seen < before]:
            self._complete(key, CompletionCause.IDLE)

    def oldest_position(self) -> object:
        """The position of the earliest-read event still in flight whose output is pending, or None."""
        positions = [e.position for e in self._live.values()]
        return min(positions, default=None)  # type: ignore[type-var]

    def mark_done(self, keys: list[EventKey]) -> None:
        """Events already emitted before a restart: their records are ignored if read again."""
        for key in keys:
            self._remember(key, self._recent.get(key, 0) + 1)

    def flush(self) -> None:
        """Complete every event in flight (end of input, or shutdown)."""
        order = self._order
        while order:
            _, arrival, key = order.popleft()
            if self._is_current(arrival, key):
                self._complete(key, CompletionCause.END)

    def _end_twin(self, key: EventKey) -> object:
        """Complete the open event of ``key``: the record at hand begins a second one with its id."""
        self._complete(key, CompletionCause.COLLISION)
        self._note_twin(key)
        return _NEW

    def _note_twin(self, key: EventKey) -> None:
        """Count a second event with ``key``'s id; it gets the next arrival number."""
        self.stats.id_collisions += 1
        self._reborn[key] = self._arrivals + 1

    def _is_current(self, arrival: int, key: EventKey) -> bool:
        """Whether the age queue's entry (arrival, key) stands for the event in flight under ``key``:
        after a collision, the older twin's entry does not."""
        return key in self._table and (not self._reborn or self._reborn.get(key, 0) <= arrival)

    def _remember(self, key: EventKey, replays: int = 0) -> None:
        recent = self._recent
        recent[key] = replays
        if len(recent) > RECENT_KEYS:
            recent.popitem(last=False)

    def _compact(self) -> None:
        # Events completed by EOE leave stale keys in _order; with a clock that never moves
        # (anonymised logs with one id everywhere) age would never remove them.
        self._order = deque(item for item in self._order if self._is_current(item[1], item[2]))

    def _evict_oldest(self) -> None:
        order = self._order
        while order:
            _, arrival, key = order.popleft()
            if self._is_current(arrival, key):
                self._complete(key, CompletionCause.OVERFLOW)
                return

    def _complete(self, key: EventKey, cause: CompletionCause) -> None:
        event = self._table.pop(key)
        # The key's entry in _order goes stale and is skipped when it reaches the front.
        self._live.pop(key, None)
        if self._reborn:
            self._reborn.pop(key, None)
        self._remember(key)
        stats = self.stats
        stats.events += 1
        if event is _DROP or not event.records:
            return  # discarded, or nothing wanted in it (a lone EOE): nothing to hand on
        event.completed_by = cause
        stats.by_cause[cause] = stats.by_cause.get(cause, 0) + 1
        self._emit(event)


def _starts_argv(rec: Record) -> bool:
    """Whether an EXECVE record begins an argv rather than continuing one."""
    return rec.raw.startswith(_ARGV_STARTS, rec.body_at)
