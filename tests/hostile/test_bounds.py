"""Every resource bound, driven past its limit: memory and state stay bounded and nothing is lost silently."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Iterator

import pytest

from auditproc import assemble
from auditproc.assemble import Assembler, AuditEvent
from auditproc.normalize import EcsSettings, Normalizer
from auditproc.parse import LineParser, parse_line
from auditproc.pipeline import ExecPipeline, PipelineSettings, Reporter, RunStats
from auditproc.proctree import ProcessTable
from auditproc.sources import read_lines

from .conftest import documents, exec_event, header

SYSCALL = b"arch=c000003e syscall=59 success=yes exit=0 items=0 ppid=1 pid=7 uid=0 comm=\"x\" exe=\"/x\""


def _syscalls(count: int) -> Iterator[bytes]:
    for serial in range(1, count + 1):  # one timestamp, no EOE: only overflow can complete them
        yield header("SYSCALL", serial) + SYSCALL


def test_max_inflight_bounds_the_table_and_overflow_emits_every_event() -> None:
    out: list[AuditEvent] = []
    normalizer = Normalizer(EcsSettings())
    asm = Assembler(out.append, max_inflight=64, wanted_types=normalizer.wanted_types,
                    wanted_syscall=normalizer.wanted_syscall)
    parser = LineParser()
    largest = 0
    for line in _syscalls(300_000):
        asm.push(parser.parse(line))  # type: ignore[arg-type]
        largest = max(largest, len(asm))
    asm.flush()
    assert largest <= 64
    assert len(out) == 300_000 and asm.stats.by_cause["overflow"] == 300_000 - 64


def test_max_inflight_through_the_pipeline_loses_nothing() -> None:
    pipe = ExecPipeline(PipelineSettings(max_inflight=16), RunStats(), Reporter(io.StringIO()), enrich=False)
    lines = (line for n in range(1, 20_001) for line in exec_event(n, [b"id"]))
    count = sum(1 for _ in pipe.feed(lines, "gen")) + sum(1 for _ in pipe.finish())
    assert count == 20_000 and len(pipe.assembler) == 0


class _LazyLog(io.RawIOBase):
    """A log served in chunks, never whole: an event, one line of ``huge`` bytes, an event."""

    def __init__(self, huge: int) -> None:
        first = b"\n".join(exec_event(1, [b"before"])) + b"\n" + header("EXECVE", 2, 150) + b"a0="
        last = b"\n" + b"\n".join(exec_event(3, [b"after"], ms=200)) + b"\n"
        self._parts = iter([first, *([b"41" * (1 << 19)] * (huge >> 20)), last])
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        while not self._rest:
            self._rest = next(self._parts, b"")
            if not self._rest:
                return 0
        n = min(len(buffer), len(self._rest))
        buffer[:n], self._rest = self._rest[:n], self._rest[n:]
        return n


def test_a_100_mb_line_is_cut_in_bounded_memory_and_the_next_event_still_parsed() -> None:
    stats, err = RunStats(), io.StringIO()
    pipe = ExecPipeline(PipelineSettings(), stats, Reporter(err), enrich=False)
    tracemalloc.start()
    try:
        stream = io.BufferedReader(_LazyLog(100 << 20), 1 << 20)
        docs = [*pipe.feed(read_lines(stream), "lazy"), *pipe.finish()]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert stats.oversized == 1 and "line longer than" in err.getvalue()
    assert 16 << 20 < peak < 60 << 20, peak  # the cap (16 MiB) and a few copies, not the 100 MiB line
    args = {d["event"]["sequence"]: d["process"].get("args") for d in docs}
    assert args[1] == ["before"] and args[3] == ["after"]


def test_a_configured_line_cap_is_honoured() -> None:
    data = b"\n".join([header("PATH", 9) + b"x" * 50_000, *exec_event(1)]) + b"\n"
    docs, stats, _ = documents(data, max_line_bytes=1024)
    assert stats.oversized == 1 and [d["event"]["sequence"] for d in docs] == [1]


def test_argc_100000() -> None:
    args = [b"%d" % i for i in range(100_000)]
    lines = exec_event(1, [b"x"])
    body = [b"argc=100000"] + [b"a%d=%s" % (i, a.hex().encode()) for i, a in enumerate(args)]
    records = [body[i:i + 700] for i in range(0, len(body), 700)]  # the kernel keeps records < 7.5 KB
    lines[1:2] = [header("EXECVE", 1) + b" ".join(chunk) for chunk in records]
    docs, _, _ = documents(b"\n".join(lines) + b"\n")
    process = docs[0]["process"]
    assert process["args_count"] == 100_000 and process["args"][-1] == "99999" and len(process["args"]) == 100_000


def test_thousands_of_path_records_are_capped_and_said() -> None:
    lines = exec_event(1, [b"ls"], paths=[b"/p%d" % i for i in range(6_000)])
    docs, _, _ = documents(b"\n".join(lines) + b"\n")
    doc = docs[0]
    kept = assemble.DEFAULT_MAX_RECORDS_PER_EVENT
    assert len(doc["auditd"]["paths"]) <= kept
    assert "records beyond the per-event cap were dropped" in doc["error"]["message"]


def test_a_configured_records_cap() -> None:
    out: list[AuditEvent] = []
    asm = Assembler(out.append, max_records=10)
    for i in range(1_000):
        asm.push(parse_line(header("PATH", 1) + b"item=%d" % i))  # type: ignore[arg-type]
    asm.flush()
    assert len(out[0].records) == 10 and out[0].dropped_records == 990


def test_a_gigantic_hex_argument_is_truncated_with_the_marker() -> None:
    lines = exec_event(1, [b"sh", b"A" * (3 << 20), b"tail"])
    docs, _, _ = documents(b"\n".join(lines) + b"\n")
    process, error = docs[0]["process"], docs[0]["error"]["message"]
    assert process["args"][0] == "sh" and "truncated by auditproc" in process["args"][-1]
    assert sum(map(len, process["args"])) < 2 << 20
    assert "process.args truncated" in error and "1048576 bytes" in error


def test_a_configured_argv_cap() -> None:

    docs, _, _ = documents(b"\n".join(exec_event(1, [b"a" * 100, b"b" * 100])) + b"\n",
                           ecs=EcsSettings(max_argv_bytes=150))
    assert docs[0]["process"]["args"][0] == "a" * 100 and "truncated" in docs[0]["error"]["message"]


def test_a_forged_argc_costs_no_more_than_the_arguments_present() -> None:
    lines = exec_event(1, [b"x"])
    lines[1] = header("EXECVE", 1) + b"argc=4000000000 a0=78"
    docs, _, _ = documents(b"\n".join(lines) + b"\n")
    assert len(docs[0]["process"]["args"]) <= 2


def test_the_process_table_is_bounded() -> None:
    table = ProcessTable(max_processes=100)
    for pid in range(10_000):
        table.remember(pid, {"name": "p"})
    assert len(table) <= 100


def test_recent_keys_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assemble, "RECENT_KEYS", 50)
    asm = Assembler(lambda e: None)
    for serial in range(1, 5_001):
        asm.push(parse_line(header("SYSCALL", serial) + SYSCALL))  # type: ignore[arg-type]
        asm.push(parse_line(header("EOE", serial)))  # type: ignore[arg-type]
    assert len(asm._recent) <= 50


def test_the_record_type_cache_is_bounded() -> None:
    parser = LineParser()
    for n in range(10_000):
        parser.parse(header(f"T{n}", 1) + b"x=1")
    assert len(parser._types) <= 4096


def test_the_reporter_is_rate_limited() -> None:
    data = b"".join(b"garbage %d\n" % n for n in range(10_000)) + b"\n".join(exec_event(1)) + b"\n"
    docs, stats, err = documents(data)
    assert len(err.splitlines()) == 21 and sum(stats.malformed.values()) == 10_000 and len(docs) == 1


def test_the_process_table_bounds_its_bytes() -> None:
    table = ProcessTable()
    tracemalloc.start()
    try:
        for pid in range(1_000):
            table.remember(pid, {"name": "p", "args": ["x" * 100_000]})
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < 32 << 20, held
