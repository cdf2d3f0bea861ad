"""The follow loop: a live log in, alerts out within a fraction of a second, checkpointed."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from auditproc.checkpoint import Checkpoint, CheckpointError
from auditproc.pipeline import ExecPipeline, PipelineSettings, Reporter, RunStats
from auditproc.proctree import ProcessTable
from auditproc.tail import LogFollower, Position

DEFAULT_IDLE_FLUSH_S = 0.2  # an event whose records stopped arriving this long ago is complete
DEFAULT_CHECKPOINT_INTERVAL_S = 5.0
DEFAULT_POLL_INTERVAL_S = 1.0  # safety net behind inotify


@dataclass(frozen=True, slots=True)
class FollowSettings:
    """Knobs of ``auditproc follow``."""

    state_path: Path
    from_start: bool = False
    idle_flush_s: float = DEFAULT_IDLE_FLUSH_S
    checkpoint_interval_s: float = DEFAULT_CHECKPOINT_INTERVAL_S
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S


@dataclass(slots=True)
class Controls:
    """Flags set from signal handlers: stop (SIGTERM/SIGINT) and reload (SIGHUP)."""

    stop: threading.Event
    reload: threading.Event


def follow(
    path: str,
    pipeline_settings: PipelineSettings,
    settings: FollowSettings,
    handle: Callable[[dict], None],
    controls: Controls,
    reporter: Reporter,
    on_reload: Callable[[], None] | None = None,
    on_start: Callable[[LogFollower], None] | None = None,
) -> RunStats:
    """Follow ``path`` until ``controls.stop``; every document goes to ``handle``, which must
    have written (and flushed) its output when it returns: the checkpoint relies on it."""
    stats = RunStats()
    try:
        checkpoint = Checkpoint.load(settings.state_path)
    except CheckpointError as exc:
        reporter.say(f"{exc}: ignoring it and starting at the end of {path}")
        checkpoint = None
    tree = ProcessTable(pipeline_settings.max_processes)
    seeded = tree.seed_from_proc()
    pipe = ExecPipeline(pipeline_settings, stats, reporter, process_table=tree)
    pipe.emitted = deque()
    if checkpoint is not None:
        pipe.assembler.mark_done([_key_from_json(k) for k in checkpoint.done])
    follower = LogFollower(
        path,
        checkpoint=checkpoint,
        from_start=settings.from_start,
        poll_interval=settings.poll_interval_s,
        max_line_bytes=pipeline_settings.max_line_bytes,
        say=reporter.say,
    )
    follower.start_watching()
    if on_start is not None:
        on_start(follower)
    reporter.say(f"following {path} ({seeded} running processes known); state in {settings.state_path}")
    last_checkpoint = time.monotonic()
    idle = settings.idle_flush_s
    tick = idle / 10  # how late after its idle time an event may complete
    last_data = scanned_before = next_scan = 0.0
    try:
        while not controls.stop.is_set():
            # While an event may be waiting for its idle time, wake each tick: a longer wait
            # counts from the last wake-up, not from the event's records.
            pending = scanned_before <= last_data
            batch = follower.read(timeout=tick if pending else idle / 2)
            now = time.monotonic()
            pipe.assembler.clock = now
            if batch:
                last_data = now
                lines = [line for line, _ in batch]
                positions = [pos for _, pos in batch]
                for doc in pipe.feed(lines, path, positions):
                    handle(doc)
            # The idle scan: at most once a tick (not once per read, hundreds a second under
            # load), and not at all once every event has had its idle time.
            if now >= next_scan and scanned_before <= last_data:
                scanned_before, next_scan = now - idle, now + tick
                for doc in pipe.expire_idle(scanned_before):
                    handle(doc)
            if controls.reload.is_set():
                controls.reload.clear()
                if on_reload is not None:
                    on_reload()
            if now - last_checkpoint >= settings.checkpoint_interval_s:
                _save(pipe, follower, settings.state_path, reporter)
                last_checkpoint = now
        # Shutdown: complete what is in flight, emit it, then record that all of it is done.
        for doc in pipe.finish():
            handle(doc)
        _save(pipe, follower, settings.state_path, reporter)
    finally:
        follower.close()
    return stats


def _save(pipe: ExecPipeline, follower: LogFollower, state_path: Path, reporter: Reporter) -> None:
    """Checkpoint at the first record of the oldest event still in flight (or the read position),
    with the keys of events already emitted after that point."""
    position: Position | None = pipe.assembler.oldest_position() or follower.position()  # type: ignore[assignment]
    if position is None:
        return
    file = follower.file_of(position[0])
    if file is None:
        return
    assert pipe.emitted is not None
    pipe.emitted = deque((pos, key) for pos, key in pipe.emitted if pos is not None and pos >= position)
    done = [_key_to_json(key) for _, key in pipe.emitted]
    dev, ino, name = file
    try:
        Checkpoint(dev, ino, position[1], name, done).save(state_path)
    except CheckpointError as exc:
        reporter.say(f"{exc} (will try again)")


def _key_to_json(key: object) -> list:
    node, span = key if isinstance(key, tuple) else (None, key)
    return [None if node is None else node.decode("latin-1"), span.decode("latin-1")]  # type: ignore[union-attr]


def _key_from_json(item: list) -> object:
    node, span = item
    return span.encode("latin-1") if node is None else (node.encode("latin-1"), span.encode("latin-1"))
