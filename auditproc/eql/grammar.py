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
    Pipe,
    Piped,
    SampleQuery,
    SequenceQuery,
    Span,
    StringMatch,
    Term,
    Unsupported,
)
from .errors import EqlSyntaxError
from .functions import lookup_function
from .patterns import compile_lucene

# No packrat: it is process-wide, and with one regex per token class this grammar has little
# backtracking, so memoising made parsing the 226 Linux rules 2.3x slower (2.5 s against 1.1 s).

# Bounds on what a query may cost to parse, checked before pyparsing sees it (SECURITY.md). The
# parser spends up to about 34 Python frames on each nested function call: 20 levels stay well
# inside Python's default limit of 1,000 frames whoever the caller is.
MAX_QUERY_BYTES = 1 << 20
MAX_NESTING = 20
MAX_RUNS = 100  # Elasticsearch's bound on ``with runs=N``
MAX_STAGES = 256  # terms of one sequence, runs expanded: bounds the matcher's state per join key

# Keywords are lower case and case-sensitive, as in Elasticsearch's EqlBase.g4 lexer.
RESERVED = frozenset({"and", "or", "not", "in", "like", "regex", "where", "null", "true", "false"})
_IDENT_RE = r"[A-Za-z_@][A-Za-z0-9_@]*"


def _fail(string: str, loc: int, message: str) -> pp.ParseFatalException:
    return pp.ParseFatalException(string, loc, message)


def _kw(word: str) -> pp.Keyword:
    return pp.Keyword(word)


AND, OR, NOT, WHERE, ANY = map(_kw, ("and", "or", "not", "where", "any"))
LPAR, RPAR = map(pp.Suppress, "()")

# --- literals ---------------------------------------------------------------------------------

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"'}
_UNICODE_ESCAPE = re.compile(r"u\{([0-9A-Fa-f]{2,8})\}")


def _decode_string(string: str, loc: int, quoted: str) -> str:
    body = quoted[1:-1]
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


# One regex per token class: pyparsing's per-element overhead dominates parse time.
_NUMBER_END = r"(?![A-Za-z0-9_])"
_CONSTANT_RE = (
    r'(?P<raw>"""(?P<body>[^\r\n]*?)"""(?P<extra>"{0,2}))'
    r'|(?P<string>"(?:[^"\\\r\n]|\\.)*")'
    r"|(?P<float>(?:\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)" + _NUMBER_END + ")"
    r"|(?P<int>\d+" + _NUMBER_END + ")"
    r"|(?P<word>null|true|false)(?![A-Za-z0-9_@])"
)
_WORDS = {"null": None, "true": True, "false": False}


def _constant(string: str, loc: int, tokens: pp.ParseResults) -> Literal:
    if tokens.get("raw") is not None:
        return Literal(tokens["body"] + tokens["extra"])
    if tokens.get("string") is not None:
        return Literal(_decode_string(string, loc, tokens["string"]))
    if tokens.get("float") is not None:
        return Literal(float(tokens["float"]))
    if tokens.get("int") is not None:
        return Literal(int(tokens["int"]))
    return Literal(_WORDS[tokens["word"]])


constant = pp.Regex(_CONSTANT_RE).set_parse_action(_constant).set_name("literal")
bad_string = (
    pp.Regex(r"\?\"|\?'").set_parse_action(
        _reject('"?"…"" strings are not Elasticsearch syntax; use a raw string """…"""')
    )
    | pp.Regex(r"'").set_parse_action(_reject("single quotes are not allowed; use double quotes"))
    | pp.Regex(r'"').set_parse_action(_reject("unterminated string"))
)

# --- fields -----------------------------------------------------------------------------------

_NOT_RESERVED = r"(?!(?:" + "|".join(sorted(RESERVED)) + r")(?![A-Za-z0-9_@]))"
_NAME_RE = _IDENT_RE + r"|`(?:[^`]|``)*`"
_PART = re.compile(r"\s*(?:\.\s*(" + _NAME_RE + r")|\[\s*(\d+)\s*\])")
field = pp.Regex(
    r"(?P<optional>\?)?\s*(?P<first>" + _NOT_RESERVED + _NAME_RE + r")"
    r"(?P<rest>(?:\s*\.\s*(?:" + _NAME_RE + r")|\s*\[\s*\d+\s*\])*)"
).set_name("field")


def _unescape_name(name: str) -> str:
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def _field(tokens: pp.ParseResults) -> Field:
    parts: list[str | int] = [_unescape_name(tokens["first"])]
    for name, index in _PART.findall(tokens["rest"] or ""):
        parts.append(_unescape_name(name) if name else int(index))
    return Field(tuple(parts), tokens.get("optional") is not None)


