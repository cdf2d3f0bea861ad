"""Follow a live audit.log: rotation (rename or copytruncate), deletion, restarts from a checkpoint.

Files are identified by (device, inode), never by name. A position is ``(file number, byte
offset)``: file numbers grow each time the follower opens a file, so positions order the whole
stream. Changes are noticed through watchdog (inotify where available) with a slow poll as a
safety net; an idle follower sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from auditproc.sources import DEFAULT_MAX_LINE_BYTES, user_name

READ_BLOCK_BYTES = 1 << 20
MAX_ROTATED = 99  # audit.log.1 … audit.log.99 are searched for a checkpointed inode
Position = tuple[int, int]


class FollowError(Exception):
    """The log cannot be followed (e.g. permission denied); the message says what to do."""


class CheckpointError(Exception):
    """A state file that cannot be read or written."""


@dataclass(slots=True)
class Checkpoint:
    """Where every event before has been fully emitted, and the events emitted after it."""

    dev: int
    ino: int
    offset: int
    path: str = ""
    done: list[list] = field(default_factory=list)  # [[node | None, id], …] as latin-1 text

    def save(self, state_path: Path) -> None:
        """Write atomically: a 0600 temp file in the same directory, fsync, rename."""
        state_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = json.dumps(
            {"version": 1, "dev": self.dev, "ino": self.ino, "offset": self.offset, "path": self.path,
             "done": self.done}
        ).encode()
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=state_path.parent)  # mkstemp: mode 0600
        try:
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            os.replace(tmp, state_path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise CheckpointError(f"{state_path}: cannot write state: {exc.strerror}") from exc
        dir_fd = os.open(state_path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @classmethod
    def load(cls, state_path: Path) -> Checkpoint | None:
        """The saved checkpoint, None if there is none; CheckpointError if it is unreadable or corrupt."""
        try:
            raw = state_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(f"{state_path}: cannot read state: {exc.strerror}") from exc
        try:
            data = json.loads(raw)
            return cls(int(data["dev"]), int(data["ino"]), int(data["offset"]), str(data.get("path", "")),
                       [list(k) for k in data.get("done", [])])
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{state_path}: corrupt state file ({exc})") from exc


def default_state_path() -> Path:
    """``/var/lib/auditproc/state.json`` as root, else the user's XDG state directory."""
    if os.geteuid() == 0:
        return Path("/var/lib/auditproc/state.json")
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "auditproc" / "state.json"


@dataclass(slots=True)
class _Open:
    """A file being read: its identity, handle, and the split state of its tail."""

    number: int
    path: str
    dev: int
    ino: int
    fd: int
    offset: int  # file offset of the first byte not yet returned as part of a complete line
    pending: bytes = b""
    skipping: bool = False  # inside the rest of an oversized line


