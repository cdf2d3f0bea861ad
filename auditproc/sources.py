"""Batch inputs: plain and gzipped files, rotated sets in order, stdin; bounded line length."""

from __future__ import annotations

import gzip
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

DEFAULT_MAX_LINE_BYTES = 16 << 20  # laurel#101 saw 3.5 MB EXECVE lines; cap well above
_READ_CHUNK_BYTES = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_ROTATED = re.compile(r"^(?P<base>.+?)(?:\.(?P<n>\d+))?(?:\.gz)?$")


class InputError(Exception):
    """An input that cannot be read: the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class InputFile:
    """One file to read, with the name used in messages."""

    path: str  # "-" for stdin
    name: str


def expand_inputs(paths: list[str]) -> list[InputFile]:
    """Files to read, in order: a directory becomes its rotated set, oldest first."""
    out: list[InputFile] = []
    for p in paths or ["-"]:
        if p == "-":
            out.append(InputFile("-", "<stdin>"))
        elif os.path.isdir(p):
            out.extend(InputFile(str(f), str(f)) for f in rotated_set(Path(p)))
        else:
            out.append(InputFile(p, p))
    return out


def rotated_set(directory: Path) -> list[Path]:
    """A rotated set oldest first: ``audit.log.N`` … ``audit.log.1``, ``audit.log`` (``.gz`` too).

    Files are grouped by base name; within a group a higher number is older.
    """
    files = [f for f in directory.iterdir() if f.is_file() and not f.name.startswith(".")]

    def order(f: Path) -> tuple[str, int]:
        m = _ROTATED.match(f.name)
        assert m is not None  # the pattern matches every name
        n = m.group("n")
        return (m.group("base"), -int(n) if n else 0)

    return sorted(files, key=order)


def open_input(inp: InputFile) -> BinaryIO:
    """Open a file (gzip detected by its magic bytes, not its name) or stdin, as bytes."""
    if inp.path == "-":
        return sys.stdin.buffer
    try:
        raw = open(inp.path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except PermissionError as exc:
        user = user_name()
        raise InputError(
            f"{inp.name}: permission denied for user {user}. auditd writes its log mode 0600 "
            "(0640 with log_group): run as root, or add the user to auditd's log_group"
        ) from exc
    except FileNotFoundError as exc:
        raise InputError(f"{inp.name}: no such file") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{inp.name}: is a directory") from exc
    except OSError as exc:
        raise InputError(f"{inp.name}: {exc.strerror}") from exc
    if raw.peek(2)[:2] == _GZIP_MAGIC:
        compressed = gzip.GzipFile(fileobj=raw, mode="rb")
        try:
            compressed.peek(1)
        except (OSError, EOFError):
            raw.seek(0)  # a plain file that merely starts with the gzip magic bytes
            return raw
        return compressed  # type: ignore[return-value]
    return raw


def read_lines(
    stream: BinaryIO, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, block_bytes: int = _READ_CHUNK_BYTES
) -> Iterator[bytes]:
    """Lines without their newline (nor a ``\\r`` before it).

    Reads in blocks and splits them in C: measured faster than a ``readline`` per line. A line
    longer than ``max_line_bytes`` is yielded cut to ``max_line_bytes + 1`` bytes (so
    ``len(line) > max_line_bytes`` marks it) and the rest of it is skipped: memory stays bounded
    by the block size and the cap whatever the input. An unterminated last line is yielded too;
    the caller decides whether it is complete.
    """
    read = stream.read
    cap = max_line_bytes + 1
    pending = b""  # the unterminated tail of the previous block
    skipping = False  # inside the remainder of an oversized line
    while True:
        block = read(block_bytes)
        if not block:
            break
        if skipping:
            nl = block.find(b"\n")
            if nl < 0:
                continue
            block = block[nl + 1:]
            skipping = False
        lines = block.split(b"\n")
        if pending:
            lines[0] = pending + lines[0]
        pending = lines.pop()  # every other piece was followed by a newline: complete
        if len(block) >= cap:  # a small cap: any line of this block may be over it
            lines = [line[:cap] if len(line) >= cap else line for line in lines]
        elif lines and len(lines[0]) >= cap:
            lines[0] = lines[0][:cap]  # only a line built from `pending` can be that long
        # CRLF files: drop the \r of complete lines (a cut line, len == cap, keeps its bytes).
        if b"\r" in block:
            lines = [line[:-1] if line[-1:] == b"\r" and len(line) < cap else line for line in lines]
        elif lines and lines[0][-1:] == b"\r" and len(lines[0]) < cap:  # \r in the previous block
            lines[0] = lines[0][:-1]
        if len(pending) >= cap:
            lines.append(pending[:cap])
            pending = b""
            skipping = True
        yield from lines
    if pending:
        yield pending


def user_name() -> str:
    """The effective user's name (for messages about permissions)."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())