field.set_parse_action(_field)
category_name = pp.Regex(_NOT_RESERVED + _NAME_RE).set_parse_action(lambda t: _unescape_name(t[0]))

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
    if function.name == "arraysearch":
        if not (isinstance(args[1], Field) and len(args[1].path) == 1):
            raise _fail(string, loc, "arraySearch needs a variable name as its second argument")
        _require_boolean(string, loc, args[2], "arraySearch needs a boolean condition", _OPERAND_TYPES)
    return FunctionCall(function.name, args, bool(tilde))


_NO_TYPE_CHECK = frozenset({None, "boolean"})  # a field's type is its mapping's, which we do not have


def _result_type(node: Node) -> str | None:
    """Return the type Elasticsearch would give ``node`` (``boolean``, ``keyword``, …); None for a field."""
    if isinstance(node, Literal):
        value = node.value
        if value is None or isinstance(value, bool):
            return "null" if value is None else "boolean"
        return {str: "keyword", int: "integer", float: "double"}[type(value)]
    if isinstance(node, Field):
        return None
    if isinstance(node, FunctionCall):
        function = lookup_function(node.name)
        assert function is not None
        return function.result
    if isinstance(node, Arithmetic | Negative):
        return "number"
    return "boolean"


def _require_boolean(string: str, loc: int, node: Node, role: str, allowed: frozenset[str | None] = _NO_TYPE_CHECK) -> None:
    """Refuse a non-boolean ``node`` where a condition goes, as Elasticsearch's verifier does."""
    found = _result_type(node)
    if found not in allowed:
        shown = str(node)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise _fail(string, loc, f"{role}, found [{shown}] of type {found}")


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

value = pp.Forward().set_name("value")
primary = constant | function_call | field | LPAR + value + RPAR | bad_string


def _negate(tokens: pp.ParseResults) -> Node:
    sign, operand = tokens
    if sign == "+":
        return operand
    if isinstance(operand, Literal) and type(operand.value) in (int, float):
        return Literal(-operand.value)
    return Negative(operand)


def _arith(tokens: pp.ParseResults) -> Node:
    node = tokens[0]
    for op, right in zip(tokens[1::2], tokens[2::2], strict=True):
        node = Arithmetic(op, node, right)
    return node


# Arithmetic as a plain precedence chain: much cheaper than a second infix_notation.
unary = pp.Forward()
unary <<= (pp.one_of("- +") + unary).set_parse_action(_negate) | primary
product = (unary + pp.ZeroOrMore(pp.one_of("* / %") + unary)).set_parse_action(_arith)
value <<= (product + pp.ZeroOrMore(pp.one_of("+ -") + product)).set_parse_action(_arith)

value_list = pp.Group(LPAR + pp.DelimitedList(value) + RPAR)

# Rules list hundreds of strings after in, : and like; one regex for a list of constants only
# saves pyparsing a dozen nested elements per item (parsing Elastic's rules takes half the time).
_CONSTANT = re.compile(_CONSTANT_RE)
_ANONYMOUS_CONSTANT = re.sub(r"\(\?P<\w+>", "(?:", _CONSTANT_RE)
constant_list = pp.Regex(
    r"\(\s*(?:" + _ANONYMOUS_CONSTANT + r")(?:\s*,\s*(?:" + _ANONYMOUS_CONSTANT + r"))*\s*\)"
).set_name("list")


def _constant_list(string: str, loc: int, tokens: pp.ParseResults) -> pp.ParseResults:
    items = []
    for match in _CONSTANT.finditer(tokens[0]):
        items.append(_constant(string, loc + match.start(), match.groupdict()))  # type: ignore[arg-type]
    return pp.ParseResults([pp.ParseResults(items)])


constant_list.set_parse_action(_constant_list)


def _string_patterns(string: str, loc: int, patterns: list[Node], kind: str) -> tuple[Literal, ...]:
    for pattern in patterns:
        if not (isinstance(pattern, Literal) and isinstance(pattern.value, str)):
            raise _fail(string, loc, f"{kind} patterns must be string literals")
    return tuple(patterns)  # type: ignore[arg-type]


