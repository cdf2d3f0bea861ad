"""The follower's state file: where every event before has been emitted, written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


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
            done = data.get("done", [])
            if not (isinstance(done, list) and all(_is_key(k) for k in done)):
                raise ValueError("'done' must be a list of [node or null, id] string pairs")
            numbers = [data[k] for k in ("dev", "ino", "offset")]
            if not all(type(n) is int and n >= 0 for n in numbers):
                raise ValueError("dev, ino and offset must be non-negative integers")
            return cls(*numbers, str(data.get("path", "")), [list(k) for k in done])
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise CheckpointError(f"{state_path}: corrupt state file ({exc})") from exc


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
