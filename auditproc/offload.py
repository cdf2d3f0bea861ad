"""Batch runs on N cores (``--jobs N``): this process reads, parses and assembles, and turns chunks of
completed events into output together with N - 1 worker processes; it writes that output in chunk order.

The expensive stages (ECS normalisation, rule matching, JSON) need no state, but two stages do, and
the output must be byte for byte that of one process:

- enrichment: the process table learns from every exec in input order. Enriching a document changes
  the table in a way the document alone decides (``proctree.step_of``), so whoever builds a chunk's
  documents first sends their table steps to every other process, then applies the steps of all
  earlier chunks (its own and its peers') in chunk order and enriches its chunk. Every process so holds
  the very table one process would have held at that point, at the cost of a dict update per exec.
- max_signals: each chunk's candidate rules are found where it is built (time range, rule table,
  exceptions); this process admits them in order and builds the alerts, which are few.

A chunk goes to the next worker in turn whose queue has room; when every queue is full the workers
are the slower side, and this process builds the chunk itself (on two cores, reading alone left one
of them half idle). It enriches such a chunk once the steps of every earlier chunk are in, at the
latest when the output reaches it (by then they have all been sent), so it never waits on a worker's
backlog. The price is a process table here too: on a dense 1 GB log this process peaked at 97 MB
instead of 70 MB. Only raw lines cross to a worker, with their record types and where their bodies
start.

No process can wait forever on another: every wait is a timed poll that checks on its peers (this
process: did a worker die? a worker: is its parent gone?); each process closes the ends of the
queues it does not use, so a death reads as an end of file; this process stops the workers whenever
a run ends early; and no process waits at exit to deliver what its peer will never read.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditproc.assemble import AuditEvent
from auditproc.output import dumps_line
from auditproc.parse import Record
from auditproc.pipeline import ExecPipeline, PipelineSettings, Reporter, RunStats
from auditproc.proctree import ProcessTable, TableStep, ended, step_of

if TYPE_CHECKING:  # `events` runs without the detection modules (cli.py)
    from auditproc.detect import Detector, DetectorSpec, DetectStats

CHUNK_EVENTS = 256  # events per message: large enough to amortise pickling, small for latency
CHUNKS_PER_WORKER = 4  # queued per worker: bounds memory when the workers are the slower side
# Chunks awaiting output, per job: those built here wait for the workers' earlier ones. With 4, this
# process waited for the worker a fifth of a dense -j 2 run; with 32 both were busy to the end.
PENDING_PER_JOB = 16

WAIT_S = 0.05  # how long a wait lasts before checking on the other processes
_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})

_Payload = tuple[bytes | None, bytes, int, int, str, int, list[tuple[str, int, bytes]]]  # records: type, body_at, line
_Matches = list[tuple[list[int], dict]]  # per document with candidate rules: their positions, the document


class WorkerError(Exception):
    """A worker failed or was stopped: output is incomplete. The message is one line."""


class _ParentGone(Exception):
    """The reading process is gone: nobody will read what a worker has left to send."""


@dataclass(slots=True)
class WorkerResult:
    """What a worker reports at the end: counts only it knows."""

    stats: RunStats
    detect: DetectStats | None


class ParallelPipeline(ExecPipeline):
    """An ExecPipeline whose completed events are normalised, enriched and matched in ``jobs`` processes:
    this one and ``jobs - 1`` workers.

    ``feed`` and ``finish`` yield output bytes (NDJSON lines, in order) instead of documents;
    ``detector`` (None for plain documents) admits and counts the alerts here.
    """

    def __init__(
        self,
        settings: PipelineSettings,
        stats: RunStats,
        reporter: Reporter,
        jobs: int,
        detector: Detector | None = None,
        spec: DetectorSpec | None = None,
    ) -> None:
        super().__init__(settings, stats, reporter, enrich=False)
        fork = "fork" in multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if fork else "spawn")
        # A forked worker inherits the detector compiled here (compiling Elastic's 214 rules
        # takes over a second); a spawned one can only rebuild it from its plain-data spec.
        detector_or_spec = detector if fork or detector is None else spec
        self._detector = detector
        workers = jobs - 1
        self._inboxes = [ctx.Queue(CHUNKS_PER_WORKER) for _ in range(workers)]
        self._outboxes = [ctx.Queue() for _ in range(workers)]
        # Table steps for each process, from its peers: one queue per worker, and this process's last.
        self._steps = steps = [ctx.Queue() for _ in range(jobs)]
        self._failures = ctx.Queue()  # one line from a worker that failed
        self._workers = [
            ctx.Process(target=_work, name=f"auditproc-worker-{n}", daemon=True, args=(
                n, self._inboxes, self._outboxes, steps, self._failures, settings, detector_or_spec))
            for n in range(workers)
        ]
        # Objects that exist now are shared with the forked workers; keeping the collector off
        # them stops it from writing into (and so copying) every inherited page.
        gc.freeze()
        # Held back until the workers have their own handlers (a Ctrl-C signals the whole process group).
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            for worker in self._workers:
                worker.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            gc.unfreeze()
        # The workers' writing ends (see the module docstring); reading ends stay open, as in _keep_own_ends.
        for q in (*self._outboxes, steps[-1]):
            q._writer.close()
        self._here = _ChunkBuilder(ExecPipeline(settings, RunStats(), reporter), detector, steps[-1],
                                   self._get_step, steps[:-1])
        self._chunk: list[AuditEvent] = []
        self._sent = 0
        self._next_worker = 0
        self._max_pending = jobs * PENDING_PER_JOB
        # Per chunk not yet written, in order: the worker that has it, or the chunk as built here.
        self._pending: deque[int | _Built] = deque()

    def _normalize(self) -> Iterator[bytes]:  # type: ignore[override]
        chunk, ready = self._chunk, self.ready
        while ready:
            chunk.append(ready.popleft())
            if len(chunk) >= CHUNK_EVENTS:  # also when the end of input completes thousands at once
                yield from self._send()
                chunk = self._chunk

    def finish(self) -> Iterator[bytes]:  # type: ignore[override]
        """Complete everything, wait for the workers, and yield the rest of the output."""
        yield from super().finish()
        if self._chunk:
            yield from self._send()
        for n in range(len(self._workers)):
            yield from self._put(n, self._sent)  # the end, and how many chunks there were
        while self._pending:
            yield from self._drain(block=True)
        # Read every step sent here, so that no worker waits at its exit to deliver them.
        self._here.table.apply_until(self._sent)
        self.stats.add_documents(self._here.pipe.stats)
        for n, worker in enumerate(self._workers):
            result = None
            while result is None:
                result = self._receive(n, block=True)
            worker.join()
            self.stats.add_documents(result.stats)
            if self._detector is not None and result.detect is not None:
                _add_detect_stats(self._detector.stats, result.detect)
        if self._detector is not None:
            yield b"".join(dumps_line(alert) for alert in self._detector.finish())

    def close(self) -> None:
        """Stop the workers if the run ends early (an error, a closed pipe, a signal)."""
        for worker in self._workers:
            if worker.is_alive():
                worker.terminate()
        for worker in self._workers:
            worker.join()
        # Chunks and steps still queued for a stopped worker can never be sent: exit without waiting to.
        for q in (*self._inboxes, *self._steps[:-1]):
            q.cancel_join_thread()

    def _send(self) -> Iterator[bytes]:
        chunk, self._chunk = self._chunk, []
        while len(self._pending) >= self._max_pending:  # chunks built here wait in memory: bounded
            yield from self._drain(block=True)
        index = self._sent
        self._sent += 1
        worker = self._worker_with_room()
        if worker is None:
            self._pending.append(self._here.build(index, chunk))
            self._enrich_built()
        else:
            # The lines travel with what their headers told (type, where the body starts): a worker
            # re-reading them spent 0.3 s per 200k dense lines. A cut line is marked by its length.
            payload = [(e.node, e.id, e.time_ms, e.serial, e.completed_by, e.dropped_records,
                        [(r.type, r.body_at, r.raw) for r in e.records]) for e in chunk]
            self._inboxes[worker].put((index, payload))  # never blocks: only this process puts
            self._pending.append(worker)
        yield from self._drain(block=False)

    def _worker_with_room(self) -> int | None:
        """The next worker in turn whose queue has room; None when every queue is full."""
        workers = len(self._workers)
        for _ in range(workers):
            n = self._next_worker
            self._next_worker = (n + 1) % workers
            if not self._inboxes[n].full():
                return n
        return None

    def _put(self, worker: int, item: int) -> Iterator[bytes]:
        while True:
            try:
                self._inboxes[worker].put(item, timeout=WAIT_S)
                return
            except queue.Full:
                yield from self._drain(block=True)

    def _drain(self, block: bool) -> Iterator[bytes]:
        """The output of the chunks done so far, in chunk order (``block``: wait a while for the next)."""
        here = self._here
        while self._pending:
            head = self._pending[0]
            if head.__class__ is int:
                item = self._receive(head, block)  # type: ignore[arg-type]
                if item is None:
                    return
            else:
                if head.output is None:  # the first still to enrich: waits for the steps before it
                    here.enrich(head)  # type: ignore[arg-type]
                item = head.output  # type: ignore[union-attr]
            self._pending.popleft()
            out = item if self._detector is None else self._alerts(item)  # type: ignore[arg-type]
            if out:
                yield out
            block = False
        self._enrich_built()

    def _enrich_built(self) -> None:
        """Enrich the chunks built here whose earlier chunks' steps are all in, without waiting.

        Their output (JSON, or the few candidate alerts) is far smaller than their documents: held as
        documents until written, they raised a dense -j 2 replay's peak by 20 MB. Steps are taken in as
        they come, too: left in the pipe they would stall the workers that send them and pile up there.
        """
        table = self._here.table
        for built in self._pending:  # at most jobs * PENDING_PER_JOB
            if built.__class__ is int or built.output is not None:  # type: ignore[union-attr]
                continue
            table.absorb(built.index)  # type: ignore[union-attr]
            if table.next != built.index:  # type: ignore[union-attr]
                return
            self._here.enrich(built)  # type: ignore[arg-type]
        table.absorb(self._sent)

    def _alerts(self, matches: _Matches) -> bytes:
        detector = self._detector
        entries = detector.table.entries  # type: ignore[union-attr]
        return b"".join(dumps_line(alert) for positions, doc in matches
                        for alert in detector.admit(doc, [entries[i] for i in positions]))  # type: ignore[union-attr]

    def _receive(self, worker: int, block: bool) -> object:
        """Worker ``worker``'s next message; None when there is none yet."""
        try:
            return self._outboxes[worker].get(block, WAIT_S)
        except queue.Empty:
            if block:
                self._check_workers()
            return None
        except (EOFError, OSError):  # its end closed before its final report
            self._workers[worker].join()
            raise WorkerError(self._failure(self._workers[worker].exitcode)) from None

    def _get_step(self, q: multiprocessing.Queue) -> object:
        """The next table step sent here; WorkerError if a worker dies meanwhile."""
        return _get(q, self._check_workers, WorkerError("worker process stopped"))

    def _check_workers(self) -> None:
        """WorkerError if a worker died (its peers may be waiting on it)."""
        for worker in self._workers:
            if worker.exitcode not in (None, 0):
                raise WorkerError(self._failure(worker.exitcode))

    def _failure(self, code: int | None) -> str:
        try:
            return f"worker process failed: {self._failures.get(timeout=WAIT_S)}"
        except (queue.Empty, EOFError, OSError):
            pass
        if code is not None and code < 0:
            return f"worker process stopped: killed by {signal.Signals(-code).name}"
        return f"worker process stopped: exit status {code}"