def _predicate(string: str, loc: int, tokens: pp.ParseResults) -> Node:
    if len(tokens) == 1:
        return tokens[0]
    left, *ops, right = tokens
    items = tuple(right) if isinstance(right, pp.ParseResults) else (right,)
    op = ops[-1]
    if op in (":", "!:"):
        node: Node = StringMatch(":", left, items, True)
        return Not(node) if op == "!:" else node
    if op in ("in", "in~"):
        node = InSet(left, items, op == "in~")
        return Not(node) if ops[0] == "not" else node
    kind = op.rstrip("~")
    if kind in ("like", "regex"):
        insensitive = op.endswith("~")
        patterns = _string_patterns(string, loc, list(items), kind)
        if kind == "regex":
            try:
                compile_lucene([p.value for p in patterns], insensitive)  # type: ignore[misc]
            except (ValueError, re.error) as error:
                raise _fail(string, loc, f"invalid regex: {error}") from None
        return StringMatch(kind, left, patterns, insensitive)
    return Comparison(op, left, items[0])


def _op(word: str) -> pp.Regex:
    return pp.Regex(word + r"~?(?![A-Za-z0-9_])")


comparison_op = pp.Regex(r"==|!=|<=|>=|<|>|!:|:")
single_equals = pp.Regex(r"=(?!=)").set_parse_action(_reject("'=' is not an operator; use '==' or ':'"))
tail = (
    comparison_op + (constant_list | value_list | value)
    | pp.Optional(NOT.copy().set_parse_action(lambda: "not")) + _op("in") + (constant_list | value_list)
    | (_op("like") | _op("regex")) + (constant_list | value_list | value)
    | single_equals
)
predicate = (value + pp.Optional(tail)).set_parse_action(_predicate)


# and, or and not take boolean operands or null (TypeResolutions.isBoolean); the whole condition
# must be boolean (VerifierChecks.checkFilterConditionType).
_OPERAND_TYPES = _NO_TYPE_CHECK | {"null"}


def _not(string: str, loc: int, tokens: pp.ParseResults) -> Node:
    operand = tokens[0][1]
    _require_boolean(string, loc, operand, "'not' needs a boolean operand", _OPERAND_TYPES)
    return Not(operand)


def _flatten(cls: type[And] | type[Or]):
    role = f"'{cls.__name__.lower()}' needs boolean operands"

    def action(string: str, loc: int, tokens: pp.ParseResults) -> Node:
        terms: list[Node] = []
        for term in tokens[0][0::2]:
            _require_boolean(string, loc, term, role, _OPERAND_TYPES)
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


def _where(string: str, loc: int, tokens: pp.ParseResults) -> Node:
    _require_boolean(string, loc, tokens[0], "the condition expression needs to be boolean")
    return tokens[0]


category = ANY | category_name
where_condition = pp.And([condition]).set_parse_action(_where)
event_query = (category + WHERE.suppress() + where_condition).set_parse_action(lambda t: EventQuery(t[0], t[1]))


# --- sequences, samples and pipes ------------------------------------------------------------

SEQUENCE, SAMPLE, BY, WITH, UNTIL, MAXSPAN, RUNS = map(
    _kw, ("sequence", "sample", "by", "with", "until", "maxspan", "runs")
)
LBRACK, RBRACK, EQUALS = map(pp.Suppress, "[]=")
_UNITS = ("ms", "s", "m", "h", "d")


def _join_keys(string: str, loc: int, tokens: pp.ParseResults) -> pp.ParseResults:
    for key in tokens:
        if not isinstance(key, Field):
            raise _fail(string, loc, f"join keys must be fields, found [{key}]")
    return pp.ParseResults([tuple(tokens)])


def _keys(tokens: pp.ParseResults, name: str) -> tuple[Field, ...]:
    found = tokens.get(name)
    if not found:
        return ()
    return found if isinstance(found, tuple) else tuple(found[0])


def _span(string: str, loc: int, tokens: pp.ParseResults) -> Span:
    amount, unit = tokens["amount"], tokens["unit"]
    if unit not in _UNITS:
        found = f"unit '{unit}'" if unit else "no unit"
        raise _fail(string, loc, f"maxspan needs a time unit (ms, s, m, h or d), found {found}")
    return Span(int(amount), unit)


def _term(string: str, loc: int, tokens: pp.ParseResults) -> Term:
    runs = int(tokens.get("runs", 1))
    if not 1 <= runs <= MAX_RUNS:
        raise _fail(string, loc, f"runs must be between 1 and {MAX_RUNS}, found {runs}")
    keys = _keys(tokens, "keys") or _keys(tokens, "keys_after")
    return Term(tokens["query"], keys, runs, "missing" in tokens)


