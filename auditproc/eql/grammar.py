"""The EQL grammar (Elasticsearch syntax), built once at import; parse actions build the AST."""

from __future__ import annotations

import re

import pyparsing as pp

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
    Unsupported,
)
from .errors import EqlSyntaxError
from .functions import lookup_function
from .patterns import compile_lucene

PACKRAT_CACHE_SIZE = 4096

pp.ParserElement.enable_packrat(cache_size_limit=PACKRAT_CACHE_SIZE)

# Keywords are lower case and case-sensitive, as in Elasticsearch's EqlBase.g4 lexer.
RESERVED = frozenset({"and", "or", "not", "in", "like", "regex", "where", "null", "true", "false"})
_IDENT_RE = r"[A-Za-z_@][A-Za-z0-9_@]*"


def _fail(string: str, loc: int, message: str) -> pp.ParseFatalException:
    return pp.ParseFatalException(string, loc, message)


def _kw(word: str) -> pp.Keyword:
    return pp.Keyword(word)


AND, OR, NOT, WHERE, ANY = map(_kw, ("and", "or", "not", "where", "any"))
LPAR, RPAR, LBRACK, RBRACK, COMMA, DOT = map(pp.Suppress, "()[],.")

# --- literals ---------------------------------------------------------------------------------

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"'}
_UNICODE_ESCAPE = re.compile(r"u\{([0-9A-Fa-f]{2,8})\}")


