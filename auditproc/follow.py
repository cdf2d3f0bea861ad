"""The follow loop: a live log in, alerts out within a fraction of a second, checkpointed.

What the checkpoint says is done has been delivered: documents go to the sink after each read,
the sink is flushed (its contract: ``flush`` returns once the destination has the bytes), and
only then are their events counted as emitted. A restart re-reads whole events from the oldest
one not yet delivered, with the process table as it was, so a repeat is the same document.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

from auditproc.checkpoint import Checkpoint, CheckpointError, StateLock
from auditproc.pipeline import ExecPipeline, PipelineSettings, Reporter, RunStats
from auditproc.proctree import ProcessTable
from auditproc.sinks import OutputBlocked, Sink, SinkError
from auditproc.stream import StreamFollower
from auditproc.tail import LogFollower, Position

DEFAULT_IDLE_FLUSH_S = 0.2  # an event whose records stopped arriving this long ago is complete
DEFAULT_CHECKPOINT_INTERVAL_S = 5.0
DEFAULT_POLL_INTERVAL_S = 1.0  # safety net behind inotify
OUTPUT_RETRY_S = (0.1, 5.0)  # first and longest wait between tries of a failing output
SEND_CHUNK_BYTES = 1 << 20  # output queued at once: well under any sink's bound on its queue


@dataclass(frozen=True, slots=True)
class FollowSettings:
    """Knobs of ``auditproc follow``."""

    state_path: Path
    from_start: bool = False
    idle_flush_s: float = DEFAULT_IDLE_FLUSH_S
    checkpoint_interval_s: float = DEFAULT_CHECKPOINT_INTERVAL_S
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    exit_on_output_error: bool = False  # else a failing output (disk full) is retried with backoff


@dataclass(slots=True)
class Controls:
    """Flags set from signal handlers: stop (SIGTERM/SIGINT) and reload (SIGHUP)."""

    stop: threading.Event
    reload: threading.Event


# The partial sequences a checkpoint keeps at most: past it (10,000 partials of large documents), a
# restart starts them afresh rather than write tens of MiB a second.
MAX_CORRELATION_STATE_BYTES = 16 << 20
# How often a quiet follower looks whether a waiting sequence is due (its reorder window is seconds;
# a trailing missing-event window can be an hour: not worth a wake-up per idle-flush tick).
CORRELATION_TICK_S = 0.1


class Correlation(Protocol):
    """What detection holds across documents (partial sequences): released as time passes, checkpointed."""

    @property
    def waiting(self) -> bool:
        """Whether output waits on time alone (``tick`` will produce it)."""

    def tick(self, now: float) -> bytes:
        """Return the output that waited on time alone, at ``now`` (time.monotonic())."""

    def to_state(self) -> dict:
        """Return the state as JSON-able data."""

    def from_state(self, state: dict) -> None:
        """Take back a state ``to_state`` returned."""


def follow(
    path: str,
    pipeline_settings: PipelineSettings,
    settings: FollowSettings,
    render: Callable[[dict], bytes],
    sink: Sink,
    controls: Controls,
    reporter: Reporter,
    on_reload: Callable[[], None] | None = None,
    on_start: Callable[[LogFollower | StreamFollower], None] | None = None,
    correlation: Correlation | None = None,
) -> RunStats:
    """Follow ``path`` until ``controls.stop``; ``render`` turns each document into output lines.

    ``path`` "-" is auditd's dispatcher stream on stdin (plugin mode): followed to its end, with
    no checkpoint, since auditd owns the queue. Raises CheckpointError when the state cannot be
    used (locked by another follower, unsafe), and SinkError when the output fails for good,
    after checkpointing what was delivered.
    """
    checkpointed = path != "-"
    lock = StateLock(settings.state_path) if checkpointed else None
    try:
        stats = RunStats()
        checkpoint = None
        if checkpointed:
            try:
                checkpoint = Checkpoint.load(settings.state_path)
            except CheckpointError as exc:
                reporter.say(f"{exc}: ignoring it and starting at the end of {path}")
        tree = ProcessTable(pipeline_settings.max_processes)
        known = tree.seed_from_proc()
        if checkpoint is not None:
            try:
                tree.restore(checkpoint.processes)  # the parents as they were when it was saved
            except ValueError as exc:
                reporter.say(f"{settings.state_path}: process table ignored ({exc})")
            if correlation is not None:
                correlation.from_state(checkpoint.correlation)
        pipe = ExecPipeline(pipeline_settings, stats, reporter, process_table=tree)
        pipe.emitted = deque()  # (position, key) of documents rendered but not yet delivered
        if checkpoint is not None:
            pipe.assembler.mark_done([_key_from_json(k) for k in checkpoint.done])
        follower: LogFollower | StreamFollower
        if checkpointed:
            follower = LogFollower(
                path,
                checkpoint=checkpoint,
                from_start=settings.from_start,
                poll_interval=settings.poll_interval_s,
                max_line_bytes=pipeline_settings.max_line_bytes,
                say=reporter.say,
            )
            follower.start_watching()
            reporter.say(f"following {path} ({known} running processes known); state in {settings.state_path}")
        else:
            follower = StreamFollower(max_line_bytes=pipeline_settings.max_line_bytes)
            reporter.say(f"following the record stream on stdin ({known} running processes known)")
        out = _Delivery(sink, pipe, settings, controls, reporter)
        if on_start is not None:
            on_start(follower)
        last_checkpoint = time.monotonic()
        idle = settings.idle_flush_s
        tick = idle / 10  # how late after its idle time an event may complete
        last_data = scanned_before = next_scan = 0.0
        failure: SinkError | None = None
        try:
            try:
                while not (controls.stop.is_set() or follower.at_end):
                    # While an event may be waiting for its idle time, wake each tick: a longer wait
                    # counts from the last wake-up, not from the event's records.
                    pending = scanned_before <= last_data
                    waiting = correlation is not None and correlation.waiting  # a sequence waits on time
                    batch = follower.read(timeout=tick if pending else CORRELATION_TICK_S if waiting else idle / 2)
                    now = time.monotonic()
                    pipe.assembler.clock = now
                    rendered = bytearray()
                    if batch:
                        last_data = now
                        lines = [line for line, _ in batch]
                        positions = [pos for _, pos in batch]
                        for doc in pipe.feed(lines, path, positions):
                            rendered += render(doc)
                    # The idle scan: at most once a tick (not once per read, hundreds a second under
                    # load), and not at all once every event has had its idle time.
                    if now >= next_scan and scanned_before <= last_data:
                        scanned_before, next_scan = now - idle, now + tick
                        for doc in pipe.expire_idle(scanned_before):
                            rendered += render(doc)
                    if waiting:
                        rendered += correlation.tick(now)  # type: ignore[union-attr]
                    out.send(rendered)
                    if controls.reload.is_set():
                        controls.reload.clear()
                        out.reopen()
                        if on_reload is not None:
                            on_reload()
                    if checkpointed and now - last_checkpoint >= settings.checkpoint_interval_s:
                        _save(pipe, out, follower, tree, correlation, settings.state_path, reporter)
                        last_checkpoint = now
                # Shutdown: complete what is in flight and deliver it, then checkpoint.
                rendered = bytearray()
                for doc in pipe.finish():
                    rendered += render(doc)
                out.send(rendered)
            except SinkError as exc:
                failure = exc
            if checkpointed:
                _save(pipe, out, follower, tree, correlation, settings.state_path, reporter)
        finally:
            follower.close()
        if failure is not None:
            raise failure
        return stats

    finally:
        if lock is not None:
            lock.release()

class _Delivery:
    """Output with the follower's promise: what is counted delivered has been flushed."""

    def __init__(self, sink: Sink, pipe: ExecPipeline, settings: FollowSettings, controls: Controls,
                 reporter: Reporter) -> None:
        self.sink, self.pipe, self.settings, self.controls, self.reporter = sink, pipe, settings, controls, reporter
        self.delivered: deque[tuple[object, object]] = deque()  # (position, key), oldest first
        self.failing = False

    def send(self, data: bytes | bytearray) -> None:
        """Queue ``data`` and deliver everything queued; on a retryable failure, retry with
        backoff (reading waits meanwhile, so memory stays bounded) until it works or a stop is asked.

        Raises SinkError for a failure that retrying cannot cure (the reader went away) or
        with ``exit_on_output_error``; OutputBlocked when asked to stop while output is stuck.
        """
        # In pieces of whole lines, each delivered before the next is queued: a sink that bounds
        # its queue (syslog drops its oldest messages past 8 MiB) never has to drop what this
        # follower then counts as delivered.
        start = 0
        while start < len(data):
            end = data.find(b"\n", start + SEND_CHUNK_BYTES) + 1 or len(data)
            self.sink.write(bytes(data[start:end]))
            start = end
            self._flush()
        self.delivered.extend(self.pipe.emitted)  # type: ignore[arg-type]
        self.pipe.emitted.clear()  # type: ignore[union-attr]

    def _flush(self) -> None:
        """Flush until the sink holds nothing, retrying a retryable failure with backoff."""
        wait = OUTPUT_RETRY_S[0]
        while True:
            try:
                self.sink.flush(self.controls.stop.is_set)
            except OutputBlocked:
                raise
            except SinkError as exc:
                if not exc.retryable or self.settings.exit_on_output_error:
                    raise
                if not self.failing:
                    self.reporter.say(f"{exc}; holding the output and retrying (nothing is checkpointed past it)")
                    self.failing = True
                if self.controls.stop.wait(wait):
                    raise OutputBlocked(f"{exc}; stopping with output undelivered", retryable=False) from None
                wait = min(wait * 2, OUTPUT_RETRY_S[1])
                continue
            if self.failing:
                self.reporter.say(f"{self.sink.name}: output works again")
                self.failing = False
            return

    def reopen(self) -> None:
        """SIGHUP: reopen the output (a rotated file); a failure is said, the data stays queued."""
        try:
            self.sink.reopen()
        except SinkError as exc:
            self.reporter.say(str(exc))


