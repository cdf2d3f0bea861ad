"""Batch runs on two cores: this process reads, parses and assembles; a worker process turns the
completed events into output (ECS normalisation, enrichment, detection, JSON), in order.

Normalising an exec event costs about as much as reading and grouping everything around it, so
splitting the pipeline there nearly halves the wall time of ``events`` and ``replay`` on a host
with a spare core. Only raw lines cross the process boundary; the worker re-reads their headers.
Output order, and so the output itself, is exactly that of the single-process pipeline.

Neither process can wait forever on the other: each closes its copy of the end of a queue it never
writes, so the other's death reads as an end of file; the parent stops the worker whenever a run ends
early; and neither waits at exit to deliver what its peer will never read.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from auditproc.assemble import AuditEvent
from auditproc.detect import Detector, DetectorSpec, DetectStats, build_detector
from auditproc.output import dumps_line
from auditproc.parse import LineParser, Record
from auditproc.pipeline import ExecPipeline, PipelineSettings, Reporter, RunStats

CHUNK_EVENTS = 512  # events per message: large enough to amortise pickling, small for latency
MAX_CHUNKS_IN_FLIGHT = 8  # bounds memory when the worker is the slower side

WAIT_S = 0.05  # how long a send waits before passing on output instead
_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})

_Payload = tuple[bytes | None, bytes, int, int, str, int, list[bytes]]


class WorkerError(Exception):
    """The worker failed or was stopped: output is incomplete. The message is one line."""


@dataclass(slots=True)
class WorkerResult:
    """What the worker reports at the end: counts only it knows."""

    stats: RunStats
    detect: DetectStats | None
    error: str | None = None


class OffloadPipeline(ExecPipeline):
    """An ExecPipeline whose completed events are normalised in a worker process.

    ``feed`` and ``finish`` yield output bytes (NDJSON lines, in order) instead of documents.
    """

    def __init__(
        self,
        settings: PipelineSettings,
        stats: RunStats,
        reporter: Reporter,
        spec: DetectorSpec | None,
        detector: Detector | None = None,
    ) -> None:
        super().__init__(settings, stats, reporter, enrich=False)
        fork = "fork" in multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if fork else "spawn")
        # A forked worker inherits the detector compiled here (compiling Elastic's 214 rules
        # takes over a second); a spawned one can only rebuild it from its plain-data spec.
        detector_or_spec = detector if fork and detector is not None else spec
        self._inbox = ctx.Queue(MAX_CHUNKS_IN_FLIGHT)
        self._outbox = ctx.Queue()
        self._worker = ctx.Process(
            target=_work, args=(self._inbox, self._outbox, settings, detector_or_spec), name="auditproc-normalise",
            daemon=True,
        )
        # Objects that exist now are shared with the forked worker; keeping the collector off
        # them stops it from writing into (and so copying) every inherited page.
        gc.freeze()
        # Held back until the worker has its own handlers (a Ctrl-C signals the whole process group).
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            self._worker.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            gc.unfreeze()
        self._outbox._writer.close()  # the worker's end (see the module docstring)
        self._chunk: list[_Payload] = []
        self._sent = self._received = 0
        self.result: WorkerResult | None = None

    def _normalize(self) -> Iterator[bytes]:  # type: ignore[override]
        for e in self.ready:
            # Only the raw lines travel; a cut line is marked by its length, as in the reader.
            self._chunk.append((e.node, e.id, e.time_ms, e.serial, e.completed_by, e.dropped_records,
                                [r.raw for r in e.records]))
        self.ready.clear()
        if len(self._chunk) >= CHUNK_EVENTS:
            yield from self._send()

    def finish(self) -> Iterator[bytes]:  # type: ignore[override]
        """Complete everything, wait for the worker, and yield the rest of the output."""
        yield from super().finish()
        if self._chunk:
            yield from self._send()
        yield from self._put(None)
        while self.result is None:
            item = self._receive(block=True, timeout=None)
            if item is not None:
                yield item
        self._worker.join()
        self.stats.add_documents(self.result.stats)

    def close(self) -> None:
        """Stop the worker if the run ends early (an error, a closed pipe, a signal)."""
        if self._worker.is_alive():
            self._worker.terminate()
            self._worker.join()
        # Chunks still queued for a stopped worker can never be sent: exit without waiting to.
        self._inbox.cancel_join_thread()

    def _send(self) -> Iterator[bytes]:
        chunk, self._chunk = self._chunk, []
        yield from self._put(chunk)
        self._sent += 1
        yield from self._drain(block=False)

    def _put(self, item: list[_Payload] | None) -> Iterator[bytes]:
        while True:
            try:
                self._inbox.put(item, timeout=WAIT_S)
                return
            except queue.Full:
                yield from self._drain(block=True)

    def _drain(self, block: bool) -> Iterator[bytes]:
        while self._received < self._sent:
            item = self._receive(block, WAIT_S)
            if item is None:
                return
            self._received += 1
            yield item
            block = False

    def _receive(self, block: bool, timeout: float | None) -> bytes | None:
        """The worker's next output; None when there is none yet or it was the final report."""
        try:
            item = self._outbox.get(block, timeout)
        except queue.Empty:
            return None
        except (EOFError, OSError):  # its end closed before the final report
            self._worker.join()
            raise WorkerError(f"normalising worker stopped: {_exit_reason(self._worker.exitcode)}") from None
        if isinstance(item, WorkerResult):
            self.result = item
            if item.error:
                raise WorkerError(f"normalising worker failed: {item.error}")
            return None
        return item


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def _work(inbox: multiprocessing.Queue, outbox: multiprocessing.Queue, settings: PipelineSettings,
          detector: Detector | DetectorSpec | None) -> None:
    """The worker process: payload chunks in, NDJSON bytes out, counts at the end."""
    # Stopped by the parent (SIGTERM, default action); a Ctrl-C to the group is the parent's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    inbox._writer.close()  # the parent's end (see the module docstring)
    stats = RunStats()
    quiet = Reporter(stream=open(os.devnull, "w"))  # noqa: SIM115 - the parent already said it all
    try:
        if isinstance(detector, DetectorSpec):
            detector = build_detector(detector, quiet.say)
        pipe = ExecPipeline(settings, stats, quiet)
        while True:
            try:
                chunk = inbox.get()
            except (EOFError, OSError):  # the parent is gone: nobody will read what is left to send
                outbox.cancel_join_thread()
                return
            if chunk is None:
                break
            out = bytearray()
            for doc in pipe.documents(_events(chunk, settings.max_line_bytes)):
                if detector is None:
                    out += dumps_line(doc)
                else:
                    for alert in detector.process(doc):
                        out += dumps_line(alert)
            outbox.put(bytes(out))
        if detector is not None:
            outbox.put(b"".join(dumps_line(a) for a in detector.finish()))
        outbox.put(WorkerResult(stats, detector.stats if detector is not None else None))
    except BaseException as exc:  # report, never hang the parent
        outbox.put(WorkerResult(stats, None, f"{type(exc).__name__}: {exc}"))


def _events(chunk: Iterable[_Payload], cap: int) -> Iterator[AuditEvent]:
    parser = LineParser()
    for node, span, time_ms, serial, completed_by, dropped, lines in chunk:
        records = [parser.parse(line, len(line) > cap) for line in lines]
        yield AuditEvent(node, span, time_ms, serial, [r for r in records if isinstance(r, Record)],
                         completed_by, dropped)