def _add_detect_stats(into: DetectStats, other: DetectStats) -> None:
    """Add a worker's detection counts (what it evaluated and excepted) to this process's."""
    into.evaluated += other.evaluated
    into.outside_time += other.outside_time
    into.suppressed_by_exception.update(other.suppressed_by_exception)
    # alerts and max_signals are this process's own counts: workers only find candidates.


class _TableSteps:
    """The process table of one process, kept as one process would keep it: every chunk's steps, in order."""

    def __init__(self, tree: ProcessTable, inbox: multiprocessing.Queue,
                 get: Callable[[multiprocessing.Queue], object]) -> None:
        self.tree = tree
        self.inbox = inbox
        self.get = get  # the next item of the inbox; raises when the peers it waits on are gone
        self.next = 0  # the chunk whose steps come next
        self.early: dict[int, list[TableStep]] = {}  # steps of later chunks, received already

    def apply_until(self, chunk: int) -> None:
        """Apply the steps of every chunk before ``chunk`` (all of them the peers': ours were applied)."""
        while self.next < chunk:
            if self.next not in self.early:
                index, steps = self.get(self.inbox)  # type: ignore[misc]
                self.early[index] = steps
                continue
            self._apply_next()

    def absorb(self, chunk: int) -> None:
        """Take in the steps that have arrived, without waiting; apply those due before ``chunk``."""
        while True:
            try:
                index, steps = self.inbox.get_nowait()
            except (queue.Empty, EOFError, OSError):  # none yet, or no sender left (apply_until tells)
                break
            self.early[index] = steps
        while self.next < chunk and self.next in self.early:
            self._apply_next()

    def _apply_next(self) -> None:
        for step in self.early.pop(self.next):
            self.tree.apply(step)
        self.next += 1


