"""Compile an EQL AST into Python closures, one ``_compile_<Node>`` per node class.

Every decision that does not depend on the document (case folding, wildcard and regex
compilation, set building, literal coercion) is made here, once. A compiled predicate returns
True, False or None; None (a script's null) only survives directly under ``not``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
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
    StringMatch,
)
from .functions import call, lookup_function
from .patterns import compile_lucene, compile_wildcards, has_wildcard
from .values import (
    FLIPPED,
    ORDERINGS,
    arithmetic,
    compare,
    equals,
    is_number,
    is_script,
    iter_leaves,
    lookup,
    text,
)

Predicate = Callable[[dict], "bool | None"]
Values = Callable[[dict], list]
Test = Callable[[Any], bool]



def compile_condition(node: Node) -> Predicate:
    """Return a callable evaluating the condition ``node`` on a nested document."""
    compiler = _PREDICATES.get(type(node), _compile_value_condition)
    return compiler(node)


# --- field access ---------------------------------------------------------------------------


def field_getter(path: tuple[str | int, ...]) -> Callable[[Any], Any]:
    """Return a callable giving the raw value at ``path``: None, a scalar or a list of values."""

    def slow(doc: Any) -> list:
        return lookup(doc, path)

    if any(isinstance(part, int) for part in path):
        return slow
    if len(path) == 1:
        (key,) = path
        return lambda doc: doc.get(key)
    if len(path) == 2:
        first, second = path

        def get2(doc: Any) -> Any:
            inner = doc.get(first)
            if type(inner) is dict:
                return inner.get(second)
            return slow(doc) if type(inner) is list else None

        return get2

    def get(doc: Any) -> Any:
        current = doc
        for part in path:
            if type(current) is dict:
                current = current.get(part)
            elif type(current) is list:
                return slow(doc)
            else:
                return None
        return current

    return get


def _any_value(get: Callable[[Any], Any], test: Test) -> Predicate:
    """Return a predicate true when any value of the field passes ``test`` (missing: false)."""

    def predicate(doc: dict) -> bool:
        value = get(doc)
        if value is None:
            return False
        if type(value) is list:
            for item in value:
                if type(item) is list:
                    if any(map(test, iter_leaves(item))):
                        return True
                elif item is not None and test(item):
                    return True
            return False
        return test(value)

    return predicate


def _exists(get: Callable[[Any], Any]) -> Predicate:
    return _any_value(get, lambda value: True)


# --- per-value tests built from literals ------------------------------------------------------


def _equality_test(literals: list[Any], insensitive: bool) -> Test:
    """Return a test for "equals any of ``literals``" (non-null), per ``values.equals``."""
    texts: set[str] = set()  # what a string value must equal
    plain: set[str] = set()  # the string literals, which a number's text may equal
    numbers: set[int | float] = set()
    for literal in literals:
        if type(literal) is str:
            folded = literal.lower() if insensitive else literal
            texts.add(folded)
            plain.add(folded)
        elif type(literal) is bool:
            texts.add(text(literal))  # type: ignore[arg-type]
        elif is_number(literal):
            numbers.add(literal)
            texts.add(text(literal).lower() if insensitive else text(literal))  # type: ignore[union-attr]
    texts_f, plain_f, numbers_f = frozenset(texts), frozenset(plain), frozenset(numbers)

    def test(value: Any) -> bool:
        kind = type(value)
        if kind is str:
            return (value.lower() if insensitive else value) in texts_f
        if kind is int or kind is float:
            if value in numbers_f:
                return True
            number_text = str(value)
            return (number_text.lower() if insensitive else number_text) in plain_f
        if kind is bool:
            return ("true" if value else "false") in texts_f
        return False

    return test


def _order_test(literal: Any, op: str) -> Test:
    """Return a test for ``value op literal`` per ``values.compare``."""
    compare_op = ORDERINGS[op]
    if is_number(literal):
        literal_text = text(literal)

        def number_test(value: Any) -> bool:
            kind = type(value)
            if kind is int or kind is float:
                return compare_op(value, literal)
            return kind is str and compare_op(value, literal_text)

        return number_test
    if type(literal) is str:

        def string_test(value: Any) -> bool:
            kind = type(value)
            if kind is str:
                return compare_op(value, literal)
            return (kind is int or kind is float) and compare_op(str(value), literal)

        return string_test
    return lambda value: False


def _pattern_test(exact: list[str], pattern: Any, insensitive: bool) -> Test:
    """Return a test on string values: equal to one of ``exact`` or fully matching ``pattern`` (if any)."""
    exact_set = frozenset(p.lower() if insensitive else p for p in exact)
    fullmatch = pattern.fullmatch if pattern is not None else None
    if fullmatch is None:
        if insensitive:
            return lambda value: type(value) is str and value.lower() in exact_set
        return lambda value: type(value) is str and value in exact_set
    if not exact_set:
        return lambda value: type(value) is str and fullmatch(value) is not None
    if insensitive:
        return lambda value: type(value) is str and (value.lower() in exact_set or fullmatch(value) is not None)
    return lambda value: type(value) is str and (value in exact_set or fullmatch(value) is not None)


def _literal_tests(node: StringMatch | InSet, members: list[Any]) -> tuple[list[Test], bool]:
    """Return per-value tests for a matcher's literal ``members`` (values), and whether ``null`` is one."""
    has_null = None in members
    members = [m for m in members if m is not None]
    tests: list[Test] = []
    if isinstance(node, InSet):
        if members:
            tests.append(_equality_test(members, node.insensitive))
        return tests, has_null
    strings = [m for m in members if type(m) is str]
    if node.kind == "regex":
        regex = compile_lucene(strings, node.insensitive) if strings else None
        tests.append(_pattern_test([], regex, node.insensitive))
        return tests, has_null
    wild = [s for s in strings if has_wildcard(s)]
    plain = [s for s in strings if not has_wildcard(s)]
    pattern = compile_wildcards(wild, node.insensitive or node.kind == ":") if wild else None
    if node.kind == "like":
        tests.append(_pattern_test(plain, pattern, node.insensitive))
    else:  # ":" : a plain string (or number) is case-insensitive equality, one with * or ? a wildcard
        plain += [m for m in members if type(m) is not str]
        if plain:
            tests.append(_equality_test(plain, True))
        if pattern is not None:
            tests.append(_pattern_test([], pattern, True))
    return tests, has_null


