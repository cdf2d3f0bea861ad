"""auditproc's EQL engine: Elasticsearch's EQL (single events, sequences, samples) on ECS dicts."""

from __future__ import annotations

from .ast import EventQuery, Piped, SampleQuery, SequenceQuery, Unsupported
from .compiler import CompiledQuery
from .errors import EqlSyntaxError, EqlUnsupportedError
from .grammar import parse_eql, parse_query, parse_rule_query
from .interpreter import evaluate
from .sequence import (
    CompiledSample,
    CompiledSequence,
    CompiledTerm,
    PipedEventQuery,
    SampleMatcher,
    SequenceMatcher,
    StreamLimits,
    StreamStats,
)

__all__ = [
    "CompiledQuery",
    "CompiledSample",
    "CompiledSequence",
    "CompiledTerm",
    "EqlSyntaxError",
    "EqlUnsupportedError",
    "PipedEventQuery",
    "SampleMatcher",
    "SequenceMatcher",
    "StreamLimits",
    "StreamStats",
    "compile_ast",
    "compile_query",
    "evaluate",
    "parse_eql",
    "parse_query",
    "parse_rule_query",
]

Compiled = CompiledQuery | PipedEventQuery | CompiledSequence | CompiledSample


def compile_query(
    text: str,
    category_field: str = "event.category",
    timestamp_field: str = "@timestamp",
    tiebreaker_field: str = "event.sequence",
) -> Compiled:
    """Return the compiled form of a query; raise for syntax errors, join and lineage.

    Every form has ``search(docs)``, yielding each match as a list of documents; a single-event
    query without pipes (``CompiledQuery``) also has ``matches(doc)``.
    """
    ast: EventQuery | SequenceQuery | SampleQuery | Piped | Unsupported = parse_eql(text)
    if isinstance(ast, Unsupported):
        raise EqlUnsupportedError(ast.kind, ast.reason)
    return compile_ast(text, ast, category_field, timestamp_field, tiebreaker_field)


def compile_ast(
    text: str,
    ast: EventQuery | SequenceQuery | SampleQuery | Piped,
    category_field: str = "event.category",
    timestamp_field: str = "@timestamp",
    tiebreaker_field: str = "event.sequence",
) -> Compiled:
    """Return the compiled form of a parsed query (``text`` is its source): what ``compile_query``
    does after parsing, and what a rule cache that kept the AST does instead of parsing again."""
    query, pipes = (ast.query, ast.pipes) if isinstance(ast, Piped) else (ast, ())
    try:
        if isinstance(query, SequenceQuery):
            return CompiledSequence(text, query, pipes, category_field, timestamp_field, tiebreaker_field)
        if isinstance(query, SampleQuery):
            return CompiledSample(text, query, pipes, category_field, timestamp_field)
        compiled = CompiledQuery(text, query, category_field)
        return PipedEventQuery(text, compiled, pipes) if pipes else compiled
    except RecursionError:  # unreachable within the nesting bound parse_eql checks: a last resort
        raise EqlSyntaxError("query nests too deeply", text, 1, 1) from None
