"""Property tests: compiler agrees with the interpreter, ASTs round-trip, literals stay data."""

from __future__ import annotations

import builtins
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditproc.eql import compile_query, evaluate, parse_query
from auditproc.eql.ast import (
    And,
    Arithmetic,
    Comparison,
    EventQuery,
    Field,
    FunctionCall,
    InSet,
    Literal,
    Negative,
    Not,
    Or,
    StringMatch,
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PATHS = [("a",), ("a", "b"), ("l",), ("l", 0), ("o", "p")]
# A small vocabulary, so that generated documents often hold what the query looks for.
WORDS = ["x", "X", "xY", "x*", "x?", "a\\b", "10.1.2.3", "", "1"]
RARE_WORDS = ['q"t', "ß", "true", "İ"]
HOSTILE = [
    "__import__('builtins').setattr(__import__('builtins'), 'EQL_PWNED', 1)",
    '"); __import__("builtins").EQL_PWNED = 1; ("',
    "'''; EQL_PWNED = 1; '''",
    '""" + EQL_PWNED + """',
    "{__import__('os')}",
    "\\\\\\",
    "%s%r{0}",
]

fields = st.sampled_from(PATHS).map(lambda p: Field(p)) | st.sampled_from(PATHS).map(lambda p: Field(p, True))
words = st.sampled_from(WORDS)
strings = st.one_of(words, words, words, st.sampled_from(RARE_WORDS), st.sampled_from(HOSTILE))
numbers = st.integers(-2, 2) | st.sampled_from([0.5, -1.5, 2.0, 1e20])
scalars = st.one_of(strings, strings, numbers, st.booleans())
literals = (scalars | st.none()).map(Literal)
regex_patterns = st.lists(st.sampled_from(["x", "X", ".", ".*", "[a-y]", "\\d", "(x|y)", "y?", "1"]), min_size=1, max_size=4).map(
    lambda parts: Literal("".join(parts))
)
like_patterns = st.lists(st.sampled_from(["x", "X", "*", "?", "\\", "1", "y"]), min_size=0, max_size=4).map(
    lambda parts: Literal("".join(parts))
)
values = st.one_of(
    fields,
    st.builds(Arithmetic, st.sampled_from("+-*/%"), fields, numbers.map(Literal)),
    fields.map(Negative),
    st.builds(FunctionCall, st.just("length"), st.tuples(fields)),
    st.builds(FunctionCall, st.just("concat"), st.tuples(fields, literals)),
)
literal_lists = st.lists(literals, min_size=1, max_size=3).map(tuple)
pushdown = [  # field against literals: the shapes rules use, so weighted up
    st.builds(Comparison, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), fields, literals),
    st.builds(Comparison, st.sampled_from(["==", "!="]), fields, literals),
    st.builds(InSet, fields, literal_lists, st.booleans()),
    st.builds(StringMatch, st.just(":"), fields, literal_lists, st.just(True)),
    st.builds(StringMatch, st.just("like"), fields, st.lists(like_patterns, min_size=1, max_size=3).map(tuple), st.booleans()),
    st.builds(StringMatch, st.just("regex"), fields, st.lists(regex_patterns, min_size=1, max_size=2).map(tuple), st.booleans()),
    st.builds(FunctionCall, st.sampled_from(["startswith", "endswith", "stringcontains"]), st.tuples(fields, strings.map(Literal)), st.booleans()),
    st.builds(FunctionCall, st.just("cidrmatch"), st.tuples(fields, st.just(Literal("10.0.0.0/8")))),
    fields,
]
scripts = [  # computed subjects or field against field: three-valued
    st.builds(Comparison, st.sampled_from(["==", "!=", "<", ">="]), values, literals | fields),
    st.builds(InSet, values, st.lists(literals | fields, min_size=1, max_size=3).map(tuple), st.booleans()),
    st.builds(StringMatch, st.just(":"), values, literal_lists, st.just(True)),
    st.builds(FunctionCall, st.sampled_from(["startswith", "stringcontains"]), st.tuples(fields, fields), st.booleans()),
]
predicates = st.one_of(*pushdown, *pushdown[:4], *scripts)


def _flat(cls, terms):
    out = []
    for term in terms:
        out.extend(term.terms if isinstance(term, cls) else (term,))
    return cls(tuple(out))