def _combine_tests(tests: list[Test]) -> Test:
    if len(tests) == 1:
        return tests[0]
    return lambda value: any(test(value) for test in tests)


# --- predicates ---------------------------------------------------------------------------------


def _field_literal(node: Comparison) -> tuple[Field, Any, str] | None:
    if isinstance(node.left, Field) and isinstance(node.right, Literal):
        return node.left, node.right.value, node.op
    if isinstance(node.left, Literal) and isinstance(node.right, Field):
        return node.right, node.left.value, FLIPPED[node.op]
    return None


def _compile_Comparison(node: Comparison) -> Predicate:
    pushed = _field_literal(node)
    if pushed is None:
        return _script_comparison(node)
    field, literal, op = pushed
    get = field_getter(field.path)
    if literal is None:  # == null / != null are exists checks
        if op in ORDERINGS:
            return lambda doc: False
        exists = _exists(get)
        return exists if op == "!=" else lambda doc: not exists(doc)
    if op in ORDERINGS:
        return _any_value(get, _order_test(literal, op))
    equal = _any_value(get, _equality_test([literal], False))
    return equal if op == "==" else lambda doc: not equal(doc)


def _compile_members(node: InSet | StringMatch) -> Predicate:
    if is_script(node):
        return _script_members(node)
    return _pushdown_members(node)


def _pushdown_members(node: InSet | StringMatch) -> Predicate:
    get = field_getter(node.expr.path)  # type: ignore[union-attr]
    tests, has_null = _literal_tests(node, [m.value for m in _members(node)])  # type: ignore[union-attr]
    matches = _any_value(get, _combine_tests(tests)) if tests else (lambda doc: False)
    if not has_null:
        return matches
    exists = _exists(get)
    return lambda doc: matches(doc) or not exists(doc)