@dataclass(slots=True)
class _Built:
    """A chunk's documents (and pids seen ending) with their table steps; once enriched, its output."""

    index: int
    items: list[dict | int]
    steps: list[TableStep]
    output: bytes | _Matches | None = None


class _ChunkBuilder:
    """Turns chunks of completed events into output: documents built, their steps sent to the peers,
    then (once the steps of every earlier chunk are in) enriched and serialised, or matched."""

    def __init__(self, pipe: ExecPipeline, detector: Detector | None, steps: multiprocessing.Queue,
                 get_step: Callable[[multiprocessing.Queue], object], peers: list[multiprocessing.Queue]) -> None:
        self.pipe = pipe
        self.detector = detector
        self.table = _TableSteps(pipe.tree, steps, get_step)  # type: ignore[arg-type]
        self.peers = peers
        self.positions = {id(entry): n for n, entry in enumerate(detector.table.entries)} if detector else {}

    def build(self, index: int, events: Iterable[AuditEvent]) -> _Built:
        items = list(self.pipe.unenriched(events))
        steps = [step_of(i) if i.__class__ is dict else ended(i) for i in items]  # type: ignore[arg-type]
        for peer in self.peers:
            peer.put((index, steps))
        return _Built(index, items, steps)

    def enrich(self, built: _Built) -> None:
        """Enrich a built chunk once the steps of every chunk before it are in; its documents make way
        for its ``output``: NDJSON (or the candidate alerts, with a detector)."""
        pipe, detector, positions = self.pipe, self.detector, self.positions
        self.table.apply_until(built.index)
        self.table.next = built.index + 1  # this chunk's steps are applied as its documents are enriched
        hidden = pipe.normalizer.hidden_dataset
        out = bytearray()
        matches: _Matches = []
        for doc, step in zip(built.items, built.steps, strict=True):
            if doc.__class__ is not dict:
                pipe.tree.apply(step)  # type: ignore[union-attr]
                continue
            pipe.enrich(doc, step)  # type: ignore[arg-type]
            if detector is None:
                if doc["event"]["dataset"] != hidden:  # type: ignore[index]
                    out += dumps_line(doc)  # type: ignore[arg-type]
            elif entries := detector.candidates(doc):  # type: ignore[arg-type]
                matches.append(([positions[id(entry)] for entry in entries], doc))  # type: ignore[misc]
        built.items = built.steps = []
        built.output = bytes(out) if detector is None else matches