class LogFollower:
    """Complete lines of a live log with their positions, across rotations and truncations."""

    def __init__(
        self,
        path: str | Path,
        *,
        checkpoint: Checkpoint | None = None,
        from_start: bool = False,
        poll_interval: float = 1.0,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        say: Callable[[str], None] = print,
    ) -> None:
        self.path = str(path)
        self.poll_interval = poll_interval
        self.max_line_bytes = max_line_bytes
        self._say = say
        self._wake = threading.Event()
        self._observer: Observer | None = None
        self._numbers = 0
        self._current: _Open | None = None
        self._backlog: list[tuple[str, int]] = []  # rotated files to finish first: (path, offset)
        self._files: dict[int, tuple[int, int, str]] = {}  # file number → (dev, ino, path)
        self._waiting_said = False
        self._start(checkpoint, from_start)

    # --- life cycle -----------------------------------------------------------

    def start_watching(self) -> None:
        """Start the watchdog observer on the log's directory."""
        directory = os.path.dirname(os.path.abspath(self.path)) or "."
        handler = _Wake(os.path.basename(self.path), self._wake)
        observer = Observer()
        try:
            observer.schedule(handler, directory, recursive=False)
            observer.start()
        except OSError as exc:  # no inotify (or the directory vanished): the poll still works
            self._say(f"cannot watch {directory} ({exc}); polling every {self.poll_interval} s")
            return
        self._observer = observer

    def close(self) -> None:
        """Stop watching and close files."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        if self._current is not None:
            os.close(self._current.fd)
            self._current = None

    def wake(self) -> None:
        """Interrupt a waiting ``read`` (signal handlers, shutdown)."""
        self._wake.set()

    # --- reading ----------------------------------------------------------------

    def read(self, timeout: float) -> list[tuple[bytes, Position]]:
        """Complete lines available now; waits up to ``timeout`` seconds when there are none."""
        lines = self._drain()
        if lines:
            return lines
        self._wake.wait(min(timeout, self.poll_interval))
        self._wake.clear()
        return self._drain()

    def position(self) -> Position | None:
        """The position of the first byte not yet returned in a complete line."""
        cur = self._current
        return None if cur is None else (cur.number, cur.offset)

    def file_of(self, number: int) -> tuple[int, int, str] | None:
        """(device, inode, path) of an opened file by its number."""
        return self._files.get(number)

    def _start(self, checkpoint: Checkpoint | None, from_start: bool) -> None:
        if checkpoint is not None:
            found = self._find_inode(checkpoint.dev, checkpoint.ino)
            if found is None:
                self._say(
                    f"the checkpointed file ({checkpoint.path or 'inode ' + str(checkpoint.ino)}) is gone "
                    f"(rotated away?): reading {self.path} from its start"
                )
            else:
                index, size = found
                # Finish the checkpointed file, then each newer rotated file, then the live one.
                offset = 0 if size < checkpoint.offset else checkpoint.offset
                paths = [self._rotated(i) for i in range(index, 0, -1)]
                if paths:
                    self._backlog = [(p, offset if n == 0 else 0) for n, p in enumerate(paths)]
                    self._backlog.append((self.path, 0))
                else:
                    self._backlog = [(self.path, offset)]
                return
        self._backlog = [(self.path, 0 if from_start or checkpoint is not None else -1)]

    def _find_inode(self, dev: int, ino: int) -> tuple[int, int] | None:
        for index in range(0, MAX_ROTATED + 1):
            try:
                st = os.stat(self._rotated(index))
            except FileNotFoundError:
                if index > 0:
                    return None
                continue
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (dev, ino):
                return index, st.st_size
        return None

    def _rotated(self, index: int) -> str:
        return self.path if index == 0 else f"{self.path}.{index}"

    def _open(self, path: str, offset: int) -> _Open | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            if not self._waiting_said:
                self._say(f"waiting for {path} to appear")
                self._waiting_said = True
            return None
        except PermissionError:
            user = user_name()
            raise FollowError(
                f"{path}: permission denied for user {user}. auditd writes its log mode 0600 "
                "(0640 with log_group in auditd.conf): run as root, or set log_group and add "
                f"{user} to that group"
            ) from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise FollowError(f"{path}: not a regular file")
        if offset < 0:
            offset = st.st_size  # like tail -f: start at the end
        os.lseek(fd, offset, os.SEEK_SET)
        self._numbers += 1
        self._waiting_said = False
        self._files[self._numbers] = (st.st_dev, st.st_ino, path)
        if len(self._files) > 64:
            del self._files[min(self._files)]
        return _Open(self._numbers, path, st.st_dev, st.st_ino, fd, offset)

    def _drain(self) -> list[tuple[bytes, Position]]:
        out: list[tuple[bytes, Position]] = []
        while True:
            cur = self._current
            if cur is None:
                if not self._backlog:
                    self._backlog = [(self.path, 0)]
                path, offset = self._backlog[0]
                cur = self._open(path, offset)
                if cur is None:
                    # Absent: all it holds once it appears is new, so "start at the end" means 0.
                    self._backlog[0] = (path, max(offset, 0))
                    return out
                self._backlog.pop(0)
                self._current = cur
            data = os.read(cur.fd, READ_BLOCK_BYTES)
            if data:
                self._split(cur, data, out)
                if len(out) >= 4096:
                    return out  # let the caller work; the rest is read on the next call
                continue
            # End of this file for now: did it rotate, shrink or vanish?
            if self._backlog:
                self._finish(cur, out)  # a rotated file being caught up: it will not grow
                continue
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                return out  # deleted; keep the handle until a new file appears
            except OSError:
                return out
            if (st.st_dev, st.st_ino) != (cur.dev, cur.ino):
                # Renamed away (auditd's rotation) or deleted and re-created: finish the old
                # file to its last byte (auditd has closed it), then start the new one at 0.
                tail = os.read(cur.fd, READ_BLOCK_BYTES)
                if tail:
                    self._split(cur, tail, out)
                    continue
                # If auditd rotated again meanwhile, the files after ours are .k-1 … .1: read
                # them first, or the middle ones are skipped.
                found = self._find_inode(cur.dev, cur.ino)
                self._finish(cur, out)
                newer = found[0] - 1 if found else 0
                self._backlog = [(self._rotated(i), 0) for i in range(newer, 0, -1)] + [(self.path, 0)]
                continue
            size = os.fstat(cur.fd).st_size
            if size < cur.offset + len(cur.pending):
                self._say(f"{self.path} was truncated (copytruncate rotation?): reading it again from the start")
                os.lseek(cur.fd, 0, os.SEEK_SET)
                cur.offset, cur.pending, cur.skipping = 0, b"", False
                continue
            return out

    def _finish(self, cur: _Open, out: list[tuple[bytes, Position]]) -> None:
        if cur.pending and not cur.skipping:
            out.append((cur.pending, (cur.number, cur.offset)))  # a last line that never ended
        os.close(cur.fd)
        self._current = None

    def _split(self, cur: _Open, data: bytes, out: list[tuple[bytes, Position]]) -> None:
        cap = self.max_line_bytes + 1
        if cur.skipping:
            nl = data.find(b"\n")
            if nl < 0:
                cur.offset += len(data)
                return
            cur.offset += nl + 1
            data = data[nl + 1:]
            cur.skipping = False
        buf = cur.pending + data if cur.pending else data
        start = 0
        number, offset = cur.number, cur.offset
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            if len(line) >= cap:
                line = line[:cap]
            elif line[-1:] == b"\r":
                line = line[:-1]
            out.append((line, (number, offset + start)))
            start = nl + 1
        cur.offset = offset + start
        cur.pending = buf[start:]
        if len(cur.pending) >= cap:  # an oversized line still growing: hand on its head, skip the rest
            out.append((cur.pending[:cap], (number, cur.offset)))
            cur.offset += len(cur.pending)
            cur.pending = b""
            cur.skipping = True


class _Wake(FileSystemEventHandler):
    """Wakes the follower on any change to the log or its rotated siblings."""

    def __init__(self, basename: str, wake: threading.Event) -> None:
        self._basename = basename
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        for p in (event.src_path, getattr(event, "dest_path", "")):
            if p and os.path.basename(os.fsdecode(p)).startswith(self._basename):
                self._wake.set()
                return