conditions = st.recursive(
    predicates,
    lambda inner: st.one_of(
        inner.map(Not),
        st.lists(inner, min_size=2, max_size=3).map(lambda ts: _flat(And, ts)),
        st.lists(inner, min_size=2, max_size=3).map(lambda ts: _flat(Or, ts)),
    ),
    max_leaves=6,
)

def _literals(node) -> list:
    """Every literal value inside an AST, to seed documents that the query may match."""
    if isinstance(node, Literal):
        return [node.value]
    found = []
    for child in getattr(node, "__slots__", ()):
        value = getattr(node, child)
        for item in value if isinstance(value, tuple) else (value,):
            if hasattr(item, "__slots__"):
                found.extend(_literals(item))
    return found


def _obj(**children):
    return st.fixed_dictionaries({}, optional=children)


def docs_like(condition):
    """Documents over the query's paths, with values mostly taken from its literals (case-swapped too)."""
    seeds = [v for v in _literals(condition) if v is not None]
    seeds += [v.swapcase() for v in seeds if isinstance(v, str)] + [v + "z" for v in seeds if isinstance(v, str)]
    seeded = st.sampled_from(seeds) if seeds else st.nothing()
    leaf = st.one_of(seeded, seeded, seeded, words, scalars, st.none())
    some = leaf | st.lists(leaf, max_size=4)
    return _obj(
        a=some | _obj(b=some) | st.lists(_obj(b=some), max_size=3),
        l=some,
        o=_obj(p=some) | st.lists(_obj(p=some), max_size=3),
    )


@SETTINGS
@given(conditions, st.data())
def test_compiler_agrees_with_interpreter(condition, data) -> None:
    query = compile_query(str(EventQuery("any", condition)))
    for doc in data.draw(st.lists(docs_like(condition), min_size=1, max_size=8)):
        assert query.matches(doc) == evaluate(query.ast, doc), (str(condition), doc)


@SETTINGS
@given(conditions)
def test_render_and_reparse_round_trip(condition) -> None:
    ast = EventQuery("any", condition)
    assert parse_query(str(ast)) == ast


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(HOSTILE) | st.text(max_size=20), st.sampled_from(["==", ":", "like", "in"]))
def test_hostile_literals_are_data(text: str, op: str) -> None:
    literal = str(Literal(text))
    rendered = f"({literal})" if op == "in" else literal
    query = compile_query(f"any where a {op} {rendered}")
    assert query.matches({"a": text})
    assert not query.matches({"a": text + "\x00"}) or (op in (":", "like") and "*" in text)  # a * may swallow it
    assert not hasattr(builtins, "EQL_PWNED")


def test_no_eval_or_exec_in_the_engine() -> None:
    source = Path(__file__).resolve().parents[2] / "auditproc" / "eql"
    for path in source.glob("*.py"):
        assert not re.search(r"\b(eval|exec|compile)\(", path.read_text().replace("re.compile(", "")), path


SWEEP_LITERALS = [str(Literal(v)) for v in [*WORDS, *RARE_WORDS, 0, 1, -1.5, 2.0, True, None]]
SWEEP_VALUES = [*WORDS, *(w.swapcase() for w in WORDS + RARE_WORDS), *RARE_WORDS, 0, 1, 1.0, -1.5, True, False, None, [], {}]
SWEEP_OPERATORS = ["==", "!=", "<", "<=", ">", ">=", ":", "!:", "in", "in~", "not in", "like", "like~"]


@pytest.mark.parametrize("op", SWEEP_OPERATORS)
def test_operator_sweep_compiler_agrees_with_interpreter(op: str) -> None:
    """Every literal against every value (scalar, in a list, nested): a dense differential check."""
    docs = [{"a": v} for v in SWEEP_VALUES] + [{"a": [v, "zz"]} for v in SWEEP_VALUES] + [{"a": [{"b": v}]} for v in SWEEP_VALUES]
    for literal in SWEEP_LITERALS:
        if op.startswith("like") and not literal.startswith('"'):
            continue
        rhs = f"({literal})" if op.endswith(("in", "in~")) else literal
        for field in ("a", "a.b"):
            query = compile_query(f"any where {field} {op} {rhs}")
            for doc in docs:
                assert query.matches(doc) == evaluate(query.ast, doc), (query.text, doc)