join_keys = pp.DelimitedList(value).set_parse_action(_join_keys)
span = pp.Regex(r"(?P<amount>\d+)\s*(?P<unit>[A-Za-z]*)").set_parse_action(_span).set_name("time span")
term = (
    pp.Optional(pp.Literal("!")("missing"))
    + LBRACK
    + event_query("query")
    + RBRACK
    + pp.Optional(BY.suppress() + join_keys("keys"))
    + pp.Optional(WITH.suppress() + RUNS.suppress() + EQUALS + pp.Regex(r"\d+")("runs"))
    + pp.Optional(BY.suppress() + join_keys("keys_after"))
).set_parse_action(_term)
shared_keys = BY.suppress() + join_keys("keys")
maxspan = WITH.suppress() + MAXSPAN.suppress() + EQUALS + span("maxspan")


def _stages(string: str, loc: int, terms: list[Term], until: Term | None, kind: str) -> None:
    """Refuse what Elasticsearch's verifier refuses, and what would make the state unbounded."""
    positive = [t for t in terms if not t.missing]
    if sum(t.runs for t in terms) < 2:
        raise _fail(string, loc, f"a {kind} needs at least 2 queries, found {len(terms)}")
    if not positive:
        raise _fail(string, loc, f"a {kind} needs at least one query that is not a missing event")
    if sum(t.runs for t in terms) > MAX_STAGES:
        raise _fail(string, loc, f"a {kind} may have at most {MAX_STAGES} queries, runs included")
    counts = {len(t.keys) for t in [*terms, *([until] if until else [])]}
    if len(counts) > 1:
        raise _fail(string, loc, f"inconsistent number of join keys in the {kind}'s queries: {sorted(counts)}")
    if until is not None and (until.missing or until.runs != 1):
        raise _fail(string, loc, "until takes one plain query: no '!' and no runs")


def _sequence(string: str, loc: int, tokens: pp.ParseResults) -> SequenceQuery:
    terms = list(tokens["terms"])
    until = tokens.get("until")
    _stages(string, loc, terms, until, "sequence")
    window = tokens.get("maxspan")
    if window is None and any(t.missing for t in terms):
        raise _fail(string, loc, "missing events ('![…]') need the sequence's 'with maxspan=…'")
    return SequenceQuery(_keys(tokens, "keys"), window, tuple(terms), until)


def _sample(string: str, loc: int, tokens: pp.ParseResults) -> SampleQuery:
    terms = list(tokens["terms"])
    _stages(string, loc, terms, None, "sample")
    keys = _keys(tokens, "keys")
    if any(t.missing or t.runs != 1 for t in terms):
        raise _fail(string, loc, "sample queries take plain queries: no '!' and no runs")
    if not keys and not terms[0].keys:
        raise _fail(string, loc, "a sample needs join keys: 'sample by …' or 'by …' after its queries")
    return SampleQuery(keys, tuple(terms))


sequence = (
    SEQUENCE.suppress()
    + pp.Optional(shared_keys + pp.Optional(maxspan) | maxspan + pp.Optional(shared_keys))
    + pp.Group(pp.OneOrMore(term))("terms")
    + pp.Optional(UNTIL.suppress() + term("until"))
).set_parse_action(_sequence)
sample = (SAMPLE.suppress() + pp.Optional(shared_keys) + pp.Group(pp.OneOrMore(term))("terms")).set_parse_action(
    _sample
)


def _pipe(string: str, loc: int, tokens: pp.ParseResults) -> Pipe:
    name = tokens["name"]
    if name not in ("head", "tail"):
        raise _fail(string, loc, f"pipe '{name}' is not supported; only '| head N' and '| tail N' are")
    if tokens.get("count") is None:
        raise _fail(string, loc, f"'| {name}' needs a count, e.g. '| {name} 10'")
    return Pipe(name, int(tokens["count"]))


pipe = (
    pp.Suppress("|") + pp.Regex(r"[A-Za-z_]\w*")("name") + pp.Optional(pp.Regex(r"\d+(?![\w.])")("count"))
).set_parse_action(_pipe)


def _piped(tokens: pp.ParseResults) -> Node:
    query, *pipes = tokens
    return Piped(query, tuple(pipes)) if pipes else query


full_query = ((sequence | sample | event_query) + pp.ZeroOrMore(pipe)).set_parse_action(_piped)


# --- entry point ------------------------------------------------------------------------------

