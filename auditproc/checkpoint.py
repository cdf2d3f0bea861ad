"""The follower's state file: where every event before has been emitted, written atomically.

A checkpoint names its file by content as well as by (device, inode): ext4 hands a deleted
file's inode number to the next file created, so after rotations an inode alone can point into
an unrelated file. ``FileMark`` keeps a hash of the file's first bytes (its first records,
with their unique timestamps and serials) and the marks of the older files that were already
read, so that a restart can tell which surviving files still hold unread data.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from auditproc.ownfiles import why_untrusted, write_atomically

STATE_VERSION = 2
MAX_STATE_BYTES = 64 << 20  # far above any state we write (done keys, bounded process table)


class CheckpointError(Exception):
    """A state file that cannot be read or written, or that is not safe to trust."""


@dataclass(frozen=True, slots=True)
class FileMark:
    """A log file as a checkpoint remembers it: (device, inode) and a hash of its first bytes."""

    dev: int
    ino: int
    head_len: int = 0  # 0: the file was empty when marked; only the inode is known
    head_sha256: str = ""

    @classmethod
    def of(cls, dev: int, ino: int, head: bytes) -> FileMark:
        """The mark of a file whose first bytes are ``head``."""
        return cls(dev, ino, len(head), hashlib.sha256(head).hexdigest() if head else "")

    def same_content(self, head: bytes) -> bool:
        """True when a file starting with ``head`` is the marked file (grown or not)."""
        return (
            0 < self.head_len <= len(head)
            and hashlib.sha256(head[: self.head_len]).hexdigest() == self.head_sha256
        )

    def to_json(self) -> list:
        return [self.dev, self.ino, self.head_len, self.head_sha256]

    @classmethod
    def from_json(cls, item: object) -> FileMark:
        if not (isinstance(item, list) and len(item) == 4 and isinstance(item[3], str)
                and all(type(n) is int and n >= 0 for n in item[:3])):
            raise ValueError("a file mark is [dev, ino, head_len, head_sha256]")
        return cls(*item)


@dataclass(slots=True)
class Checkpoint:
    """Where every event before has been fully emitted, and what a restart needs to go on exactly."""

    file: FileMark
    offset: int
    path: str = ""
    size: int = 0  # the file's size when saved: what a restart reports lost if the file is gone
    done: list[list] = field(default_factory=list)  # [[node | None, id], …] emitted after offset, latin-1
    older: list[FileMark] = field(default_factory=list)  # files of the set read before this one
    processes: list[list] = field(default_factory=list)  # ProcessTable.to_state()
    # Partial sequences by rule_id (Detector.to_state()); when saving, possibly serialised already.
    correlation: dict | orjson.Fragment = field(default_factory=dict)

    def save(self, state_path: Path) -> None:
        """Write atomically and durably (mode 0600; see ownfiles.write_atomically)."""
        state_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = orjson.dumps({
            "version": STATE_VERSION, "file": self.file.to_json(), "offset": self.offset, "path": self.path,
            "size": self.size, "done": self.done, "older": [m.to_json() for m in self.older],
            "processes": self.processes, "correlation": self.correlation,
        })
        try:
            write_atomically(state_path, data, durable=True)
        except OSError as exc:
            raise CheckpointError(f"{state_path}: cannot write state: {exc.strerror}") from exc

    @classmethod
    def load(cls, state_path: Path) -> Checkpoint | None:
        """The saved checkpoint, None if there is none; CheckpointError if it is unreadable or corrupt."""
        try:
            with open(state_path, "rb") as f:
                raw = f.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(f"{state_path}: cannot read state: {exc.strerror}") from exc
        try:
            if len(raw) > MAX_STATE_BYTES:
                raise ValueError(f"larger than {MAX_STATE_BYTES >> 20} MiB")
            data = orjson.loads(raw)
            done = data.get("done", [])
            if not (isinstance(done, list) and all(_is_key(k) for k in done)):
                raise ValueError("'done' must be a list of [node or null, id] string pairs")
            if data.get("version", 1) == 1:  # before file marks: the inode is all it knew
                numbers = [data[k] for k in ("dev", "ino", "offset")]
                _check_counts(numbers)
                return cls(FileMark(numbers[0], numbers[1]), numbers[2], str(data.get("path", "")),
                           numbers[2], [list(k) for k in done])
            numbers = [data["offset"], data["size"]]
            _check_counts(numbers)
            older, processes, correlation = data["older"], data["processes"], data.get("correlation", {})
            if not isinstance(older, list) or not isinstance(processes, list):
                raise ValueError("'older' and 'processes' must be lists")
            if not isinstance(correlation, dict):
                raise ValueError("'correlation' must be an object")
            return cls(FileMark.from_json(data["file"]), numbers[0], str(data.get("path", "")), numbers[1],
                       [list(k) for k in done], [FileMark.from_json(m) for m in older], processes, correlation)
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise CheckpointError(f"{state_path}: corrupt state file ({exc})") from exc


def _check_counts(numbers: list) -> None:
    if not all(type(n) is int and n >= 0 for n in numbers):
        raise ValueError("dev, ino, offset and size must be non-negative integers")


def _is_key(item: object) -> bool:
    return (
        isinstance(item, list) and len(item) == 2
        and (item[0] is None or isinstance(item[0], str)) and isinstance(item[1], str)
    )


def default_state_path() -> Path:
    """``/var/lib/auditproc/state.json`` as root, else the user's XDG state directory."""
    if os.geteuid() == 0:
        return Path("/var/lib/auditproc/state.json")
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "auditproc" / "state.json"


class StateLock:
    """An exclusive lock beside the state file, held for the follower's lifetime.

    Two followers on one state would each emit everything and overwrite each other's
    checkpoints. The lock is ``flock`` on ``<state>.lock`` (the state file itself is replaced
    by rename at every checkpoint), which the kernel releases when the process dies, so a
    kill -9 leaves no stale lock behind. The file holds the owner's pid for the message.
    """

    def __init__(self, state_path: Path) -> None:
        self.path = state_path.with_name(state_path.name + ".lock")
        try:
            state_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            check_state_owner(state_path)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise CheckpointError(
                f"{state_path.parent}: cannot use this state directory ({exc.strerror}): create it "
                "writable for this user, or choose another --state"
            ) from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(self._fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(self._fd)
            raise CheckpointError(
                f"{state_path}: another auditproc follow (pid {other}) uses this state file; stop it, "
                "or give this one its own --state"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Give the lock up (process exit does it too)."""
        os.close(self._fd)


def check_state_owner(state_path: Path) -> None:
    """As root, refuse a state file or directory that another user could write.

    The state decides what is skipped on restart: a planted one could hide chosen events.
    """
    if os.geteuid() != 0:
        return
    for path, what in ((state_path.parent, "directory"), (state_path, "file")):
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        why = why_untrusted(info)
        if why is not None:
            raise CheckpointError(f"{path}: state {what} is {why}")
