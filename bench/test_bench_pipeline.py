"""Throughput of the hot path, stage by stage, on a generated ~200k-line audit log.

    .venv/bin/pytest bench/test_bench_pipeline.py --benchmark-enable

Each stage includes the ones before it, so the differences between rows are the cost of a
stage: read → parse headers → group into events (the reading side: all that ``--jobs N`` keeps in
one process) → ECS documents + JSON. Every stage runs the pipeline's own components as
``auditproc events`` does, once with ``--category process`` (exec events only: the rest is
dropped on its SYSCALL record) and once with every event. Set AUDITPROC_BENCH_LINES to change the
size (default 200000) and AUDITPROC_BENCH_PROFILE to ``sparse`` (default) or ``dense``.

``test_floor`` is not a stage of the product but the least any normaliser of this design can spend in
Python: the reading side, every record of each wanted event split into fields, and each document
made as a dict and written as JSON by orjson (C: faster than Python code building the same dict).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from gen_log import write_log

from auditproc.output import dumps_line
from auditproc.parse import LineParser, ParseError
from auditproc.pipeline import ExecPipeline, PipelineSettings, Reporter, RunStats
from auditproc.sources import read_lines

LINES = int(os.environ.get("AUDITPROC_BENCH_LINES", "200000"))
PROFILE = os.environ.get("AUDITPROC_BENCH_PROFILE", "sparse")
ROUNDS = 3  # each round reads the whole file: seconds, not microseconds
CATEGORIES = {"process": ("process",), "all": None}  # --category → PipelineSettings.kinds


@pytest.fixture(scope="session", params=["raw", "enriched"])
def audit_log(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated log (raw, or ENRICHED with node=), written once per session."""
    enriched = request.param == "enriched"
    path = tmp_path_factory.mktemp("bench") / f"audit-{request.param}.log"
    write_log(path, LINES, seed=1, enriched=enriched, node="web01" if enriched else None, profile=PROFILE)
    return path


@pytest.fixture(params=list(CATEGORIES))
def settings(request: pytest.FixtureRequest) -> PipelineSettings:
    return dataclasses.replace(PipelineSettings(), kinds=CATEGORIES[request.param])


def _run(benchmark, fn, *args: object) -> object:
    result = benchmark.pedantic(fn, args=args, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None with --benchmark-disable
        benchmark.extra_info["lines_per_s"] = round(LINES / stats.stats.min)
    return result


class _GroupOnly(ExecPipeline):
    """The reading side alone: completed events are counted and dropped, never normalised."""

    completed = 0

    def _normalize(self) -> Iterator[dict]:
        self.completed += len(self.ready)
        self.ready.clear()
        return iter(())


class _SplitOnly(_GroupOnly):
    """The reading side, and every record of each completed event split into its fields."""

    def _normalize(self) -> Iterator[dict]:
        for event in self.ready:
            for record in event.records:
                record.fields  # noqa: B018 - the split is what is measured
        return super()._normalize()


def read_only(path: Path) -> int:
    """Baseline: split the file into lines."""
    with path.open("rb") as stream:
        return sum(1 for _ in read_lines(stream))


def parse_only(path: Path) -> int:
    """read + ``LineParser.parse`` (headers only; bodies stay lazy)."""
    parse = LineParser().parse
    with path.open("rb") as stream:
        return sum(1 for line in read_lines(stream) if line and parse(line).__class__ is not ParseError)


def _read_through(pipe: _GroupOnly, path: Path) -> None:
    """Feed the whole of ``path`` to a pipeline that emits nothing, and finish it."""
    with path.open("rb") as stream:
        for _ in pipe.feed(read_lines(stream), path.name):
            pass
    for _ in pipe.finish():
        pass


def group(path: Path, settings: PipelineSettings) -> int:
    """read + parse + the assembler, as the pipeline feeds it (events it does not want skipped)."""
    pipe = _GroupOnly(settings, RunStats(), Reporter())
    _read_through(pipe, path)
    return pipe.completed


def _document_lines(path: Path, settings: PipelineSettings) -> Iterator[bytes]:
    """The JSON lines ``auditproc events -j 1`` writes for ``path``."""
    pipe = ExecPipeline(settings, RunStats(), Reporter())
    with path.open("rb") as stream:
        for doc in itertools.chain(pipe.feed(read_lines(stream), path.name), pipe.finish()):
            yield dumps_line(doc)


def documents(path: Path, settings: PipelineSettings) -> int:
    """``auditproc events -j 1`` minus the process start: documents built, enriched and serialised."""
    return sum(1 for line in _document_lines(path, settings) if line)


def floor(path: Path, settings: PipelineSettings, documents_json: list[bytes]) -> int:
    """The reading side, every record of the wanted events split, and the documents made and written
    (``orjson.loads`` of the JSON ``documents`` wrote, then ``orjson.dumps``)."""
    _read_through(_SplitOnly(settings, RunStats(), Reporter()), path)
    return sum(1 for line in documents_json if orjson.dumps(orjson.loads(line)))


def test_read(benchmark, audit_log: Path) -> None:
    """Stage 0: lines."""
    assert _run(benchmark, read_only, audit_log) == LINES


def test_parse(benchmark, audit_log: Path) -> None:
    """Stage 1: records."""
    assert _run(benchmark, parse_only, audit_log) == LINES


def test_group(benchmark, audit_log: Path, settings: PipelineSettings) -> None:
    """Stage 2: events, of the wanted kinds (the reading process of --jobs N)."""
    assert _run(benchmark, group, audit_log, settings) > 0


def test_documents(benchmark, audit_log: Path, settings: PipelineSettings) -> None:
    """Stage 3: ECS documents as JSON lines."""
    assert _run(benchmark, documents, audit_log, settings) > 0


def test_floor(benchmark, audit_log: Path, settings: PipelineSettings) -> None:
    """Not a stage: the pure-Python floor of stage 3 (see the module docstring)."""
    documents_json = list(_document_lines(audit_log, settings))
    assert _run(benchmark, floor, audit_log, settings, documents_json) == len(documents_json)