_SKIPPED = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*[\s\S]*?\*/|`(?:[^`]|``)*`')
_JOIN = re.compile(r"\A\s*join\b")
_LINEAGE = re.compile(r"\b(descendant|child|event)\s+of\b")


def _blank_comments(text: str) -> str:
    """Return ``text`` with comments replaced by spaces, keeping every line and column."""

    def blank(match: re.Match[str]) -> str:
        token = match.group(0)
        if not token.startswith("/"):
            return token
        return re.sub(r"[^\n]", " ", token)

    return _SKIPPED.sub(blank, text)


def _unsupported(code: str, text: str) -> Unsupported | None:
    """Return the shapes Elasticsearch does not run (join, lineage) as ``Unsupported``; ``code`` has no strings."""
    if _JOIN.match(code):
        return Unsupported("join", "join is Endgame EQL that Elasticsearch never ran; write it as a sequence", text)
    lineage = _LINEAGE.search(code)
    if lineage:
        return Unsupported("lineage", f"'{lineage.group(1)} of' is Endgame syntax Elasticsearch never ran", text)
    return None


# Tokens that open or close a level of the query's tree, or end an operand; strings are skipped.
_NESTING_TOKENS = re.compile(
    r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|`(?:[^`]|``)*`'
    r"|(?P<word>[A-Za-z_@][A-Za-z0-9_@]*|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<open>\()|(?P<close>\))|(?P<operator>[-+*/%])|(?P<end>[,:<>=!])"
)
_ENDS_OPERAND = frozenset({"and", "or", "in", "like", "regex", "where"})


def _check_nesting(code: str, text: str) -> None:
    """Raise where ``code`` nests deeper than MAX_NESTING levels, before any recursion.

    A parenthesis (of a function call too), a ``not``, a sign and an arithmetic operator each add a
    level to the operand they are in; ``and``, ``or``, ``,`` and comparisons start a new operand. The
    count bounds the depth of the query's tree, and so the recursion of parser, compiler and printer.
    """
    levels = [[0, 0]]  # per open parenthesis: levels in the current operand, most in an earlier one
    for match in _NESTING_TOKENS.finditer(code):
        kind, token = match.lastgroup, match.group()
        if kind == "open":
            levels.append([0, 0])
        elif kind == "close" and len(levels) > 1:  # an unbalanced one is the parser's to report
            count, most = levels.pop()
            levels[-1][0] += max(count, most) + 1
        elif kind == "operator" or token == "not":
            levels[-1][0] += 1
        elif kind == "end" or token in _ENDS_OPERAND:
            current = levels[-1]
            current[:] = [0, max(current)]
            continue
        else:
            continue
        if len(levels) - 1 + sum(count for count, _ in levels) > MAX_NESTING:
            loc = match.start()
            raise EqlSyntaxError(
                f"query nests more than {MAX_NESTING} levels deep (parentheses, function calls, not, signs "
                "and arithmetic operators each add one)",
                text,
                pp.lineno(loc, code),
                pp.col(loc, code),
            )


def parse_eql(text: str) -> EventQuery | SequenceQuery | SampleQuery | Piped | Unsupported:
    """Return the AST of any EQL query Elasticsearch runs; join and lineage come back as ``Unsupported``."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_QUERY_BYTES:
        raise EqlSyntaxError(f"query is larger than 1 MiB ({size:,} bytes)", text, 1, 1)
    unsupported = _unsupported(_SKIPPED.sub(" ", text), text)
    if unsupported is not None:
        return unsupported
    code = _blank_comments(text)
    _check_nesting(code, text)
    try:
        return full_query.parse_string(code, parse_all=True)[0]
    except pp.ParseBaseException as error:
        raise EqlSyntaxError(_message(error), text, error.lineno, error.col) from None
    except RecursionError:
        raise EqlSyntaxError("query nests too deeply", text, 1, 1) from None


def parse_rule_query(text: str) -> EventQuery | SequenceQuery | SampleQuery | Unsupported:
    """Return the AST of a query a rule runs: any but piped ones, which come back as ``Unsupported``."""
    if "|" in _SKIPPED.sub(" ", text) and _unsupported(_SKIPPED.sub(" ", text), text) is None:
        return Unsupported("pipe", "pipes (head, tail, sort, …) act on result sets, not on a stream of events", text)
    return parse_eql(text)  # type: ignore[return-value]  # Piped only follows a '|', handled above


def parse_query(text: str) -> EventQuery | Unsupported:
    """Return the AST of a single-event query; other shapes come back as ``Unsupported``."""
    ast = parse_rule_query(text)
    if isinstance(ast, SequenceQuery | SampleQuery):
        kind = "sequence" if isinstance(ast, SequenceQuery) else "sample"
        return Unsupported(kind, f"{kind} queries correlate several events; only single-event queries run", text)
    return ast


def _message(error: pp.ParseBaseException) -> str:
    if isinstance(error, pp.ParseFatalException):
        return error.msg
    found = error.line[error.col - 1 :].split()
    return f"unexpected {found[0]!r}" if found else "unexpected end of query"
