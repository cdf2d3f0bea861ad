"""Fuzz targets, importable without atheris: each takes bytes and must neither raise nor hang."""

from __future__ import annotations

import io

import orjson

from auditproc.assemble import AuditEvent
from auditproc.normalize import EcsSettings, Normalizer
from auditproc.parse import ParseError, Record, parse_line
from auditproc.pipeline import ExecPipeline, PipelineSettings, Reporter, RunStats, printable

ECS = EcsSettings(host_name="fuzz", max_argv_bytes=1 << 12)
NORMALIZER = Normalizer(ECS)
KEYS = ("comm", "exe", "cwd", "name", "proctitle", "a0", "a1[0]", "argc", "msg", "key", "_text")


def parse_one(data: bytes) -> None:
    """parse_line, every field accessor, then the ECS document of an event made of that record."""
    for truncated in (False, True):
        rec = parse_line(data, truncated)
        if isinstance(rec, ParseError):
            assert rec.raw is data
            continue
        assert isinstance(rec, Record)
        rec.fields, rec.enriched  # noqa: B018 - the lazy split is what is fuzzed
        for key in (*KEYS, *rec.fields):
            rec.text(key)
        event = AuditEvent(rec.node, rec.id, rec.time_ms, rec.serial, [rec])
        _check(NORMALIZER.document(event))


def pipeline(data: bytes) -> None:
    """The whole ExecPipeline over a multi-line buffer, with small bounds so the fuzzer reaches them."""
    err = io.StringIO()
    settings = PipelineSettings(max_inflight=8, max_line_bytes=1024, ecs=ECS, max_processes=8)
    pipe = ExecPipeline(settings, RunStats(), Reporter(err, limit=5))
    for doc in [*pipe.feed(data.split(b"\n"), "fuzz"), *pipe.finish()]:
        _check(doc)
    assert all(line == printable(line) for line in err.getvalue().splitlines())


def _check(doc: dict | None) -> None:
    """The document serialises to one line of UTF-8 JSON."""
    if doc is not None:
        line = orjson.dumps(doc)
        assert b"\n" not in line and orjson.loads(line.decode("utf-8")) == doc
