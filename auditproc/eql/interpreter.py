"""A deliberately simple tree-walking evaluator of the EQL AST: the test oracle for the compiler.

Same semantics as ``compiler`` (census §5), none of its shortcuts: every predicate is
evaluated to True, False or None (a script's null) by direct recursion. ``sequence_matches`` is
the oracle for the streaming sequence matcher: Elasticsearch's batch algorithm, stage after stage.
"""

from __future__ import annotations

import itertools
from typing import Any

from .ast import (
    And,
    Arithmetic,
    Comparison,
    EventQuery,
    Field,
    FunctionCall,
    InSet,
    Literal,
    Negative,
    Node,
    Not,
    Or,
    SequenceQuery,
    StringMatch,
    Term,
)
from .functions import call, lookup_function
from .patterns import compile_lucene, compile_wildcards, has_wildcard
from .values import FLIPPED, ORDERINGS, arithmetic, compare, equals, is_number, is_script, lookup


def evaluate(ast: EventQuery, doc: dict, category_field: str = "event.category") -> bool:
    """Return whether ``doc`` matches the single-event query ``ast``."""
    if ast.category != "any":
        categories = lookup(doc, tuple(category_field.split(".")))
        if not any(equals(value, ast.category) for value in categories):
            return False
    return truth(ast.condition, doc) is True


def values(node: Node, doc: dict) -> list[Any]:
    """Return every value of an expression, [None] when it has none."""
    if isinstance(node, Field):
        return lookup(doc, node.path) or [None]
    if isinstance(node, Literal):
        return [node.value]
    if isinstance(node, FunctionCall) and node.name != "arraysearch":
        function = lookup_function(node.name)
        combos = itertools.product(*(values(arg, doc) for arg in node.args))
        return [call(function, combo, node.insensitive) for combo in combos]
    if isinstance(node, Arithmetic):
        return [arithmetic(node.op, a, b) for a in values(node.left, doc) for b in values(node.right, doc)]
    if isinstance(node, Negative):
        return [-v if is_number(v) else None for v in values(node.operand, doc)]
    return [truth(node, doc)]


def any3(outcomes: list[bool | None]) -> bool | None:
    """SQL-style OR: True if any is True, else None if any is None, else False."""
    if True in outcomes:
        return True
    return None if None in outcomes else False


def matches_member(value: Any, member: Any, node: InSet | StringMatch) -> bool:
    """Return whether a non-null value matches one non-null literal member of ``node``."""
    if isinstance(node, InSet):
        return equals(value, member, node.insensitive)
    if node.kind == "regex":
        return type(value) is str and compile_lucene([member], node.insensitive).fullmatch(value) is not None
    insensitive = node.insensitive or node.kind == ":"
    if type(member) is str and (node.kind == "like" or has_wildcard(member)):
        if not has_wildcard(member):
            if insensitive:
                return type(value) is str and value.lower() == member.lower()
            return value == member
        return type(value) is str and compile_wildcards([member], insensitive).fullmatch(value) is not None
    return equals(value, member, True)


def truth(node: Node, doc: dict) -> bool | None:
    """Return the truth of a condition: True, False, or None for a null script result."""
    if isinstance(node, And):
        return all(truth(term, doc) for term in node.terms)
    if isinstance(node, Or):
        return any(truth(term, doc) for term in node.terms)
    if isinstance(node, Not):
        result = truth(node.operand, doc)
        if is_script(node.operand):
            return None if result is None else not result
        return not result
    if isinstance(node, Comparison):
        return comparison(node, doc)
    if isinstance(node, InSet | StringMatch):
        members = node.values if isinstance(node, InSet) else node.patterns
        subject = [v for v in values(node.expr, doc) if v is not None]
        outcomes: list[bool | None] = []
        for member in members:
            if isinstance(member, Literal) and member.value is None:
                outcomes.append(not subject)
                continue
            member_values = [m for m in values(member, doc) if m is not None]
            if isinstance(member, Literal):
                test = lambda v, m: matches_member(v, m, node)  # noqa: E731
            else:
                test = lambda v, m: equals(v, m, node.insensitive)  # noqa: E731
            pairs = [(v, m) for v in subject for m in member_values]
            outcomes.append(any(test(v, m) for v, m in pairs) if pairs else None)
        result = any3(outcomes)
        return bool(result) if not is_script(node) else result
    if isinstance(node, FunctionCall) and node.name == "arraysearch":
        items = [v for v in values(node.args[0], doc) if v is not None]
        if not items:
            return None
        variable = node.args[1].path[0]
        return any(truth(node.args[2], {**doc, variable: item}) for item in items)
    results = [v for v in values(node, doc) if v is not None]
    if not results:
        return False if not is_script(node) else None
    return any(bool(v) for v in results)


