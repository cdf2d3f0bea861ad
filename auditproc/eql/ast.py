"""EQL abstract syntax tree: small frozen dataclasses that render themselves back to EQL."""

from __future__ import annotations

from dataclasses import dataclass


class Node:
    """Base of every AST node."""

    __slots__ = ()


# --- values -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field(Node):
    """A dotted field path, e.g. ``process.parent.name``; ``optional`` for ``?field``.

    ``path`` holds the parts; an integer part is an array index (``process.args[0]``).
    """

    path: tuple[str | int, ...]
    optional: bool = False

    def __str__(self) -> str:
        text = ""
        for part in self.path:
            if isinstance(part, int):
                text += f"[{part}]"
            else:
                name = part if part.replace("_", "a").replace("@", "a").isalnum() else f"`{part}`"
                text += ("." if text else "") + name
        return ("?" if self.optional else "") + text


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A constant: str, int, float, bool or None (``null``)."""

    value: str | int | float | bool | None

    def __str__(self) -> str:
        v = self.value
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            escaped = (
                v.replace("\\", "\\\\")
                .replace('"', '\\"')
                .replace("\n", "\\n")
                .replace("\r", "\\r")
                .replace("\t", "\\t")
            )
            return f'"{escaped}"'
        return repr(v)


@dataclass(frozen=True, slots=True)
class FunctionCall(Node):
    """``name(args…)``; ``name`` is lower-cased, ``insensitive`` marks the ``name~(…)`` form."""

    name: str
    args: tuple[Node, ...]
    insensitive: bool = False

    def __str__(self) -> str:
        tilde = "~" if self.insensitive else ""
        return f"{self.name}{tilde}({', '.join(map(str, self.args))})"


@dataclass(frozen=True, slots=True)
class Arithmetic(Node):
    """``left op right`` with op one of ``+ - * / %``."""

    op: str
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"({self.left} {self.op} {self.right})"


@dataclass(frozen=True, slots=True)
class Negative(Node):
    """Unary minus."""

    operand: Node

    def __str__(self) -> str:
        return f"-{self.operand}"


# --- predicates ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison(Node):
    """``left op right`` with op one of ``== != < <= > >=``."""

    op: str
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True, slots=True)
class InSet(Node):
    """``expr in (…)`` / ``expr in~ (…)``; ``not in`` is ``Not(InSet(…))``."""

    expr: Node
    values: tuple[Node, ...]
    insensitive: bool = False

    def __str__(self) -> str:
        op = "in~" if self.insensitive else "in"
        return f"{self.expr} {op} ({', '.join(map(str, self.values))})"


@dataclass(frozen=True, slots=True)
class StringMatch(Node):
    """String matchers with a list of patterns (any may match).

    ``kind`` is ``":"`` (case-insensitive equality or wildcard), ``"like"`` (wildcard) or
    ``"regex"``; ``insensitive`` is set for ``:``, ``like~`` and ``regex~``. ``!:`` is
    ``Not(StringMatch(":", …))``.
    """

    kind: str
    expr: Node
    patterns: tuple[Node, ...]
    insensitive: bool = False

    def __str__(self) -> str:
        op = ":" if self.kind == ":" else self.kind + ("~" if self.insensitive else "")
        if len(self.patterns) == 1:
            return f"{self.expr} {op} {self.patterns[0]}"
        return f"{self.expr} {op} ({', '.join(map(str, self.patterns))})"


@dataclass(frozen=True, slots=True)
class Not(Node):
    """Logical negation."""

    operand: Node

    def __str__(self) -> str:
        return f"not ({self.operand})"


@dataclass(frozen=True, slots=True)
class And(Node):
    """Conjunction of two or more terms (flattened)."""

    terms: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " and ".join(map(str, self.terms)) + ")"


@dataclass(frozen=True, slots=True)
class Or(Node):
    """Disjunction of two or more terms (flattened)."""

    terms: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " or ".join(map(str, self.terms)) + ")"


# --- queries ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventQuery(Node):
    """``category where condition``; category ``"any"`` matches every event."""

    category: str
    condition: Node

    def __str__(self) -> str:
        return f"{self.category} where {self.condition}"


@dataclass(frozen=True, slots=True)
class Unsupported(Node):
    """A recognised query shape we do not evaluate (sequence, sample, join, pipes)."""

    kind: str
    reason: str
    text: str

    def __str__(self) -> str:
        return self.text


# --- multi-event queries and pipes ----------------------------------------------------------------

_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass(frozen=True, slots=True)
class Span(Node):
    """A duration such as ``30s``: ``amount`` of ``unit`` (``ms s m h d``)."""

    amount: int
    unit: str

    @property
    def ms(self) -> int:
        """Return the duration in milliseconds."""
        return self.amount * _UNIT_MS[self.unit]

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


@dataclass(frozen=True, slots=True)
class Term(Node):
    """One bracketed item of a sequence or sample: ``[query] by keys with runs=N``; ``![query]`` when ``missing``."""

    query: EventQuery
    keys: tuple[Field, ...] = ()
    runs: int = 1
    missing: bool = False

    def __str__(self) -> str:
        text = ("!" if self.missing else "") + f"[{self.query}]"
        if self.keys:
            text += " by " + ", ".join(map(str, self.keys))
        if self.runs != 1:
            text += f" with runs={self.runs}"
        return text


@dataclass(frozen=True, slots=True)
class SequenceQuery(Node):
    """``sequence [by keys] [with maxspan=…] term… [until term]``."""

    keys: tuple[Field, ...]
    maxspan: Span | None
    terms: tuple[Term, ...]
    until: Term | None = None

    def __str__(self) -> str:
        head = "sequence"
        if self.keys:
            head += " by " + ", ".join(map(str, self.keys))
        if self.maxspan is not None:
            head += f" with maxspan={self.maxspan}"
        lines = [head, *(f"  {term}" for term in self.terms)]
        if self.until is not None:
            lines.append(f"until {self.until}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class SampleQuery(Node):
    """``sample [by keys] term…``: events sharing join keys, in any order."""

    keys: tuple[Field, ...]
    terms: tuple[Term, ...]

    def __str__(self) -> str:
        head = "sample" + (" by " + ", ".join(map(str, self.keys)) if self.keys else "")
        return "\n".join([head, *(f"  {term}" for term in self.terms)])


@dataclass(frozen=True, slots=True)
class Pipe(Node):
    """``| head N`` or ``| tail N``."""

    name: str
    count: int

    def __str__(self) -> str:
        return f"| {self.name} {self.count}"


@dataclass(frozen=True, slots=True)
class Piped(Node):
    """A query followed by one or more pipes."""

    query: EventQuery | SequenceQuery | SampleQuery
    pipes: tuple[Pipe, ...]

    def __str__(self) -> str:
        return "\n".join([str(self.query), *map(str, self.pipes)])