def _save(pipe: ExecPipeline, out: _Delivery, follower: LogFollower, tree: ProcessTable,
          correlation: Correlation | None, state_path: Path, reporter: Reporter) -> None:
    """Checkpoint at the first record of the oldest event not yet delivered (in flight, or rendered
    but not flushed) or else the read position, with the keys of events delivered after that point."""
    undelivered = (pos for pos, _ in pipe.emitted)  # type: ignore[union-attr]
    candidates = [p for p in (pipe.assembler.oldest_position(), follower.position(), *undelivered)
                  if p is not None]
    if not candidates:
        return
    position: Position = min(candidates)  # type: ignore[type-var]
    marks = follower.marks(position[0])
    if marks is None:
        return
    out.delivered = deque((pos, key) for pos, key in out.delivered if pos is not None and pos >= position)
    mark, name, size, older = marks
    state = Checkpoint(mark, position[1], name, size, [_key_to_json(key) for _, key in out.delivered], older,
                       tree.to_state(), _correlation_state(correlation, reporter))
    try:
        state.save(state_path)
    except CheckpointError as exc:
        reporter.say(f"{exc} (will try again)")


def _correlation_state(correlation: Correlation | None, reporter: Reporter) -> dict | orjson.Fragment:
    """The partial sequences to checkpoint: all of them, or none past the size bound (said); as JSON
    already, since measuring them serialises them (the checkpoint writes the fragment as it is)."""
    state = correlation.to_state() if correlation is not None else None
    if not state:
        return {}
    data = orjson.dumps(state)
    if len(data) > MAX_CORRELATION_STATE_BYTES:
        reporter.say(f"partial sequences not checkpointed ({len(data) >> 20} MiB): a restart starts them afresh")
        return {}
    return orjson.Fragment(data)


def _key_to_json(key: object) -> list:
    node, span = key if isinstance(key, tuple) else (None, key)
    return [None if node is None else node.decode("latin-1"), span.decode("latin-1")]  # type: ignore[union-attr]


def _key_from_json(item: list) -> object:
    node, span = item
    return span.encode("latin-1") if node is None else (node.encode("latin-1"), span.encode("latin-1"))
