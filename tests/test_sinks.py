"""Sinks: flush delivers every queued byte or raises with the rest queued; files hold whole lines only."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditproc import sinks
from auditproc.sinks import ConsumerGone, FileSink, OutputBlocked, Sink, SinkError, StreamSink, open_sink

LINES = [b'{"n":%d,"pad":"%s"}\n' % (n, b"x" * (n % 7)) for n in range(40)]
REAL_WRITE = os.write


class Said(list):
    """A ``say`` callback that keeps what it was told."""

    def __call__(self, message: str) -> None:
        self.append(message)


def faulty_write(budgets: list[int], code: int = errno.ENOSPC):
    """An os.write that writes at most budgets[i] bytes on its i-th call, then fails with ``code``."""
    calls = iter(budgets)

    def write(fd: int, data) -> int:
        budget = next(calls, None)
        if budget is None:
            raise OSError(code, os.strerror(code))
        return REAL_WRITE(fd, bytes(data[:budget]))

    return write


def test_a_new_file_is_created_0600(tmp_path: Path) -> None:
    FileSink(tmp_path / "out.ndjson").close()
    assert stat.S_IMODE((tmp_path / "out.ndjson").stat().st_mode) == 0o600


def test_an_existing_files_mode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "out.ndjson"
    path.write_bytes(b"")
    path.chmod(0o644)
    FileSink(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize(
    ("where", "says", "code"),
    [
        ("missing/out.ndjson", "create the directory or choose another --output", errno.ENOENT),
        (".", "name a file, not a directory", errno.EISDIR),
    ],
)
def test_an_unusable_path_is_one_clear_error(tmp_path: Path, where: str, says: str, code: int) -> None:
    path = tmp_path / where
    with pytest.raises(SinkError) as raised:
        FileSink(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: cannot open: {os.strerror(code)}") and says in message
    assert "\n" not in message and not raised.value.retryable


def test_a_fifo_is_written_when_read_and_refused_when_not(tmp_path: Path) -> None:
    fifo = tmp_path / "alerts.fifo"
    os.mkfifo(fifo)
    with pytest.raises(SinkError, match="start the process that reads this FIFO first"):
        FileSink(fifo)
    with open(tmp_path / "got", "wb") as got:
        reader = subprocess.Popen(["cat", str(fifo)], stdout=got)
    try:
        deadline = time.monotonic() + 10
        while True:  # until cat has the FIFO open
            try:
                sink = FileSink(fifo)
                break
            except SinkError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        sink.write(b"".join(LINES))
        sink.flush()
        sink.close()
        assert reader.wait(timeout=10) == 0
    finally:
        reader.kill()
    assert (tmp_path / "got").read_bytes() == b"".join(LINES)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"", b""),
        (b"a\nb\n", b"a\nb\n"),
        (b"torn", b""),
        (b'a\n{"b":', b"a\n"),
        (b"a\n" + b"t" * (3 * sinks.TAIL_CHUNK_BYTES + 5), b"a\n"),
    ],
)
def test_a_torn_last_line_is_cut_on_open(tmp_path: Path, before: bytes, after: bytes) -> None:
    path = tmp_path / "out.ndjson"
    path.write_bytes(before)
    said = Said()
    sink = FileSink(path, said)
    assert path.read_bytes() == after
    assert said == ([f"{path}: cut a torn last line of {len(before) - len(after)} bytes left by an earlier "
                     "run; it is written again whole"] if before != after else [])
    sink.write(b"c\n")
    sink.flush()
    assert path.read_bytes() == after + b"c\n"


def test_reopen_cuts_a_torn_line_too(tmp_path: Path) -> None:
    path = tmp_path / "out.ndjson"
    sink = FileSink(path)
    with open(path, "ab") as other:
        other.write(b"a\nto")
    sink.reopen()
    assert path.read_bytes() == b"a\n"


def _rename(path: Path) -> None:
    path.rename(path.with_suffix(".1"))


def _rename_and_create(path: Path) -> None:  # logrotate's "create 0640"
    _rename(path)
    path.touch()
    path.chmod(0o640)


def _copytruncate(path: Path) -> None:
    path.with_suffix(".1").write_bytes(path.read_bytes())
    os.truncate(path, 0)


@pytest.mark.parametrize(
    ("rotate", "moved", "mode"),
    [(_rename, True, 0o600), (_rename_and_create, True, 0o640), (Path.unlink, True, 0o600),
     (_copytruncate, False, 0o600)],
    ids=["rename", "create", "delete", "copytruncate"],
)
def test_a_rotated_file_is_followed_to_its_path(tmp_path: Path, rotate, moved: bool, mode: int) -> None:
    path, said = tmp_path / "out.ndjson", Said()
    sink = FileSink(path, said)
    sink.write(LINES[0])
    sink.flush()
    rotate(path)
    sink.write(LINES[1])
    sink.flush()
    sink.write(LINES[2])
    sink.flush()
    assert path.read_bytes() == LINES[1] + LINES[2]
    assert stat.S_IMODE(path.stat().st_mode) == mode
    if path.with_suffix(".1").exists():
        assert path.with_suffix(".1").read_bytes() == LINES[0]
    assert said == ([f"{path} was renamed or deleted: writing to a new file at that path"] if moved else [])


def test_reopen_opens_the_path_at_once(tmp_path: Path) -> None:
    path = tmp_path / "out.ndjson"
    sink = FileSink(path)
    _rename(path)
    sink.reopen()
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_enospc_mid_flush_leaves_whole_lines_and_retries_the_rest(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "out.ndjson"
    sink = FileSink(path)
    sink.write(b"".join(LINES[:3]))
    monkeypatch.setattr(sinks.os, "write", faulty_write([len(LINES[0]) + 5]))
    with pytest.raises(SinkError) as raised:
        sink.flush()
    assert raised.value.retryable and "No space left on device" in str(raised.value)
    assert path.read_bytes() == LINES[0]
    assert sink.pending == len(LINES[1] + LINES[2])
    monkeypatch.setattr(sinks.os, "write", REAL_WRITE)
    sink.flush()
    assert path.read_bytes() == b"".join(LINES[:3]) and sink.pending == 0


def test_dev_full_is_a_retryable_error(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    sink = FileSink("/dev/full")
    sink.write(LINES[0])
    with pytest.raises(SinkError) as raised:
        sink.flush()
    assert raised.value.retryable and str(raised.value).startswith("/dev/full: cannot write: No space left")
    assert sink.pending == len(LINES[0])


@pytest.fixture
def small_tmpfs() -> Iterator[Path]:
    """A 64 KiB tmpfs, where mounting one is permitted."""
    with tempfile.TemporaryDirectory() as where:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", where],
                                 capture_output=True, timeout=10)
        if mounted.returncode != 0:
            pytest.skip("mounting a tmpfs is not permitted here")
        try:
            yield Path(where)
        finally:
            subprocess.run(["umount", where], check=True, timeout=10)


def test_a_full_filesystem_keeps_whole_lines_and_delivers_the_rest_once(small_tmpfs: Path) -> None:
    filler = small_tmpfs / "filler"
    filler.write_bytes(b"f" * 40 * 1024)
    lines = [b'{"n":%05d,"pad":"%s"}\n' % (n, b"p" * 200) for n in range(200)]  # 44 KiB
    sink = FileSink(small_tmpfs / "out.ndjson")
    sink.write(b"".join(lines))
    try:
        with pytest.raises(SinkError) as raised:
            sink.flush()
        assert raised.value.retryable
        written = (small_tmpfs / "out.ndjson").read_bytes()
        assert written.endswith(b"\n") and written == b"".join(lines)[: len(written)]
        assert len(written) + sink.pending == len(b"".join(lines))
        filler.unlink()
        sink.flush()
    finally:
        sink.close()
    assert (small_tmpfs / "out.ndjson").read_bytes() == b"".join(lines)


def test_a_reader_gone_is_consumer_gone() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    sink = StreamSink(write_end)
    sink.write(LINES[0])
    try:
        with pytest.raises(ConsumerGone) as raised:
            sink.flush()
        assert not raised.value.retryable and "the reader went away" in str(raised.value)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("given_to", ["constructor", "flush"])
def test_a_stuck_reader_and_a_stop_give_output_blocked(given_to: str) -> None:
    """A reader that stops reading finds whole lines in the pipe, as long as each line fits in the free
    space of the pipe (64 KiB when empty); a longer line is written in parts and may be left torn."""
    read_end, write_end = os.pipe()
    asked = []

    def should_stop() -> bool:
        asked.append(True)
        return True

    sink = StreamSink(write_end, should_stop if given_to == "constructor" else None)
    stream = b"".join(LINES) * 100  # ~100 KiB: more than the pipe holds
    sink.write(stream)
    try:
        with pytest.raises(OutputBlocked) as raised:
            sink.flush(should_stop if given_to == "flush" else None)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as reader:
            delivered = reader.read()
    finally:
        for fd in (read_end, write_end):
            with contextlib.suppress(OSError):
                os.close(fd)
    assert asked and raised.value.retryable
    assert delivered and delivered.endswith(b"\n") and stream.startswith(delivered)
    assert len(delivered) + sink.pending == len(stream)


def test_a_pipe_with_a_reader_gets_everything(tmp_path: Path) -> None:
    stream = b"".join(LINES) * 1000  # ~1 MiB, many times what the pipe holds
    with open(tmp_path / "got", "wb") as got:
        reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=got)
    sink = StreamSink(reader.stdin.fileno())
    sink.write(stream)
    try:
        sink.flush()
        reader.stdin.close()
        assert reader.wait(timeout=10) == 0
    finally:
        reader.kill()
    assert (tmp_path / "got").read_bytes() == stream


@pytest.mark.parametrize(
    ("spec", "kind", "name"),
    # stdout: a StreamSink on its descriptor, or (under pytest's capture, which has none) a plain Sink
    [(None, Sink, "stdout"), ("-", Sink, "stdout"), ("out.ndjson", FileSink, "out.ndjson"),
     ("file://{tmp}/u.ndjson", FileSink, "{tmp}/u.ndjson"), ("./odd://name", FileSink, "./odd://name")],
)
def test_open_sink_by_spec(tmp_path: Path, monkeypatch, spec: str | None, kind: type, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "odd:").mkdir()
    sink = open_sink(spec.format(tmp=tmp_path) if spec else spec)
    assert isinstance(sink, kind) and sink.name == name.format(tmp=tmp_path)
    sink.close()


def test_open_sink_refuses_an_unknown_scheme() -> None:
    with pytest.raises(SinkError, match=r"^gopher://h:70: unknown output scheme gopher://: .*syslog\+tcp://"):
        open_sink("gopher://h:70")


line_text = st.binary(max_size=30).map(lambda raw: raw.replace(b"\n", b"") + b"\n")
# A failing flush: how many bytes each os.write call may write before one fails with ENOSPC.
failure = st.lists(st.integers(min_value=1, max_value=40), max_size=4)


@given(st.lists(st.tuples(st.lists(line_text, max_size=6), st.lists(failure, max_size=3)), max_size=8))
def test_a_file_is_always_a_prefix_of_whole_lines_and_finally_all(steps) -> None:
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "out.ndjson"
        sink = FileSink(path)
        expected = b""
        for lines, failures in steps:
            for line in lines:
                sink.write(line)
                expected += line
            for budgets in failures:
                sinks.os.write = faulty_write(budgets)
                try:
                    sink.flush()
                except SinkError:
                    pass
                finally:
                    sinks.os.write = REAL_WRITE
                content = path.read_bytes()
                assert content == expected[: len(content)] and (not content or content.endswith(b"\n"))
                assert len(content) + sink.pending == len(expected)
            sink.flush()
            assert path.read_bytes() == expected and sink.pending == 0
        sink.close()
