"""Batch inputs: plain and gzipped files, rotated sets in order, stdin; bounded line length."""

from __future__ import annotations

import os
import re
import stat
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

DEFAULT_MAX_LINE_BYTES = 16 << 20  # laurel#101 saw 3.5 MB EXECVE lines; cap well above
_READ_CHUNK_BYTES = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1 ID2 and CM = deflate, the only method gzip defines
# Compressions auditproc does not read, by magic bytes: (name, tool that decompresses to stdout).
_OTHER_COMPRESSIONS = (
    (b"\x28\xb5\x2f\xfd", "zstd", "zstdcat"),
    (b"\xfd\x37\x7a\x58\x5a\x00", "xz", "xzcat"),
    (b"BZh", "bzip2", "bzcat"),
)
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib reads the gzip header and checks CRC and length itself
_NOT_NUL = re.compile(rb"[^\0]")
_ZLIB_REASONS = {"incorrect data check": "CRC check failed", "incorrect length check": "length check failed"}
_SPECIAL_FILES = ((stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))
_ROTATED = re.compile(r"^(?P<base>.+?)(?:\.(?P<n>\d+))?(?:\.gz)?$")


class InputError(Exception):
    """An input that cannot be read: the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class InputFile:
    """One file to read, with the name used in messages."""

    path: str  # "-" for stdin
    name: str


def expand_inputs(paths: list[str], say: Callable[[str], None] | None = None) -> list[InputFile]:
    """Files to read, in order: a directory becomes its rotated set, oldest first.

    ``say`` is told of each directory inside a given one: a rotated set is flat, so they are not read.
    """
    out: list[InputFile] = []
    for p in paths or ["-"]:
        if p == "-":
            out.append(InputFile("-", "<stdin>"))
        elif os.path.isdir(p):
            out.extend(InputFile(str(f), str(f)) for f in rotated_set(Path(p)))
            for sub in sorted(f for f in Path(p).iterdir() if f.is_dir() and not f.name.startswith(".")):
                if say is not None:
                    say(f"{sub}: a directory inside {p}, skipped (only the files of a rotated set are read)")
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


def open_input(inp: InputFile) -> BinaryIO | GzipReader:
    """Open a file (gzip detected by its magic bytes, not its name) or stdin, as bytes.

    Regular files and FIFOs (``<(zcat old.gz)``, ``/dev/stdin``) are read; sockets and devices are
    refused before they are opened (opening one can block or have side effects, reading one may never end).
    """
    if inp.path == "-":
        return sys.stdin.buffer
    try:
        _refuse_special(inp, os.stat(inp.path).st_mode)
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
    try:
        _refuse_special(inp, os.fstat(raw.fileno()).st_mode)  # replaced between stat and open
    except InputError:
        raw.close()
        raise
    head = raw.peek(len(_GZIP_MAGIC))
    if head.startswith(_GZIP_MAGIC):
        return GzipReader(raw)
    for magic, name, tool in _OTHER_COMPRESSIONS:
        if head.startswith(magic):
            raw.close()
            raise InputError(
                f"{inp.name}: looks like {name}-compressed data: decompress it first, "
                f"e.g. {tool} {inp.name} | auditproc replay -"
            )
    return raw


def _refuse_special(inp: InputFile, mode: int) -> None:
    for test, kind in _SPECIAL_FILES:
        if test(mode):
            raise InputError(f"{inp.name}: is a {kind}, not a log file")


class GzipReader:
    """Every member of a gzip file, decompressed block by block; damage ends the data as a value.

    Everything before the damage comes out: a truncated member up to its last byte (its partial
    last line included), corrupt deflate data up to the byte that breaks it, a member whose CRC
    fails whole. ``damage`` then says what, at which compressed byte; bytes after the last
    member that are neither gzip nor zero padding are damage too.
    """

    def __init__(self, raw: BinaryIO, chunk_bytes: int = _READ_CHUNK_BYTES) -> None:
        self.damage: str | None = None
        self._raw = raw
        self._chunk_bytes = chunk_bytes
        self._inflate = zlib.decompressobj(_GZIP_WBITS)
        self._input = b""  # compressed bytes read from the file
        self._pos = 0  # how many of them have been consumed
        self._offset = 0  # the file offset of _input[0]
        self._member = 0  # the file offset where the current member starts
        self._ended = False

    def read(self, size: int) -> bytes:
        """Decompressed bytes, at most about 4 × ``size``; ``b""`` at the end of the data, damaged or not."""
        # No max_length: zlib then holds no output back, so a failed call loses nothing a byte-wise
        # replay cannot recover. Input slices of size/256 bound the output instead (measured: smaller
        # slices, and so smaller blocks for read_lines, cost 10 %).
        step = max(size // 256, 1)
        while not self._ended:
            if self._inflate.eof and not self._next_member():
                break
            if self._pos == len(self._input) and not self._read_more():
                self._end(f"truncated gzip data: it ends at byte {self._where()}, inside the member "
                          f"that starts at byte {self._member}")
                break
            piece = self._input[self._pos:self._pos + step]
            before = self._inflate.copy()
            try:
                out = self._inflate.decompress(piece)
            except zlib.error as exc:
                return self._salvage(before, piece, exc)
            self._pos += len(piece) - len(self._inflate.unused_data)
            if out:
                return out
        return b""

    def close(self) -> None:
        """Close the file."""
        self._raw.close()

    def _next_member(self) -> bool:
        # gzip(1) and GzipFile accept zero bytes between and after members (tape padding).
        while True:
            found = _NOT_NUL.search(self._input, self._pos)
            self._pos = found.start() if found else len(self._input)
            if len(self._input) - self._pos >= len(_GZIP_MAGIC) or not self._read_more():
                break
        if self._pos == len(self._input):
            self._ended = True
            return False
        if not self._input.startswith(_GZIP_MAGIC, self._pos):
            self._end(f"not gzip data at byte {self._where()}, after the last member: ignored to the end")
            return False
        self._member = self._where()
        self._inflate = zlib.decompressobj(_GZIP_WBITS)
        return True

    def _read_more(self) -> bool:
        more = self._raw.read(self._chunk_bytes)
        self._offset += self._pos
        self._input, self._pos = self._input[self._pos:] + more, 0
        return bool(more)

    def _salvage(self, inflate: zlib._Decompress, piece: bytes, exc: zlib.error) -> bytes:
        # What the failed slice held before the byte that broke it: fed again one byte at a time.
        out = []
        for i in range(len(piece)):
            try:
                out.append(inflate.decompress(piece[i:i + 1]))
            except zlib.error:
                self._pos += i
                break
        reason = str(exc).rpartition(": ")[2]
        self._end(f"damaged gzip data at byte {self._where()}: {_ZLIB_REASONS.get(reason, reason)}")
        return b"".join(out)

    def _where(self) -> int:
        return self._offset + self._pos

    def _end(self, damage: str) -> None:
        self.damage = damage
        self._ended = True


def read_lines(
    stream: BinaryIO | GzipReader, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, block_bytes: int = _READ_CHUNK_BYTES
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
