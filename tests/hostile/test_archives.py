"""Damaged archives and special files as batch inputs (issue #10): bad input never costs a good event.

- a truncated gzip anywhere in a rotated set: its readable part, then the newer files; named with the offset
- corrupt deflate data, a CRC error: everything before the damage, named, the newer files read
- gzip data followed by bytes that are no gzip: every event of the gzip data, the rest named
- concatenated members (``cat a.gz b.gz``) and zero padding: all read, no error
- sockets and devices refused in one line; FIFOs (``<(zcat old.gz)``) and ``/dev/stdin`` read
"""

from __future__ import annotations

import gzip
import io
import os
import re
import socket
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from auditproc.cli import app

from .conftest import exec_event, ndjson_lines

JOBS = pytest.mark.parametrize("jobs", ["1", "2"])


def _log(serials: range) -> bytes:
    return b"".join(b"\n".join(exec_event(s)) + b"\n" for s in serials)


def _events(*args: str) -> tuple[list[int], str, int]:
    """Serials of the documents ``auditproc events`` prints, its stderr and exit code."""
    result = CliRunner().invoke(app, ["events", "--host", "h", *args])
    assert "Aborted" not in result.output and "Traceback" not in result.stderr, result.output
    return [d["event"]["sequence"] for d in ndjson_lines(result.stdout_bytes)], result.stderr, result.exit_code


def _readable_part(data: bytes) -> bytes:
    """The obvious reader: one byte at a time into zlib, until the data ends or breaks."""
    inflate, out = zlib.decompressobj(31), []
    for i in range(len(data)):
        try:
            out.append(inflate.decompress(data[i:i + 1]))
        except zlib.error:
            break
    return b"".join(out)


def _complete_serials(text: bytes) -> set[int]:
    """Serials of the events whose last line (PROCTITLE) is whole in ``text``."""
    return {int(m) for m in re.findall(rb"type=PROCTITLE msg=audit\(\d+\.\d+:(\d+)\): proctitle=\w+\n", text)}


def _rotated_set(tmp_path: Path, oldest: bytes) -> Path:
    """audit.log.3.gz (``oldest``, serials 1-200) … audit.log.1, audit.log (serials 201-230)."""
    (tmp_path / "audit.log.3.gz").write_bytes(oldest)
    (tmp_path / "audit.log.2.gz").write_bytes(gzip.compress(_log(range(201, 211))))
    (tmp_path / "audit.log.1").write_bytes(_log(range(211, 221)))
    (tmp_path / "audit.log").write_bytes(_log(range(221, 231)))
    return tmp_path


OLDEST = _log(range(1, 201))
NEWER = list(range(201, 231))


def _damaged(kind: str) -> bytes:
    packed = gzip.compress(OLDEST)
    if kind == "truncated":
        return packed[:len(packed) // 2]
    if kind == "corrupt":  # a deflate block of the reserved type 3 after the first half
        pack, half = zlib.compressobj(wbits=31), OLDEST.index(b"type=SYSCALL msg=audit(1718000000.100:101)")
        return pack.compress(OLDEST[:half]) + pack.flush(zlib.Z_FULL_FLUSH) + b"\x06" + pack.compress(OLDEST[half:]) + pack.flush()
    crc = bytearray(packed)
    crc[-8] ^= 1  # the CRC32 in the trailer
    return bytes(crc)


@JOBS
@pytest.mark.parametrize("kind", ["truncated", "corrupt", "crc"])
def test_a_damaged_gzip_in_a_rotated_set_costs_only_what_is_damaged(tmp_path: Path, jobs: str, kind: str) -> None:
    damaged = _damaged(kind)
    serials, err, code = _events("-j", jobs, str(_rotated_set(tmp_path, damaged)))
    assert code == 1
    readable = _complete_serials(_readable_part(damaged)) if kind != "crc" else set(range(1, 201))
    assert len(readable) > 50
    assert readable <= set(serials[:-len(NEWER)]) and serials[-len(NEWER):] == NEWER
    said = err.splitlines()[-1]  # after the partial last line, if any, is reported as malformed
    assert said.startswith(f"auditproc: {tmp_path / 'audit.log.3.gz'}:") and re.search(r"at byte \d+", said), err
    assert {"truncated": "truncated", "corrupt": "invalid block type", "crc": "CRC check failed"}[kind] in said


@JOBS
def test_the_partial_last_line_of_a_truncated_gzip_is_kept(tmp_path: Path, jobs: str) -> None:
    # A member with neither last block nor trailer that ends inside the last PROCTITLE ("6C73", "ls").
    data = _log(range(1, 4))
    pack = zlib.compressobj(wbits=31)
    log = tmp_path / "audit.log.gz"
    log.write_bytes(pack.compress(data[:data.rindex(b"proctitle=") + 12]) + pack.flush(zlib.Z_SYNC_FLUSH))
    result = CliRunner().invoke(app, ["events", "--host", "h", "-j", jobs, str(log)])
    docs = list(ndjson_lines(result.stdout_bytes))
    assert result.exit_code == 1 and "truncated" in result.stderr
    assert [(d["event"]["sequence"], d["process"]["title"]) for d in docs] == [(1, "ls"), (2, "ls"), (3, "l")]


@JOBS
def test_gzip_data_followed_by_garbage_keeps_every_event_and_names_the_rest(tmp_path: Path, jobs: str) -> None:
    packed = gzip.compress(_log(range(1, 11)))
    log = tmp_path / "audit.log.1.gz"
    log.write_bytes(packed + b"garbage, not gzip\n")
    serials, err, code = _events("-j", jobs, str(log))
    assert serials == list(range(1, 11)) and code == 1
    assert f"{log}:" in err and f"at byte {len(packed)}" in err and "not gzip" in err, err


@JOBS
def test_concatenated_members_and_zero_padding_are_read_whole(tmp_path: Path, jobs: str) -> None:
    log = tmp_path / "audit.log.1.gz"
    log.write_bytes(gzip.compress(_log(range(1, 6))) + gzip.compress(_log(range(6, 11))) + b"\0" * 3000
                    + gzip.compress(_log(range(11, 16))) + b"\0" * 512)
    serials, err, code = _events("-j", jobs, str(log))
    assert (serials, err, code) == (list(range(1, 16)), "", 0)


def test_a_damaged_ndjson_gzip_keeps_its_readable_documents(tmp_path: Path) -> None:
    docs = b"".join(b'{"@timestamp": "2024-06-10T06:13:20Z", "event": {"category": ["process"]}, "n": %d}\n' % n
                    for n in range(2000))
    packed = gzip.compress(docs)
    log = tmp_path / "export.ndjson.gz"
    log.write_bytes(packed[:len(packed) // 2])
    result = CliRunner().invoke(app, ["replay", "--input-format", "ecs", "--stats", str(log)])
    assert result.exit_code == 1 and f"{log}:" in result.stderr and "truncated" in result.stderr
    readable = _readable_part(log.read_bytes())
    lines = readable.count(b"\n") + (not readable.endswith(b"\n"))  # the partial last line counts too
    assert f"  lines: {lines}  " in result.stderr


# --- the reader against the obvious one ----------------------------------------------------------


def _read_all(data: bytes, chunk_bytes: int, size: int) -> tuple[bytes, str | None]:
    from auditproc.sources import GzipReader

    reader = GzipReader(io.BytesIO(data), chunk_bytes)
    out = []
    while block := reader.read(size):
        out.append(block)
    assert reader.read(size) == b""
    return b"".join(out), reader.damage


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 255), st.sampled_from(["cut", "flip"]),
       st.sampled_from([1, 7, 100, 1 << 20]), st.sampled_from([1, 10, 1 << 20]))
def test_the_gzip_reader_yields_what_the_obvious_reader_does(where, byte, how, chunk_bytes, size) -> None:
    packed = gzip.compress(_log(range(1, 6)))
    at = where % len(packed)
    data = packed[:at] if how == "cut" else packed[:at] + bytes([packed[at] ^ (byte or 1)]) + packed[at + 1:]
    out, damage = _read_all(data, chunk_bytes, size)
    assert out == _readable_part(data)
    assert damage is not None or (how == "flip" and 3 <= at < 10)  # FTEXT, MTIME, XFL, OS: unchecked


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 1 << 20])
def test_the_gzip_reader_reads_members_across_chunk_boundaries(chunk_bytes: int) -> None:
    data = gzip.compress(b"a\n") + b"\0\0" + gzip.compress(b"b\n" * 1000, mtime=0) + gzip.compress(b"")
    assert _read_all(data, chunk_bytes, 100) == (b"a\n" + b"b\n" * 1000, None)