def comparison(node: Comparison, doc: dict) -> bool | None:
    """Return the truth of ``left op right``; ``== null``/``!= null`` test existence."""
    left, right, op = node.left, node.right, node.op
    if isinstance(left, Literal) and not isinstance(right, Literal):
        left, right, op = right, left, FLIPPED[op]
    if isinstance(right, Literal) and right.value is None:
        if op in ORDERINGS:
            return False
        missing = all(v is None for v in values(left, doc))
        return missing if op == "==" else not missing
    pairs = [
        (a, b) for a in values(left, doc) for b in values(right, doc) if a is not None and b is not None
    ]
    if op == "==" or op == "!=":
        result = any(equals(a, b) for a, b in pairs) if pairs else None
        if op == "!=" and result is not None:
            result = not result
    else:
        result = any(compare(a, b, op) for a, b in pairs) if pairs else None
    if not is_script(node):
        return bool(result) if op != "!=" else result is not False
    return result


# --- sequences: Elasticsearch's batch algorithm -------------------------------------------------------


def _join_keys(term: Term, shared: tuple[Field, ...], doc: dict) -> list[tuple]:
    """Every combination of the document's join-key values, typed; none when a key is missing."""
    choices = []
    for key in shared + term.keys:
        found = [v if type(v) is str else (type(v).__name__, v) for v in lookup(doc, key.path) if type(v) is not dict]
        if not found:
            return []
        choices.append(list(dict.fromkeys(found)))
    return list(dict.fromkeys(itertools.product(*choices)))


def sequence_matches(
    ast: SequenceQuery, docs: list[tuple[tuple, dict]], category_field: str = "event.category"
) -> list[list[dict]]:
    """Return the matches of ``ast`` over ``(ordinal, doc)`` pairs sorted by ordinal (``ordinal[0]`` in µs).

    Elasticsearch's SequenceMatcher run over one window: each stage's hits in turn; a hit takes the
    latest pending sequence of the previous stage that is before it, dropping that one and all older
    (OrdinalGroup.trimBefore); maxspan and the nearest ``until`` before the hit are checked after;
    missing events are checked on the completed sequences.
    """
    stages = [term for term in ast.terms for _ in range(term.runs)]
    positive = [i for i, term in enumerate(stages) if not term.missing]
    span = ast.maxspan.ms * 1000 if ast.maxspan else None

    def hits(term: Term) -> list[tuple[tuple, tuple, dict]]:
        return [
            (ordinal, key, doc)
            for ordinal, doc in docs
            if evaluate(term.query, doc, category_field)
            for key in _join_keys(term, ast.keys, doc)
        ]

    untils: dict[tuple, list[tuple]] = {}
    for ordinal, key, _ in hits(ast.until) if ast.until else []:
        untils.setdefault(key, []).append(ordinal)
    groups: dict[tuple, list[tuple[list[tuple], list[dict]]]] = {}  # pending sequences of the previous stage
    completed: list[tuple[tuple, list[tuple], list[dict]]] = []
    for n, stage in enumerate(positive):
        last = n == len(positive) - 1
        advanced: dict[tuple, list] = {}
        for ordinal, key, doc in hits(stages[stage]):
            if n == 0:
                found = ([ordinal], [doc])
            else:
                group = groups.get(key, [])
                before = [i for i, (ordinals, _) in enumerate(group) if ordinals[-1] < ordinal]
                if not before:
                    continue
                ordinals, matched = group[before[-1]]
                del group[: before[-1] + 1]
                if span is not None and ordinal[0] - ordinals[0][0] > span:
                    continue
                nearest = [u for u in untils.get(key, []) if u < ordinal]
                if nearest and ordinals[-1] <= nearest[-1] <= ordinal:
                    continue
                found = ([*ordinals, ordinal], [*matched, doc])
            if last:
                completed.append((key, *found))
            else:
                advanced.setdefault(key, []).append(found)
        groups = advanced
    return [matched for key, ordinals, matched in sorted(completed, key=lambda c: c[1][-1]) if not _missing(ast, stages, positive, key, ordinals, docs, category_field, span or 0)]


def _missing(
    ast: SequenceQuery, stages: list[Term], positive: list[int], key: tuple, ordinals: list[tuple],
    docs: list[tuple[tuple, dict]], category_field: str, span: int,
) -> bool:
    """Whether a missing-event term has a match inside its window: between its neighbours, or within maxspan."""
    for stage, term in enumerate(stages):
        if not term.missing:
            continue
        before = [ordinals[i] for i, p in enumerate(positive) if p < stage]
        after = [ordinals[i] for i, p in enumerate(positive) if p > stage]
        low = before[-1] if before else None
        high = after[0] if after else None
        for ordinal, doc in docs:
            if low is not None and not ordinal > low or high is not None and not ordinal < high:
                continue
            if low is None and ordinal[0] < ordinals[-1][0] - span or high is None and ordinal[0] > ordinals[0][0] + span:
                continue
            if evaluate(term.query, doc, category_field) and key in _join_keys(term, ast.keys, doc):
                return True
    return False
