"""Files auditproc writes for itself (the follower's state, the rule cache): trusted only when they are
its own, and replaced atomically."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def why_untrusted(info: os.stat_result) -> str | None:
    """Why a file or directory another user could have written must not be trusted, else None.

    Both the state and the cache decide what auditproc does (events skipped, rules run).
    """
    if info.st_uid != os.geteuid():
        return f"owned by uid {info.st_uid}, not this user (uid {os.geteuid()}): chown it"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "writable by group or others: chmod go-w it"
    return None


def write_atomically(path: Path, data: bytes, *, durable: bool) -> None:
    """Replace ``path`` by ``data``: a 0600 temporary file beside it (mkstemp's mode), then a rename,
    so a reader sees the old file or the new one, never a part. ``durable``: fsync the file before
    the rename and the directory after it, so the new content survives a power cut. Raises OSError."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(temporary, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    if durable:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
