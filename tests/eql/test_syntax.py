"""Parsing: literals, AST shapes, unsupported query shapes and syntax errors with positions."""

from __future__ import annotations

import pytest

from auditproc.eql import EqlSyntaxError, EqlUnsupportedError, compile_query, parse_eql, parse_query
from auditproc.eql.ast import (
    And,
    Comparison,
    EventQuery,
    Field,
    InSet,
    Literal,
    Negative,
    Not,
    Or,
    StringMatch,
    Unsupported,
)


def cond(text: str):
    return parse_query(f"any where {text}").condition


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'"a\nb"', "a\nb"),
        (r'"a\tb\rc"', "a\tb\rc"),
        (r'"a\\b"', "a\\b"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"\u{41}\u{1F600}"', "A\U0001f600"),
        ('"""C:\\Windows\\"""', "C:\\Windows\\"),
        ('"""say "hi\""""', 'say "hi"'),
        ('"""a"b"""', 'a"b'),
        ('"""x"""""', 'x""'),
        ("12", 12),
        ("-12", -12),
        ("1.5", 1.5),
        ("-.5", -0.5),
        ("1e3", 1000.0),
        ("null", None),
        ("true", True),
        ("false", False),
    ],
)
def test_literals(text: str, value: object) -> None:
    node = cond(f"x == {text}")
    assert node.right == Literal(value)


@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("a.b.c == 1", Comparison("==", Field(("a", "b", "c")), Literal(1))),
        ("?a == 1", Comparison("==", Field(("a",), True), Literal(1))),
        ("a[0].b == 1", Comparison("==", Field(("a", 0, "b")), Literal(1))),
        ("`a b`.`c``d` == 1", Comparison("==", Field(("a b", "c`d")), Literal(1))),
        ("a in (1, 2)", InSet(Field(("a",)), (Literal(1), Literal(2)))),
        ("a not in~ (\"x\")", Not(InSet(Field(("a",)), (Literal("x"),), True))),
        ('a : "x"', StringMatch(":", Field(("a",)), (Literal("x"),), True)),
        ('a !: ("x", "y")', Not(StringMatch(":", Field(("a",)), (Literal("x"), Literal("y")), True))),
        ('a like~ "x*"', StringMatch("like", Field(("a",)), (Literal("x*"),), True)),
        ('a regex ("x", "y")', StringMatch("regex", Field(("a",)), (Literal("x"), Literal("y")))),
        ("-a == 1", Comparison("==", Negative(Field(("a",))), Literal(1))),
        (
            "a == 1 or b == 2 and not c == 3",
            Or(
                (
                    Comparison("==", Field(("a",)), Literal(1)),
                    And((Comparison("==", Field(("b",)), Literal(2)), Not(Comparison("==", Field(("c",)), Literal(3))))),
                )
            ),
        ),
        ("a and b and (c and d)", And(tuple(Field((n,)) for n in "abcd"))),
        ("a or (b or c)", Or(tuple(Field((n,)) for n in "abc"))),
    ],
)
def test_shapes(text: str, node: object) -> None:
    assert cond(text) == node


def test_function_names_fold_case_and_keep_tilde() -> None:
    node = cond('STARTSWITH~(a, "x")')
    assert (node.name, node.insensitive) == ("startswith", True)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("join [process where true] [file where true]", "join"),
        ('process where descendant of [process where process.name == "x"]', "lineage"),
    ],
)
def test_unsupported_shapes(text: str, kind: str) -> None:
    ast = parse_query(text)
    assert isinstance(ast, Unsupported) and ast.kind == kind and ast.text == text
    with pytest.raises(EqlUnsupportedError) as raised:
        compile_query(text)
    assert raised.value.kind == kind and raised.value.reason


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("sequence by host.id [process where true] [process where true]", "sequence"),
        ("  // comment\nsequence [process where true] [file where true]", "sequence"),
        ("sample by host.id [process where true] [process where true]", "sample"),
        ("process where true | head 5", "pipe"),
    ],
)
def test_the_rule_table_gets_single_events_only(text: str, kind: str) -> None:
    """parse_query is what the rule table reads: multi-event shapes and pipes stay Unsupported there."""
    ast = parse_query(text)
    assert isinstance(ast, Unsupported) and ast.kind == kind and ast.text == text
    assert list(compile_query(text).search([])) == []