def _compile_Not(node: Not) -> Predicate:
    operand = compile_condition(node.operand)
    if is_script(node.operand):

        def not3(doc: dict) -> bool | None:
            result = operand(doc)
            return None if result is None else not result

        return not3
    return lambda doc: not operand(doc)


def _compile_And(node: And) -> Predicate:
    terms = tuple(compile_condition(term) for term in node.terms)
    if len(terms) == 2:
        first, second = terms
        return lambda doc: bool(first(doc)) and bool(second(doc))
    return lambda doc: all(term(doc) for term in terms)


def _compile_Or(node: Or) -> Predicate:
    terms = tuple(compile_condition(term) for term in node.terms)
    if len(terms) == 2:
        first, second = terms
        return lambda doc: bool(first(doc)) or bool(second(doc))
    return lambda doc: any(term(doc) for term in terms)


def _compile_FunctionCall(node: FunctionCall) -> Predicate:
    if node.name == "arraysearch":
        return _array_search(node)
    function = lookup_function(node.name)
    assert function is not None
    insensitive = node.insensitive
    if not is_script(node):  # field + literals: a Lucene query over any value, two-valued
        rest = tuple(arg.value for arg in node.args[1:])  # type: ignore[union-attr]
        return _any_value(
            field_getter(node.args[0].path),  # type: ignore[union-attr]
            lambda value: call(function, (value, *rest), insensitive) is True,
        )
    return _compile_value_condition(node)


def _compile_Field(node: Field) -> Predicate:
    return _any_value(field_getter(node.path), bool)


def _compile_Literal(node: Literal) -> Predicate:
    constant = bool(node.value)
    return lambda doc: constant


def _compile_value_condition(node: Node) -> Predicate:
    """Three-valued truth of a script's results: any truthy → True, all null → None."""
    values = _compile_value(node)
    return lambda doc: _any_test(values(doc), bool)


def _array_search(node: FunctionCall) -> Predicate:
    items = _compile_value(node.args[0])
    variable = node.args[1].path[0]  # type: ignore[union-attr]
    condition = compile_condition(node.args[2])

    def search(doc: dict) -> bool | None:
        found = [item for item in items(doc) if item is not None]
        if not found:
            return None
        for item in found:
            scoped = dict(doc)
            scoped[variable] = item
            if condition(scoped):
                return True
        return False

    return search


# --- scripts: predicates over computed values, three-valued -----------------------------------


def _script_comparison(node: Comparison) -> Predicate:
    if isinstance(node.right, Literal) and node.right.value is None or (
        isinstance(node.left, Literal) and node.left.value is None
    ):
        right_is_null = isinstance(node.right, Literal) and node.right.value is None
        other = _compile_value(node.left if right_is_null else node.right)
        if node.op in ORDERINGS:
            return lambda doc: False
        want_null = node.op == "=="
        return lambda doc: all(v is None for v in other(doc)) is want_null
    left, right = _compile_value(node.left), _compile_value(node.right)
    op = node.op
    if op in ORDERINGS:
        return _pairwise(left, right, lambda a, b: compare(a, b, op))
    equal = _pairwise(left, right, equals)
    if op == "==":
        return equal

    def not_equal(doc: dict) -> bool | None:
        result = equal(doc)
        return None if result is None else not result

    return not_equal


def _pairwise(left: Values, right: Values, relation: Callable[[Any, Any], bool]) -> Predicate:
    """Return a predicate: True if some non-null pair relates, None if no pair is non-null."""

    def predicate(doc: dict) -> bool | None:
        result = None
        rights = [r for r in right(doc) if r is not None]
        for a in left(doc):
            if a is None:
                continue
            for b in rights:
                if relation(a, b):
                    return True
                result = False
        return result

    return predicate


