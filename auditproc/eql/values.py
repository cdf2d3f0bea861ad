"""Value semantics shared by the compiler and the interpreter (census §5).

Field values come from nested dicts; a list anywhere on the path makes the field multi-valued
(lists of objects flatten), and a missing field is an absent key, ``None`` or ``[]``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator
from typing import Any

from .ast import Comparison, Field, FunctionCall, InSet, Literal, Node, Not, StringMatch

ORDERINGS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}  # a op b  ⇔  b FLIPPED[op] a


def is_number(value: Any) -> bool:
    """Return whether ``value`` is an int or float (bools are not numbers)."""
    return type(value) is int or type(value) is float


def text(value: Any) -> str | None:
    """Return the keyword text of a scalar (``true``/``false`` for bools), else None."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    return None


def iter_leaves(value: Any) -> Iterator[Any]:
    """Yield the non-null values of a raw field value, flattening nested lists."""
    if value is None:
        return
    if type(value) is list:
        for item in value:
            yield from iter_leaves(item)
    else:
        yield value


def lookup(doc: Any, path: tuple[str | int, ...]) -> list[Any]:
    """Return every non-null value at ``path`` in a nested document ([] when missing)."""
    nodes = [doc]
    for part in path:
        found = []
        for node in nodes:
            if isinstance(part, int):
                if type(node) is list and -len(node) <= part < len(node):
                    found.append(node[part])
            else:
                for item in iter_leaves(node):
                    if type(item) is dict and part in item:
                        found.append(item[part])
        nodes = found
    return [leaf for node in nodes for leaf in iter_leaves(node)]


def equals(a: Any, b: Any, insensitive: bool = False) -> bool:
    """Return EQL equality of two non-null scalars; a string against a number compares texts."""
    ta, tb = type(a), type(b)
    if ta is str and tb is str:
        return a == b or (insensitive and a.lower() == b.lower())
    if is_number(a) and is_number(b):
        return a == b
    if ta is bool and tb is bool:
        return a is b
    if (ta is str) != (tb is str):
        sa, sb = text(a), text(b)
        if sa is None or sb is None:
            return False
        return sa == sb or (insensitive and sa.lower() == sb.lower())
    return False


def compare(a: Any, b: Any, op: str) -> bool:
    """Return ``a op b`` for ``< <= > >=``: numbers numerically, strings by code point."""
    if is_number(a) and is_number(b):
        return ORDERINGS[op](a, b)
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool:
        return False
    if ta is str and (tb is str or is_number(b)) or tb is str and is_number(a):
        return ORDERINGS[op](text(a), text(b))
    return False


def arithmetic(op: str, a: Any, b: Any) -> int | float | None:
    """Return ``a op b`` with Java semantics (truncating int division); None on bad input."""
    if not (is_number(a) and is_number(b)):
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return None
    both_int = type(a) is int and type(b) is int
    if op == "/":
        if both_int:
            quotient = abs(a) // abs(b)
            return quotient if (a >= 0) == (b >= 0) else -quotient
        return a / b
    if op == "%":
        if both_int:
            rest = abs(a) % abs(b)
            return rest if a >= 0 else -rest
        return math.fmod(a, b)
    raise ValueError(f"unknown arithmetic operator {op!r}")


PUSHDOWN_FUNCTIONS = frozenset({"startswith", "endswith", "stringcontains", "cidrmatch"})


def is_script(node: Node) -> bool:
    """Return whether Elasticsearch would run ``node`` as a (three-valued) script.

    Predicates on one field against literals become Lucene queries (two-valued: missing is
    false, negation true); anything else (functions over computed values, field against field,
    arithmetic) is a script whose null result stays null under a direct ``not``.
    """
    if isinstance(node, Not):
        return is_script(node.operand)
    if isinstance(node, Comparison):
        sides = (node.left, node.right)
        return not (
            any(isinstance(s, Field) for s in sides) and any(isinstance(s, Literal) for s in sides)
        )
    if isinstance(node, InSet | StringMatch):
        items = node.values if isinstance(node, InSet) else node.patterns
        return not (isinstance(node.expr, Field) and all(isinstance(v, Literal) for v in items))
    if isinstance(node, FunctionCall):
        return not (
            node.name in PUSHDOWN_FUNCTIONS
            and bool(node.args)
            and isinstance(node.args[0], Field)
            and all(isinstance(a, Literal) for a in node.args[1:])
        )
    return False
