"""auditproc's EQL engine: parse Elastic's single-event EQL queries and match them on ECS dicts."""

from __future__ import annotations

from .ast import EventQuery, Unsupported
from .compiler import CompiledQuery
from .errors import EqlSyntaxError, EqlUnsupportedError
from .grammar import parse_query
from .interpreter import evaluate

__all__ = [
    "CompiledQuery",
    "EqlSyntaxError",
    "EqlUnsupportedError",
    "compile_query",
    "evaluate",
    "parse_query",
]


def compile_query(text: str, category_field: str = "event.category") -> CompiledQuery:
    """Return the compiled form of a single-event query; raise for syntax errors or multi-event shapes."""
    ast: EventQuery | Unsupported = parse_query(text)
    if isinstance(ast, Unsupported):
        raise EqlUnsupportedError(ast.kind, ast.reason)
    try:
        return CompiledQuery(text, ast, category_field)
    except RecursionError:  # unreachable within the nesting bound parse_query checks: a last resort
        raise EqlSyntaxError("query nests too deeply", text, 1, 1) from None