def _script_members(node: InSet | StringMatch) -> Predicate:
    """``in``/``:``/``like``/``regex`` where the subject or a member is computed."""
    subject = _compile_value(node.expr)
    members = _members(node)
    parts: list[Predicate] = []
    literals = [m.value for m in members if isinstance(m, Literal)]
    if literals:
        tests, has_null = _literal_tests(node, literals)
        if tests:
            test = _combine_tests(tests)
            parts.append(lambda doc: _any_test(subject(doc), test))
        if has_null:
            parts.append(lambda doc: all(v is None for v in subject(doc)))
    insensitive = node.insensitive
    for member in members:
        if not isinstance(member, Literal):
            other = _compile_value(member)
            parts.append(_pairwise(subject, other, lambda a, b: equals(a, b, insensitive)))
    return _or3(parts)


def _members(node: InSet | StringMatch) -> tuple[Node, ...]:
    return node.values if isinstance(node, InSet) else node.patterns


def _any_test(values: list, test: Test) -> bool | None:
    result = None
    for value in values:
        if value is not None:
            if test(value):
                return True
            result = False
    return result


def _or3(parts: list[Predicate]) -> Predicate:
    """Return SQL-style OR, as Elasticsearch's InProcessor: True, else null if any null, else False."""
    if len(parts) == 1:
        return parts[0]

    def predicate(doc: dict) -> bool | None:
        unknown = False
        for part in parts:
            outcome = part(doc)
            if outcome:
                return True
            unknown = unknown or outcome is None
        return None if unknown else False

    return predicate


# --- values (inputs of scripts) -----------------------------------------------------------------


def _compile_value(node: Node) -> Values:
    """Return a callable giving every value of an expression ([None] for null)."""
    if isinstance(node, Field):
        get = field_getter(node.path)

        def field_values(doc: dict) -> list:
            value = get(doc)
            if type(value) is list:
                return [v for v in iter_leaves(value)] or [None]
            return [value]

        return field_values
    if isinstance(node, Literal):
        constant = [node.value]
        return lambda doc: constant
    if isinstance(node, FunctionCall) and node.name != "arraysearch":
        function = lookup_function(node.name)
        assert function is not None
        args = [_compile_value(arg) for arg in node.args]
        insensitive = node.insensitive
        return lambda doc: [
            call(function, combo, insensitive) for combo in itertools.product(*(arg(doc) for arg in args))
        ]
    if isinstance(node, Arithmetic):
        left, right, op = _compile_value(node.left), _compile_value(node.right), node.op
        return lambda doc: [arithmetic(op, a, b) for a in left(doc) for b in right(doc)]
    if isinstance(node, Negative):
        operand = _compile_value(node.operand)
        return lambda doc: [-v if is_number(v) else None for v in operand(doc)]
    condition = compile_condition(node)
    return lambda doc: [condition(doc)]


_PREDICATES: dict[type, Callable[[Any], Predicate]] = {
    Comparison: _compile_Comparison,
    InSet: _compile_members,
    StringMatch: _compile_members,
    Not: _compile_Not,
    And: _compile_And,
    Or: _compile_Or,
    FunctionCall: _compile_FunctionCall,
    Field: _compile_Field,
    Literal: _compile_Literal,
}


class CompiledQuery:
    """A compiled single-event query: ``matches(doc)`` tells whether a nested document matches."""

    __slots__ = ("text", "ast", "category", "category_field", "_condition", "_category_test")

    def __init__(self, text: str, ast: EventQuery, category_field: str = "event.category") -> None:
        self.text = text
        self.ast = ast
        self.category = ast.category
        self.category_field = category_field
        self._condition = compile_condition(ast.condition)
        if ast.category == "any":
            self._category_test = None
        else:
            self._category_test = _any_value(
                field_getter(tuple(category_field.split("."))), _equality_test([ast.category], False)
            )

    def matches(self, doc: dict) -> bool:
        """Return whether ``doc`` is in the query's category and satisfies its condition."""
        if self._category_test is not None and not self._category_test(doc):
            return False
        return self._condition(doc) is True

    def search(self, docs: Iterable[dict]) -> Iterator[list[dict]]:
        """Yield each matching document as a one-element list, like a sequence's matches."""
        return ([doc] for doc in docs if self.matches(doc))

    def __repr__(self) -> str:
        return f"CompiledQuery({self.text!r})"
