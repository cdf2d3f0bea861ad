"""Batch runs on N cores (``--jobs N``): this process reads, parses and assembles; N worker processes
turn chunks of completed events into output; this process writes that output in chunk order.

The expensive stages (ECS normalisation, rule matching, JSON) need no state, but two stages do, and
the output must be byte for byte that of one process:

- enrichment: the process table learns from every exec in input order. Enriching a document changes
  the table in a way the document alone decides (``proctree.step_of``), so a worker first builds its
  chunk's documents and sends their table steps to every other worker, then applies the steps of all
  earlier chunks (its own and its peers') in chunk order and enriches its chunk. Every worker so holds
  the very table one process would have held at that point, at the cost of a dict update per exec.
- max_signals: workers find each document's candidate rules (time range, rule table, exceptions);
  this process admits them in order and builds the alerts, which are few.

Chunks go to the workers in turn, so worker ``k % N`` has chunk ``k`` and this process reads the
output of chunk ``k`` from it. Only raw lines cross to a worker; it re-reads their headers.

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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditproc.assemble import AuditEvent
from auditproc.output import dumps_line
from auditproc.parse import LineParser, Record
from auditproc.pipeline import ExecPipeline, PipelineSettings, Reporter, RunStats
from auditproc.proctree import ProcessTable, TableStep, ended, step_of

if TYPE_CHECKING:  # `events` runs without the detection modules (cli.py)
    from auditproc.detect import Detector, DetectorSpec, DetectStats

CHUNK_EVENTS = 512  # events per message: large enough to amortise pickling, small for latency
CHUNKS_PER_WORKER = 4  # queued per worker: bounds memory when the workers are the slower side

WAIT_S = 0.05  # how long a wait lasts before checking on the other processes
_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})

_Payload = tuple[bytes | None, bytes, int, int, str, int, list[bytes]]
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
    """An ExecPipeline whose completed events are normalised, enriched and matched by ``jobs`` workers.

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
        self._inboxes = [ctx.Queue(CHUNKS_PER_WORKER) for _ in range(jobs)]
        self._outboxes = [ctx.Queue() for _ in range(jobs)]
        # Table steps for each worker, from its peers; kept here only so that a spawned worker
        # finds their semaphores still there when it starts.
        self._steps = steps = [ctx.Queue() for _ in range(jobs)]
        self._failures = ctx.Queue()  # one line from a worker that failed
        self._workers = [
            ctx.Process(target=_work, name=f"auditproc-worker-{n}", daemon=True, args=(
                n, self._inboxes, self._outboxes, steps, self._failures, settings, detector_or_spec))
            for n in range(jobs)
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
        for q in self._outboxes:  # the workers' ends (see the module docstring)
            q._writer.close()
        for q in steps:
            q._reader.close()
            q._writer.close()
        self._chunk: list[_Payload] = []
        self._sent = self._received = 0

    def _normalize(self) -> Iterator[bytes]:  # type: ignore[override]
        chunk = self._chunk
        for e in self.ready:
            # Only the raw lines travel; a cut line is marked by its length, as in the reader.
            chunk.append((e.node, e.id, e.time_ms, e.serial, e.completed_by, e.dropped_records,
                          [r.raw for r in e.records]))
            if len(chunk) >= CHUNK_EVENTS:  # also when the end of input completes thousands at once
                yield from self._send()
                chunk = self._chunk
        self.ready.clear()

    def finish(self) -> Iterator[bytes]:  # type: ignore[override]
        """Complete everything, wait for the workers, and yield the rest of the output."""
        yield from super().finish()
        if self._chunk:
            yield from self._send()
        for n in range(len(self._workers)):
            yield from self._put(n, self._sent)  # the end, and how many chunks there were
        while self._received < self._sent:
            yield from self._drain(block=True)
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
        # Chunks still queued for a stopped worker can never be sent: exit without waiting to.
        for q in self._inboxes:
            q.cancel_join_thread()

    def _send(self) -> Iterator[bytes]:
        chunk, self._chunk = self._chunk, []
        yield from self._put(self._sent % len(self._workers), (self._sent, chunk))
        self._sent += 1
        yield from self._drain(block=False)

    def _put(self, worker: int, item: tuple[int, list[_Payload]] | int) -> Iterator[bytes]:
        while True:
            try:
                self._inboxes[worker].put(item, timeout=WAIT_S)
                return
            except queue.Full:
                yield from self._drain(block=True)

    def _drain(self, block: bool) -> Iterator[bytes]:
        """The output of the chunks done so far, in chunk order (``block``: wait a while for the next)."""
        while self._received < self._sent:
            item = self._receive(self._received % len(self._workers), block)
            if item is None:
                return
            self._received += 1
            out = item if self._detector is None else self._alerts(item)
            if out:
                yield out
            block = False

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
    """The process table of one worker, kept as one process would keep it: every chunk's steps, in order."""

    def __init__(self, tree: ProcessTable, inbox: multiprocessing.Queue, parent: int) -> None:
        self.tree = tree
        self.inbox = inbox
        self.parent = parent
        self.next = 0  # the chunk whose steps come next
        self.early: dict[int, list[TableStep]] = {}  # steps of later chunks, received already

    def apply_until(self, chunk: int) -> None:
        """Apply the steps of every chunk before ``chunk`` (all of them the peers': ours were applied)."""
        while self.next < chunk:
            steps = self.early.pop(self.next, None)
            if steps is None:
                index, steps = _get(self.inbox, self.parent)
                self.early[index] = steps
                continue
            for step in steps:
                self.tree.apply(step)
            self.next += 1


def _get(q: multiprocessing.Queue, parent: int) -> object:
    """The next item of ``q``; _ParentGone once the reading process is."""
    while True:
        try:
            return q.get(timeout=WAIT_S)
        except queue.Empty:
            if os.getppid() != parent:
                raise _ParentGone from None
        except (EOFError, OSError):
            raise _ParentGone from None


def _keep_own_ends(me: int, inboxes: list, outboxes: list, steps: list) -> None:
    """Close the writing ends a worker never uses, so that a death reads as an end of file where it
    matters. Reading ends stay open: a write to a dead process then fills a pipe (and is abandoned at
    exit) instead of raising in a queue's thread, which would print a traceback."""
    for n, (inbox, outbox, step_box) in enumerate(zip(inboxes, outboxes, steps, strict=True)):
        inbox._writer.close()
        if n == me:
            step_box._writer.close()
        else:
            outbox._writer.close()


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
    parent = os.getppid()
    stats = RunStats()
    quiet = Reporter(stream=open(os.devnull, "w"))  # noqa: SIM115 - the parent already said it all
    try:
        if detector is not None:
            from auditproc.detect import DetectorSpec, build_detector

            if isinstance(detector, DetectorSpec):  # a spawned worker builds its own
                detector = build_detector(detector, quiet.say)
        positions = {id(entry): n for n, entry in enumerate(detector.table.entries)} if detector else {}
        pipe = ExecPipeline(settings, stats, quiet)
        table = _TableSteps(pipe.tree, steps[me], parent)  # type: ignore[arg-type]
        hidden = pipe.normalizer.hidden_dataset
        while (item := _get(inbox, parent)).__class__ is not int:
            index, chunk = item  # type: ignore[misc]
            items = list(pipe.unenriched(_events(chunk, settings.max_line_bytes)))
            chunk_steps = [step_of(i) if i.__class__ is dict else ended(i) for i in items]  # type: ignore[arg-type]
            for peer in peers:
                peer.put((index, chunk_steps))
            table.apply_until(index)
            table.next = index + 1  # this chunk's steps are applied as its documents are enriched
            out = bytearray()
            matches: _Matches = []
            for doc, step in zip(items, chunk_steps, strict=True):
                if doc.__class__ is not dict:
                    pipe.tree.apply(step)  # type: ignore[union-attr]
                    continue
                pipe.enrich(doc, step)  # type: ignore[arg-type]
                if detector is None:
                    if doc["event"]["dataset"] != hidden:  # type: ignore[index]
                        out += dumps_line(doc)
                elif entries := detector.candidates(doc):  # type: ignore[arg-type]
                    matches.append(([positions[id(entry)] for entry in entries], doc))  # type: ignore[misc]
            outbox.put(bytes(out) if detector is None else matches)
        # Read every step sent here, so that no peer waits at its exit to deliver them.
        table.apply_until(item)  # type: ignore[arg-type]
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
    parser = LineParser()
    for node, span, time_ms, serial, completed_by, dropped, lines in chunk:
        records = [parser.parse(line, len(line) > cap) for line in lines]
        yield AuditEvent(node, span, time_ms, serial, [r for r in records if isinstance(r, Record)],
                         completed_by, dropped)