def test_a_gzip_bomb_comes_out_in_bounded_blocks() -> None:
    from auditproc.sources import GzipReader

    reader = GzipReader(io.BytesIO(gzip.compress(b"\0" * (64 << 20))))
    sizes = []
    while block := reader.read(1 << 20):
        sizes.append(len(block))
    assert sum(sizes) == 64 << 20 and max(sizes) <= 1032 * (1 << 20) // 256 and reader.damage is None  # deflate: 1032:1


# --- special files --------------------------------------------------------------------------------


@JOBS
def test_a_socket_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str) -> None:
    monkeypatch.chdir(tmp_path)  # a short name: socket paths are limited to about 100 bytes
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("sock")
        (tmp_path / "audit.log").write_bytes(_log(range(1, 3)))
        serials, err, code = _events("-j", jobs, "sock", "audit.log")
    assert (serials, err, code) == ([1, 2], "auditproc: sock: is a socket, not a log file\n", 1)


@JOBS
@pytest.mark.parametrize(("device", "kind"), [("/dev/zero", "character device"), ("/dev/null", "character device")])
def test_a_device_is_refused_in_one_line(jobs: str, device: str, kind: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "auditproc.cli", "events", "-j", jobs, device],
                          capture_output=True, timeout=60)
    assert (proc.stdout, proc.stderr.decode(), proc.returncode) == (b"", f"auditproc: {device}: is a {kind}, not a log file\n", 1)


@JOBS
def test_a_fifo_is_read(tmp_path: Path, jobs: str) -> None:
    fifo = tmp_path / "fifo"
    log = tmp_path / "audit.log.1.gz"
    log.write_bytes(gzip.compress(_log(range(1, 4))))
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", 'cat "$0" > "$1"', log, fifo])
    serials, err, code = _events("-j", jobs, str(fifo))
    writer.wait(timeout=30)
    assert (serials, err, code) == ([1, 2, 3], "", 0)


@JOBS
def test_process_substitution_and_dev_stdin_are_read(tmp_path: Path, jobs: str) -> None:
    log = tmp_path / "audit.log.1.gz"
    log.write_bytes(gzip.compress(_log(range(1, 4))))
    cli = f"{sys.executable} -m auditproc.cli events -j {jobs}"
    for command in [f"{cli} <(cat {log})", f"cat {log} | {cli} /dev/stdin", f"{cli} /dev/stdin < {log}"]:
        proc = subprocess.run(["bash", "-c", command], capture_output=True, timeout=60)
        assert (proc.stderr, proc.returncode) == (b"", 0), command
        assert [d["event"]["sequence"] for d in ndjson_lines(proc.stdout)] == [1, 2, 3], command