def test_pipe_inside_strings_and_comments_is_not_a_pipe() -> None:
    assert not isinstance(parse_query('process where a == "x | y" // a | b\n'), Unsupported)


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("process where a = 1", 1, 17, "'='"),
        ("process where a == 'x'", 1, 20, "single quotes"),
        ('process where a == ?"x"', 1, 20, "raw string"),
        ('process where a == "x\\qy"', 1, 22, "escape"),
        ('process where\n  a == "x" and\n  b == "unterminated', 3, 8, "unterminated"),
        ("process where a ==", 1, 17, "unexpected"),
        ("process where (a == 1", 1, 22, "unexpected end"),
        ("process where nosuch(a)", 1, 15, "unknown function"),
        ("process where length(a, b)", 1, 15, "number of arguments"),
        ('process where a regex "x~y"', 1, 15, "complement"),
        ('process where a like 5', 1, 15, "string literals"),
        ("process where a AND b", 1, 17, "unexpected"),
        ("process", 1, 8, "unexpected end"),
        # Elasticsearch's verifier: and, or, not and the whole condition take booleans (or a field)
        ('process where "grep" and "password"', 1, 22, """'and' needs boolean operands, found ["grep"] of type keyword"""),
        ("process where (0 or 6)", 1, 18, "'or' needs boolean operands, found [0] of type integer"),
        ("process where 1", 1, 15, "the condition expression needs to be boolean, found [1] of type integer"),
        ("process where null", 1, 15, "found [null] of type null"),
        ("process where not length(a)", 1, 15, "'not' needs a boolean operand, found [length(a)] of type integer"),
        ("process where\n  add(a, 1)", 2, 3, "found [add(a, 1)] of type number"),
        ("process where -a", 1, 15, "found [-a] of type number"),
        ('process where concat(a, "x")', 1, 15, "of type keyword"),
        ('process where arraySearch(a, x, "y")', 1, 15, "arraySearch needs a boolean condition"),
        ("process where " + "not " * 30 + "a", 1, 95, "nests more than 20 levels"),
        ("process where\n  a == " + " + ".join("1" * 30), 2, 90, "nests more than 20 levels"),
        # sequences, samples and pipes
        ("sequence [process where true] [process where true]\n| sort a", 2, 1, "pipe 'sort' is not supported"),
        ("process where true | unique a", 1, 20, "pipe 'unique' is not supported"),
        ("process where true | head", 1, 20, "'| head' needs a count"),
        ("sequence [process where true]", 1, 1, "at least 2 queries"),
        ("sequence ![process where true] [process where true]", 1, 1, "need the sequence's 'with maxspan"),
        ("sequence [process where true] by a [process where true]", 1, 1, "inconsistent number of join keys"),
        ("sequence\n  [process where true] by a*2 [process where true] by b", 2, 27, "join keys must be fields"),
        ("sequence with maxspan=10 [process where true] [process where true]", 1, 23, "needs a time unit"),
        ("sequence [process where true] with runs=101 [process where true]", 1, 10, "runs must be between 1 and 100"),
        ("sequence [process where true] [process where true] until ![file where true]", 1, 1, "until takes one plain"),
        ("sample [process where true] [process where true]", 1, 1, "a sample needs join keys"),
        ("sample by k [process where true] ![process where true]", 1, 1, "sample queries take plain queries"),
    ],
)
def test_syntax_errors(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(EqlSyntaxError) as raised:
        parse_eql(text)
    error = raised.value
    assert isinstance(error, ValueError)
    assert (error.line, error.column) == (line, column), str(error)
    assert message in str(error)
    caret_line = str(error).splitlines()[-1]
    assert caret_line.index("^") == column - 1


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(EqlSyntaxError):
        parse_query("any where " + "concat(" * 300 + "x" + ")" * 300 + ' == "x"')


@pytest.mark.parametrize(
    "text",
    [
        "process where true",
        "process where a",  # a field's type is its mapping's, which a rule file does not carry
        "process where true and null",
        'process where startsWith(a, "x") or cidrMatch(a, "10.0.0.0/8")',
        'process where not stringContains(a, "x")',
        "process where safe(a)",
        "process where length(a) > 1 and a",
        "process where arraySearch(a, x, x == 1)",
    ],
)
def test_boolean_conditions(text: str) -> None:
    assert isinstance(parse_query(text), EventQuery)
