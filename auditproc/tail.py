"""Follow a live audit.log: rotation (rename or copytruncate), deletion, restarts from a checkpoint.

Files are identified by (device, inode), never by name. A position is ``(file number, byte
offset)``: file numbers grow each time the follower opens a file, so positions order the whole
stream. Changes are noticed through inotify (``watch.py``) with a slow poll as a safety net; an
idle follower sleeps.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from auditproc.checkpoint import Checkpoint, FileMark
from auditproc.sources import DEFAULT_MAX_LINE_BYTES, user_name
from auditproc.watch import DirectoryWatch

# Handed on per read: 1 MiB of a dense log is ~1,000 events, 100 ms of work before the loop's next
# idle scan; 64 KiB is a few ms, and as cheap per event (70 µs from a whole file against 65 for replay).
READ_BLOCK_BYTES = 1 << 16
# After a change, the writes of the next few ms are read with it: auditd writes each event on its
# own, and waking per write cost 109 µs of CPU per event against 93 µs gathered (bench/README.md).
GATHER_S = 0.005
HEAD_BYTES = 1024  # the first records: enough to tell one file's content from another's
MAX_ROTATED = 99  # audit.log.1 … audit.log.99 are searched for a checkpointed inode
Position = tuple[int, int]


class FollowError(Exception):
    """The log cannot be followed (e.g. permission denied); the message says what to do."""


@dataclass(slots=True)
class _Seen:
    """A file the follower has opened: identity, first bytes and size as last seen."""

    dev: int
    ino: int
    path: str
    head: bytes
    size: int


@dataclass(frozen=True, slots=True)
class _SetFile:
    """A file of the rotated set on disk: ``index`` 0 is the live log, higher is older."""

    index: int
    path: str
    dev: int
    ino: int
    size: int
    head: bytes


@dataclass(slots=True)
class LineState:
    """Where a stream of lines stands: its number, the offset of the first byte not yet handed on
    in a complete line, the unterminated bytes after it, and whether an oversized line is being skipped."""

    number: int
    offset: int
    pending: bytes = b""
    skipping: bool = False


@dataclass(slots=True)
class _Open(LineState):
    """A file being read: its identity and handle besides the split state of its tail."""

    dev: int = 0
    ino: int = 0
    fd: int = -1
    head: bytes = b""  # the file's first bytes: if they change in place, it was truncated and rewritten


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
        self.at_end = False  # a live file never ends
        self.poll_interval = poll_interval
        self.max_line_bytes = max_line_bytes
        self._say = say
        self._watch = DirectoryWatch()
        self._numbers = 0
        self._current: _Open | None = None
        # Files to read before (or as) the live one: (device, inode) — None for "whatever the
        # path is now" — and the offset to start at. Identities, not names: auditd may rotate
        # again while we catch up, and the names shift.
        self._backlog: list[tuple[tuple[int, int] | None, int]] = []
        self._files: dict[int, _Seen] = {}  # file number → identity, for checkpoints
        self._waiting_said = False
        self._start(checkpoint, from_start)

    # --- life cycle -----------------------------------------------------------

    def start_watching(self) -> None:
        """Watch the log's directory for changes to the log and its rotated siblings."""
        directory = os.path.dirname(os.path.abspath(self.path)) or "."
        try:
            self._watch.watch(directory, os.path.basename(self.path))
        except OSError as exc:  # no inotify (or the directory vanished): the poll still works
            self._say(f"cannot watch {directory} ({exc}); polling every {self.poll_interval} s")

    def close(self) -> None:
        """Stop watching and close files."""
        self._watch.close()
        if self._current is not None:
            os.close(self._current.fd)
            self._current = None

    def wake(self) -> None:
        """Interrupt a waiting ``read`` (signal handlers, shutdown)."""
        self._watch.wake()

    # --- reading ----------------------------------------------------------------

    def read(self, timeout: float) -> list[tuple[bytes, Position]]:
        """Complete lines available now; waits up to ``timeout`` seconds when there are none."""
        lines = self._drain()
        if lines:
            return lines
        if self._watch.wait(min(timeout, self.poll_interval)):
            time.sleep(GATHER_S)
        return self._drain()

    def position(self) -> Position | None:
        """The position of the first byte not yet returned in a complete line."""
        cur = self._current
        return None if cur is None else (cur.number, cur.offset)

    def _start(self, checkpoint: Checkpoint | None, from_start: bool) -> None:
        if checkpoint is None:
            self._backlog = [(None, 0 if from_start else -1)]
        else:
            self._backlog = self._resume(checkpoint)
        self._open_next()  # now, so that "the end of the file" means the end at start-up

    def _resume(self, checkpoint: Checkpoint) -> list[tuple[tuple[int, int] | None, int]]:
        """The backlog after a restart: the checkpointed file from its offset and every newer file,
        or, when the checkpointed file is gone, every surviving file not read before it."""
        files = self._rotated_set()
        mark = checkpoint.file
        found = next((f for f in files if mark.same_content(f.head)), None)
        if found is None and mark.head_len == 0:  # empty when saved: its inode is all we know
            found = next((f for f in files if (f.dev, f.ino) == (mark.dev, mark.ino)), None)
        name = checkpoint.path or f"inode {mark.ino}"
        if found is not None:
            offset = checkpoint.offset
            if found.size < offset:
                self._say(f"{found.path} is shorter than the checkpoint's offset {offset}: reading it from the start")
                offset = 0
            newer = [f for f in files if f.index < found.index]
            return [((found.dev, found.ino), offset), *(((f.dev, f.ino), 0) for f in newer), (None, 0)]
        reused = next((f for f in files if (f.dev, f.ino) == (mark.dev, mark.ino)), None)
        if reused is not None:
            self._say(f"the checkpointed file ({name}) is gone and {reused.path} reuses its inode: "
                      "not resuming inside it")
        unread = checkpoint.size - checkpoint.offset
        lost = f"; at least {unread} bytes of it were never read" if unread > 0 else ""
        self._say(f"the checkpointed file ({name}) was rotated away or deleted before it was read to its end"
                  f"{lost}: reading the files that are newer, oldest first")
        unread_files = [f for f in files if not any(m.same_content(f.head) for m in checkpoint.older)]
        return [*(((f.dev, f.ino), 0) for f in unread_files), (None, 0)]

    def _rotated_set(self) -> list[_SetFile]:
        """The log and its rotated files that exist now, oldest first, with their first bytes."""
        files = []
        for index in range(MAX_ROTATED, -1, -1):
            path = self._rotated(index)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode):
                    files.append(_SetFile(index, path, st.st_dev, st.st_ino, st.st_size, os.pread(fd, HEAD_BYTES, 0)))
            finally:
                os.close(fd)
        return files

    def marks(self, number: int) -> tuple[FileMark, str, int, list[FileMark]] | None:
        """For a checkpoint in file ``number``: its mark, path and size now, and the marks of the
        older files of the set (already read); None if the file is unknown."""
        seen = self._files.get(number)
        if seen is None:
            return None
        cur = self._current
        if cur is not None and cur.number == number:
            if len(seen.head) < HEAD_BYTES:
                seen.head = os.pread(cur.fd, HEAD_BYTES, 0)
            seen.size = os.fstat(cur.fd).st_size
        mark = FileMark.of(seen.dev, seen.ino, seen.head)
        older: list[FileMark] = []
        for f in self._rotated_set():
            if (f.dev, f.ino) == (seen.dev, seen.ino):
                break  # the files before it in the set are older
            if f.head:
                older.append(FileMark.of(f.dev, f.ino, f.head))
        else:
            older = []  # not in the set any more: nothing is known to be older
        return mark, seen.path, seen.size, older

    def _newer_than(self, index: int) -> list[tuple[tuple[int, int] | None, int]]:
        """Backlog entries for the rotated files newer than ``path.index``, then the live file."""
        entries: list[tuple[tuple[int, int] | None, int]] = []
        for i in range(index - 1, -1, -1):  # down to the live file itself, by identity too
            try:
                st = os.stat(self._rotated(i))
            except OSError:
                continue
            entries.append(((st.st_dev, st.st_ino), 0))
        entries.append((None, 0))
        return entries

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
            # O_NONBLOCK: opening a FIFO must not wait for a writer (a regular file ignores it)
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
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
        except OSError as exc:  # a socket (ENXIO), a path through a non-directory, …
            raise FollowError(f"{path}: cannot open it: {exc.strerror}; follow reads auditd's log file") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise FollowError(
                f"{path}: not a regular file ({_file_kind(st.st_mode)}); follow reads auditd's log file"
            )
        if offset < 0:
            offset = st.st_size  # like tail -f: start at the end
        os.lseek(fd, offset, os.SEEK_SET)
        self._numbers += 1
        self._waiting_said = False
        self._files[self._numbers] = _Seen(st.st_dev, st.st_ino, path, os.pread(fd, HEAD_BYTES, 0), st.st_size)
        if len(self._files) > 64:
            del self._files[min(self._files)]
        return _Open(self._numbers, offset, dev=st.st_dev, ino=st.st_ino, fd=fd)

    def _open_next(self) -> bool:
        """Open the next file of the backlog; False when it is not there (yet)."""
        if not self._backlog:
            self._backlog = [(None, 0)]
        ident, offset = self._backlog[0]
        if ident is None:
            cur = self._open(self.path, offset)
            if cur is None:
                # Absent: all it holds once it appears is new, so "start at the end" means 0.
                self._backlog[0] = (None, max(offset, 0))
                return False
        else:
            found = self._find_inode(*ident)
            cur = self._open(self._rotated(found[0]), offset) if found else None
            if cur is None or (cur.dev, cur.ino) != ident:
                if cur is not None:
                    os.close(cur.fd)
                self._say(f"a rotated file (inode {ident[1]}) vanished before it was read to its end")
                self._backlog.pop(0)
                return bool(self._backlog) and self._open_next()
        self._backlog.pop(0)
        self._current = cur
        return True

    def _drain(self) -> list[tuple[bytes, Position]]:
        out: list[tuple[bytes, Position]] = []
        while True:
            cur = self._current
            if cur is None:
                if not self._open_next():
                    return out
                continue
            if not self._backlog and cur.offset and self._truncated(cur):
                # Checked before reading: a writer may already have written past our offset.
                self._say(f"{self.path} was truncated (copytruncate rotation?): reading it again from the start")
                os.lseek(cur.fd, 0, os.SEEK_SET)
                cur.offset, cur.pending, cur.skipping, cur.head = 0, b"", False, b""
            data = os.read(cur.fd, READ_BLOCK_BYTES)
            if data:
                if not cur.head and cur.offset == 0:
                    cur.head = data[:HEAD_BYTES]
                split_lines(cur, data, out, self.max_line_bytes)
                if out:
                    return out  # let the caller work; the rest is read on the next call
                continue
            # End of this file for now: is it still the live file, or was it rotated, removed?
            try:
                st = os.stat(self.path)
                live = (st.st_dev, st.st_ino) == (cur.dev, cur.ino)
            except FileNotFoundError:
                live = False
                if not self._backlog:
                    return out  # the live file was deleted: keep the handle until a new one appears
            except OSError:
                return out
            if not live:
                # Renamed away (auditd's rotation) or deleted: finish it to its last byte (auditd
                # has closed it), then go on with the newer files, found by identity.
                tail = os.read(cur.fd, READ_BLOCK_BYTES)
                if tail:
                    split_lines(cur, tail, out, self.max_line_bytes)
                    continue
                if not self._backlog:
                    # If auditd rotated again meanwhile, the files after ours are .k-1 … .1.
                    found = self._find_inode(cur.dev, cur.ino)
                    self._backlog = self._newer_than(found[0]) if found else [(None, 0)]
                self._finish(cur, out)
                continue
            self._backlog = []  # reading the live file: nothing newer exists
            return out

    def _truncated(self, cur: _Open) -> bool:
        """Shrunk below what we read, or rewritten in place past it (its first bytes changed)."""
        if os.fstat(cur.fd).st_size < cur.offset + len(cur.pending):
            return True
        if not cur.head:
            cur.head = os.pread(cur.fd, HEAD_BYTES, 0)  # opened mid-file: remember it now
            return False
        return os.pread(cur.fd, len(cur.head), 0) != cur.head

    def _finish(self, cur: _Open, out: list[tuple[bytes, Position]]) -> None:
        if cur.pending and not cur.skipping:
            out.append((cur.pending, (cur.number, cur.offset)))  # a last line that never ended
        seen = self._files.get(cur.number)
        if seen is not None:  # complete now (auditd has closed it): what a checkpoint will name
            seen.head, seen.size = os.pread(cur.fd, HEAD_BYTES, 0), os.fstat(cur.fd).st_size
        os.close(cur.fd)
        self._current = None

def split_lines(cur: LineState, data: bytes, out: list[tuple[bytes, Position]], max_line_bytes: int) -> None:
    """Append the complete lines of ``cur``'s pending bytes plus ``data`` to ``out`` with their
    positions; keep the unterminated rest. A line longer than ``max_line_bytes`` is handed on cut
    to ``max_line_bytes + 1`` bytes (the mark of a cut line) and the rest of it is skipped."""
    cap = max_line_bytes + 1
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


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"))
    return next((name for test, name in kinds if test(mode)), "not a file")