def _get(q: multiprocessing.Queue, check_peers: Callable[[], None], closed: Exception) -> object:
    """The next item of ``q``, waited for in timed polls; ``check_peers`` raises once a process this
    one waits on is gone, and ``closed`` is raised when the queue's other end is."""
    while True:
        try:
            return q.get(timeout=WAIT_S)
        except queue.Empty:
            check_peers()
        except (EOFError, OSError):
            check_peers()
            raise closed from None


def _parent_check(parent: int) -> Callable[[], None]:
    def check() -> None:
        if os.getppid() != parent:
            raise _ParentGone
    return check


def _keep_own_ends(me: int, inboxes: list, outboxes: list, steps: list) -> None:
    """Close the writing ends a worker never uses, so that a death reads as an end of file where it
    matters. Reading ends stay open: a write to a dead process then fills a pipe (and is abandoned at
    exit) instead of raising in a queue's thread, which would print a traceback."""
    for n, (inbox, outbox) in enumerate(zip(inboxes, outboxes, strict=True)):
        inbox._writer.close()
        if n != me:
            outbox._writer.close()
    steps[me]._writer.close()


def _work(me: int, inboxes: list, outboxes: list, steps: list, failures: multiprocessing.Queue,
          settings: PipelineSettings, detector: Detector | DetectorSpec | None) -> None:
    """Worker ``me``: its chunks in, their NDJSON bytes (or candidate alerts) out, counts at the end."""
    # Stopped by the parent (SIGTERM, default action); a Ctrl-C to the group is the parent's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    _keep_own_ends(me, inboxes, outboxes, steps)
    inbox, outbox = inboxes[me], outboxes[me]
    peers = [q for n, q in enumerate(steps) if n != me]
    parent_alive = _parent_check(os.getppid())
    stats = RunStats()
    quiet = Reporter(stream=open(os.devnull, "w"))  # noqa: SIM115 - the parent already said it all
    try:
        if detector is not None:
            from auditproc.detect import DetectorSpec, build_detector

            if isinstance(detector, DetectorSpec):  # a spawned worker builds its own
                detector = build_detector(detector, quiet.say)
        builder = _ChunkBuilder(ExecPipeline(settings, stats, quiet), detector, steps[me],  # type: ignore[arg-type]
                                lambda q: _get(q, parent_alive, _ParentGone()), peers)
        while (item := _get(inbox, parent_alive, _ParentGone())).__class__ is not int:
            index, chunk = item  # type: ignore[misc]
            built = builder.build(index, _events(chunk, settings.max_line_bytes))
            builder.enrich(built)
            outbox.put(built.output)
        # Read every step sent here, so that no peer waits at its exit to deliver them.
        builder.table.apply_until(item)  # type: ignore[arg-type]
        outbox.put(WorkerResult(stats, detector.stats if detector is not None else None))
    except _ParentGone:
        for q in (outbox, *peers):
            q.cancel_join_thread()
    except BaseException as exc:  # say it in one line, never hang the others
        failures.put(f"{type(exc).__name__}: {exc}")
        for q in (outbox, *peers):
            q.cancel_join_thread()
        raise SystemExit(1) from None


def _events(chunk: Iterable[_Payload], cap: int) -> Iterator[AuditEvent]:
    for node, span, time_ms, serial, completed_by, dropped, records in chunk:
        yield AuditEvent(node, span, time_ms, serial, [
            Record(rtype, node, span, time_ms, serial, line, body_at, len(line) > cap)
            for rtype, body_at, line in records
        ], completed_by, dropped)
