"""Throughput of the hot path, stage by stage, on a generated ~200k-line audit log.

    .venv/bin/pytest bench/test_bench_pipeline.py --benchmark-enable

Each stage includes the ones before it, so the differences between rows are the cost of a
stage: read → parse → assemble (as ``events`` filters) → ECS + orjson. Set
AUDITPROC_BENCH_LINES to change the size (default 200000).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import orjson
import pytest
from gen_log import write_log

from auditproc.assemble import Assembler
from auditproc.normalize import EcsSettings, Normalizer
from auditproc.parse import ParseError, parse_line
from auditproc.pipeline import PipelineSettings, Reporter, RunStats, iter_documents
from auditproc.sources import read_lines

LINES = int(os.environ.get("AUDITPROC_BENCH_LINES", "200000"))
ROUNDS = 3  # each round reads the whole file: seconds, not microseconds
# The pipeline's SYSCALL filter has been renamed as the pipeline grew; use this tree's.
NORMALIZER = Normalizer(EcsSettings())


@pytest.fixture(scope="session", params=["raw", "enriched"])
def audit_log(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated log (raw, or ENRICHED with node=), written once per session."""
    enriched = request.param == "enriched"
    path = tmp_path_factory.mktemp("bench") / f"audit-{request.param}.log"
    write_log(path, LINES, seed=1, enriched=enriched, node="web01" if enriched else None)
    return path


def _run(benchmark, fn, path: Path) -> object:
    result = benchmark.pedantic(fn, args=(path,), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None with --benchmark-disable
        benchmark.extra_info["lines_per_s"] = round(LINES / stats.stats.min)
    return result


def read_only(path: Path) -> int:
    """Baseline: split the file into lines."""
    n = 0
    with path.open("rb") as stream:
        for _ in read_lines(stream):
            n += 1
    return n


def parse_only(path: Path) -> int:
    """read + ``parse_line`` (header only; bodies stay lazy)."""
    n = 0
    with path.open("rb") as stream:
        for line in read_lines(stream):
            if line and parse_line(line).__class__ is not ParseError:
                n += 1
    return n


def parse_assemble(path: Path) -> int:
    """read + parse + Assembler with the filters ``auditproc events`` uses."""
    events: list = []
    asm = Assembler(events.append, wanted_types=NORMALIZER.wanted_types, wanted_syscall=NORMALIZER.wanted_syscall)
    with path.open("rb") as stream:
        for line in read_lines(stream):
            if line:
                rec = parse_line(line)
                if rec.__class__ is not ParseError:
                    asm.push(rec)
    asm.flush()
    return len(events)


def parse_assemble_all(path: Path) -> int:
    """read + parse + Assembler grouping every record (no filters): the worst case."""
    events: list = []
    asm = Assembler(events.append)
    with path.open("rb") as stream:
        for line in read_lines(stream):
            if line:
                rec = parse_line(line)
                if rec.__class__ is not ParseError:
                    asm.push(rec)
    asm.flush()
    return len(events)


def full_pipeline(path: Path) -> int:
    """``auditproc events`` minus the process start: iter_documents + orjson per document."""
    out = io.BytesIO()
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    n = 0
    for doc in iter_documents([str(path)], PipelineSettings(), RunStats(), Reporter(io.StringIO())):
        out.write(dumps(doc, option=newline))
        n += 1
    return n


def test_read(benchmark, audit_log: Path) -> None:
    """Stage 0: lines."""
    assert _run(benchmark, read_only, audit_log) == LINES


def test_parse(benchmark, audit_log: Path) -> None:
    """Stage 1: records."""
    assert _run(benchmark, parse_only, audit_log) == LINES


def test_parse_assemble(benchmark, audit_log: Path) -> None:
    """Stage 2: exec events (non-exec events dropped on their SYSCALL)."""
    assert _run(benchmark, parse_assemble, audit_log) > 0


def test_parse_assemble_unfiltered(benchmark, audit_log: Path) -> None:
    """Stage 2': every event grouped, as the corpus test does."""
    assert _run(benchmark, parse_assemble_all, audit_log) > 0


def test_full_pipeline(benchmark, audit_log: Path) -> None:
    """Stage 3: ECS documents serialised with orjson."""
    assert _run(benchmark, full_pipeline, audit_log) > 0