def _decode_string(string: str, loc: int, tokens: pp.ParseResults) -> str:
    body = tokens[0][1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        unicode = _UNICODE_ESCAPE.match(body, i + 1)
        if unicode and int(unicode.group(1), 16) <= 0x10FFFF:
            out.append(chr(int(unicode.group(1), 16)))
            i = unicode.end()
            continue
        raise _fail(string, loc + 1 + i, f"unknown escape sequence '\\{nxt}' in string")
    return "".join(out)


def _reject(message: str):
    def action(string: str, loc: int, tokens: pp.ParseResults) -> None:
        raise _fail(string, loc, message)

    return action


raw_string = pp.Regex(r'"""(?P<body>[^\r\n]*?)"""(?P<extra>"{0,2})').set_parse_action(
    lambda t: t["body"] + t["extra"]
)
quoted_string = pp.Regex(r'"(?:[^"\\\r\n]|\\.)*"').set_parse_action(_decode_string)
bad_string = (
    pp.Regex(r"\?\"|\?'").set_parse_action(
        _reject('"?"…"" strings are not Elasticsearch syntax; use a raw string """…"""')
    )
    | pp.Regex(r"'").set_parse_action(_reject("single quotes are not allowed; use double quotes"))
    | pp.Regex(r'"').set_parse_action(_reject("unterminated string"))
)
string = (raw_string | quoted_string | bad_string).set_name("string")

_NUMBER_END = r"(?![A-Za-z0-9_])"
decimal = pp.Regex(
    r"(?:\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)" + _NUMBER_END
).set_parse_action(lambda t: float(t[0]))
integer = pp.Regex(r"\d+" + _NUMBER_END).set_parse_action(lambda t: int(t[0]))

constant = (
    _kw("null").set_parse_action(lambda: Literal(None))
    | _kw("true").set_parse_action(lambda: Literal(True))
    | _kw("false").set_parse_action(lambda: Literal(False))
    | (decimal | integer | string).set_parse_action(lambda t: Literal(t[0]))
).set_name("literal")

# --- fields -----------------------------------------------------------------------------------

identifier = pp.Regex(_IDENT_RE).add_condition(lambda t: t[0] not in RESERVED).set_name("identifier")
escaped_identifier = pp.Regex(r"`(?:[^`]|``)*`").set_parse_action(lambda t: t[0][1:-1].replace("``", "`"))
name = identifier | escaped_identifier
any_name = pp.Regex(_IDENT_RE) | escaped_identifier
index = (LBRACK + pp.Regex(r"\d+") + RBRACK).set_parse_action(lambda t: int(t[0]))


def _field(tokens: pp.ParseResults) -> Field:
    optional = tokens[0] == "?"
    parts = tuple(tokens[1:] if optional else tokens)
    return Field(parts, optional)


field = (
    pp.Optional(pp.Literal("?")) + name + pp.ZeroOrMore(DOT + any_name | index)
).set_parse_action(_field).set_name("field")

# --- expressions ------------------------------------------------------------------------------

condition = pp.Forward().set_name("condition")


def _function_call(string: str, loc: int, tokens: pp.ParseResults) -> FunctionCall:
    head = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(~?)", tokens[0])
    assert head is not None
    fname, tilde = head.groups()
    args = tuple(tokens[1:])
    function = lookup_function(fname)
    if function is None:
        raise _fail(string, loc, f"unknown function '{fname}'")
    if len(args) < function.min_args or (function.max_args is not None and len(args) > function.max_args):
        raise _fail(string, loc, f"wrong number of arguments ({len(args)}) for function '{fname}'")
    if function.name in ("match", "matchlite"):
        _check_python_regexes(string, loc, args[1:])
    if function.name == "arraysearch" and not (isinstance(args[1], Field) and len(args[1].path) == 1):
        raise _fail(string, loc, "arraySearch needs a variable name as its second argument")
    return FunctionCall(function.name, args, bool(tilde))


def _check_python_regexes(string: str, loc: int, patterns: tuple[Node, ...]) -> None:
    for pattern in patterns:
        if not (isinstance(pattern, Literal) and isinstance(pattern.value, str)):
            raise _fail(string, loc, "match patterns must be string literals")
        try:
            re.compile(pattern.value)
        except re.error as error:
            raise _fail(string, loc, f"invalid regex: {error}") from None


_NOT_KEYWORD = r"(?!(?:" + "|".join(sorted(RESERVED)) + r")\b)"
function_call = (
    pp.Regex(_NOT_KEYWORD + r"[A-Za-z_][A-Za-z0-9_]*~?\s*\(")
    + pp.Optional(pp.DelimitedList(condition))
    + RPAR
).set_parse_action(_function_call).set_name("function call")

primary = constant | function_call | field


def _negate(tokens: pp.ParseResults) -> Node:
    sign, operand = tokens[0]
    if sign == "+":
        return operand
    if isinstance(operand, Literal) and type(operand.value) in (int, float):
        return Literal(-operand.value)
    return Negative(operand)


def _arith(tokens: pp.ParseResults) -> Node:
    items = list(tokens[0])
    node = items[0]
    for op, right in zip(items[1::2], items[2::2], strict=True):
        node = Arithmetic(op, node, right)
    return node


value = pp.infix_notation(
    primary,
    [
        (pp.one_of("- +"), 1, pp.OpAssoc.RIGHT, _negate),
        (pp.one_of("* / %"), 2, pp.OpAssoc.LEFT, _arith),
        (pp.one_of("+ -"), 2, pp.OpAssoc.LEFT, _arith),
    ],
).set_name("value")

value_list = LPAR + pp.DelimitedList(value) + RPAR


def _comparison(tokens: pp.ParseResults) -> Node:
    left, op, *rights = tokens
    if op in (":", "!:"):
        node: Node = StringMatch(":", left, tuple(rights), True)
        return Not(node) if op == "!:" else node
    return Comparison(op, left, rights[0])


def _string_patterns(string: str, loc: int, patterns: list[Node], kind: str) -> tuple[Literal, ...]:
    for pattern in patterns:
        if not (isinstance(pattern, Literal) and isinstance(pattern.value, str)):
            raise _fail(string, loc, f"{kind} patterns must be string literals")
    return tuple(patterns)  # type: ignore[arg-type]


def _membership(string: str, loc: int, tokens: pp.ParseResults) -> Node:
    left, *rest = tokens
    negated = rest[0] == "not"
    if negated:
        rest = rest[1:]
    op, *items = rest
    node: Node = InSet(left, tuple(items), op.endswith("~"))
    return Not(node) if negated else node


def _matcher(string: str, loc: int, tokens: pp.ParseResults) -> Node:
    left, op, *items = tokens
    kind = op.rstrip("~")
    insensitive = op.endswith("~")
    patterns = _string_patterns(string, loc, items, kind)
    if kind == "regex":
        try:
            compile_lucene([p.value for p in patterns], insensitive)  # type: ignore[misc]
        except (ValueError, re.error) as error:
            raise _fail(string, loc, f"invalid regex: {error}") from None
    return StringMatch(kind, left, patterns, insensitive)


def _op(word: str) -> pp.Regex:
    return pp.Regex(word + r"~?(?![A-Za-z0-9_])")


comparison_op = pp.Regex(r"==|!=|<=|>=|<|>|!:|:")
single_equals = pp.Regex(r"=").set_parse_action(_reject("'=' is not an operator; use '==' or ':'"))
comparison = (value + comparison_op + (value_list | value)).set_parse_action(_comparison)
membership = (value + pp.Optional(NOT.copy().set_parse_action(lambda: "not")) + _op("in") + value_list)
membership.set_parse_action(_membership)
matcher = (value + (_op("like") | _op("regex")) + (value_list | value)).set_parse_action(_matcher)
predicate = comparison | membership | matcher | (value + single_equals) | value


def _not(tokens: pp.ParseResults) -> Node:
    return Not(tokens[0][1])


def _flatten(cls: type[And] | type[Or]):
    def action(tokens: pp.ParseResults) -> Node:
        terms: list[Node] = []
        for term in tokens[0][0::2]:
            terms.extend(term.terms if isinstance(term, cls) else (term,))
        return cls(tuple(terms))

    return action


condition <<= pp.infix_notation(
    predicate,
    [
        (NOT, 1, pp.OpAssoc.RIGHT, _not),
        (AND, 2, pp.OpAssoc.LEFT, _flatten(And)),
        (OR, 2, pp.OpAssoc.LEFT, _flatten(Or)),
    ],
)

category = ANY | name
event_query = (category + WHERE.suppress() + condition).set_parse_action(lambda t: EventQuery(t[0], t[1]))

COMMENT = pp.Regex(r"//[^\n]*") | pp.Regex(r"/\*[\s\S]*?\*/")
event_query.ignore(COMMENT)

# --- entry point ------------------------------------------------------------------------------

_SKIPPED = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*[\s\S]*?\*/|`(?:[^`]|``)*`')
_MULTI_EVENT = re.compile(r"\A\s*(sequence|sample|join)\b")
_LINEAGE = re.compile(r"\b(descendant|child|event)\s+of\b")


def _unsupported(text: str) -> Unsupported | None:
    code = _SKIPPED.sub(" ", text)
    multi = _MULTI_EVENT.match(code)
    if multi:
        kind = multi.group(1)
        return Unsupported(kind, f"{kind} queries correlate several events; only single-event queries run", text)
    lineage = _LINEAGE.search(code)
    if lineage:
        return Unsupported("lineage", f"'{lineage.group(1)} of' is Endgame syntax Elasticsearch never ran", text)
    if "|" in code:
        return Unsupported("pipe", "pipes (head, tail, sort, …) act on result sets, not single events", text)
    return None


def parse_query(text: str) -> EventQuery | Unsupported:
    """Return the AST of an EQL query; multi-event shapes and pipes come back as ``Unsupported``."""
    unsupported = _unsupported(text)
    if unsupported is not None:
        return unsupported
    try:
        return event_query.parse_string(text, parse_all=True)[0]
    except pp.ParseBaseException as error:
        raise EqlSyntaxError(_message(error), text, error.lineno, error.col) from None


def _message(error: pp.ParseBaseException) -> str:
    if isinstance(error, pp.ParseFatalException):
        return error.msg
    found = error.line[error.col - 1 :].split()
    return f"unexpected {found[0]!r}" if found else "unexpected end of query"
