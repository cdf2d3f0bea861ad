"""EQL function registry: Elasticsearch's functions plus the eql-package extras the QA suite uses.

Each implementation takes scalar arguments (``None`` for null) and the ``insensitive`` flag of
the ``name~(…)`` form, and returns a scalar or ``None``. Names are case-insensitive.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .patterns import compile_prefix_regex
from .values import arithmetic, is_number, text


@dataclass(frozen=True, slots=True)
class Function:
    """A registered function: lower-case name, implementation, accepted argument counts and result type.

    ``result`` is ``boolean``, ``keyword``, ``integer`` or ``number``, or None for any type: a
    condition must be ``boolean``, as Elasticsearch's verifier checks.
    """

    name: str
    impl: Callable[..., Any] | None
    min_args: int
    max_args: int | None
    result: str | None


FUNCTIONS: dict[str, Function] = {}


def register(name: str, min_args: int, max_args: int | None = -1, *, result: str | None) -> Callable:
    """Return a decorator registering an implementation under ``name`` (``max_args=None``: variadic)."""

    def decorate(impl: Callable[..., Any] | None) -> Callable[..., Any] | None:
        upper = min_args if max_args == -1 else max_args
        FUNCTIONS[name.lower()] = Function(name.lower(), impl, min_args, upper, result)
        return impl

    return decorate


def lookup_function(name: str) -> Function | None:
    """Return the function registered under ``name`` (any case), or None."""
    return FUNCTIONS.get(name.lower())


def _fold(insensitive: bool, *values: str) -> tuple[str, ...]:
    return tuple(v.lower() for v in values) if insensitive else values


def _strings(*values: Any) -> tuple[str, ...] | None:
    texts = tuple(text(v) for v in values)
    return None if None in texts else texts  # type: ignore[return-value]


@register("between", 3, 4, result="keyword")
def _between(insensitive: bool, source: Any, left: Any, right: Any, greedy: Any = False) -> str | None:
    strings = _strings(source, left, right)
    if strings is None:
        return None
    folded_source, folded_left, folded_right = _fold(insensitive, *strings)
    start = folded_source.find(folded_left)
    if start < 0:
        return ""
    start += len(folded_left)
    end = folded_source.rfind(folded_right) if greedy is True else folded_source.find(folded_right, start)
    if end < start:
        return ""
    return strings[0][start:end]


@functools.lru_cache(maxsize=1024)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


@register("cidrMatch", 2, None, result="boolean")
def _cidr_match(insensitive: bool, address: Any, *cidrs: Any) -> bool | None:
    if type(address) is not str:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for cidr in cidrs:
        network = _network(cidr) if type(cidr) is str else None
        if network is not None and network.version == ip.version and ip in network:
            return True
    return False


@register("concat", 1, None, result="keyword")
def _concat(insensitive: bool, *values: Any) -> str | None:
    strings = _strings(*values)
    return None if strings is None else "".join(strings)


@register("startsWith", 2, result="boolean")
def _starts_with(insensitive: bool, source: Any, prefix: Any) -> bool | None:
    strings = _strings(source, prefix)
    if strings is None:
        return None
    folded, folded_prefix = _fold(insensitive, *strings)
    return folded.startswith(folded_prefix)


@register("endsWith", 2, result="boolean")
def _ends_with(insensitive: bool, source: Any, suffix: Any) -> bool | None:
    strings = _strings(source, suffix)
    if strings is None:
        return None
    folded, folded_suffix = _fold(insensitive, *strings)
    return folded.endswith(folded_suffix)


@register("stringContains", 2, result="boolean")
def _string_contains(insensitive: bool, source: Any, part: Any) -> bool | None:
    strings = _strings(source, part)
    if strings is None:
        return None
    folded, folded_part = _fold(insensitive, *strings)
    return folded_part in folded


@register("indexOf", 2, 3, result="integer")
def _index_of(insensitive: bool, source: Any, part: Any, start: Any = None) -> int | None:
    strings = _strings(source, part)
    if strings is None or not (start is None or type(start) is int):
        return None
    folded, folded_part = _fold(insensitive, *strings)
    found = folded.find(folded_part, max(start or 0, 0))
    return None if found < 0 else found


@register("length", 1, result="integer")
def _length(insensitive: bool, value: Any) -> int | None:
    string = text(value)
    return None if string is None else len(string)


@register("number", 1, 2, result="number")
def _number(insensitive: bool, value: Any, base: Any = None) -> int | float | None:
    if is_number(value):
        return value
    if type(value) is not str or not (base is None or type(base) is int):
        return None
    try:
        if base is None or base == 10:
            try:
                return int(value.strip())
            except ValueError:
                return float(value.strip())
        return int(value.strip(), base)  # int() accepts the "0x" prefix when base is 16
    except ValueError:
        return None


@register("string", 1, result="keyword")
def _string(insensitive: bool, value: Any) -> str | None:
    return text(value)


@register("substring", 2, 3, result="keyword")
def _substring(insensitive: bool, source: Any, start: Any, end: Any = None) -> str | None:
    string = text(source)
    if string is None or type(start) is not int or not (end is None or type(end) is int):
        return None
    return string[start:end]


def _arithmetic_function(name: str, op: str) -> None:
    register(name, 2, result="number")(lambda insensitive, a, b: arithmetic(op, a, b))


for _name, _op in (("add", "+"), ("subtract", "-"), ("multiply", "*"), ("divide", "/"), ("modulo", "%")):
    _arithmetic_function(_name, _op)


def _match(insensitive: bool, source: Any, *patterns: Any) -> bool | None:
    # eql-package function (not Elasticsearch): regexes anchored at the start, as re.match. They
    # run on the same linear-time engine as `regex`; a pattern it rejects (backreferences,
    # lookaround: the backtracking kind) is null, never a stall.
    if type(source) is not str:
        return None
    try:
        return any(type(p) is str and compile_prefix_regex(p, insensitive).fullmatch(source) for p in patterns)
    except ValueError:
        return None


register("match", 2, None, result="boolean")(_match)
register("matchLite", 2, None, result="boolean")(_match)


@register("safe", 1, result=None)  # whatever its argument gives
def _safe(insensitive: bool, value: Any) -> Any:
    # eql-package function: every implementation here already turns errors into null.
    return value


# arraySearch(array, variable, condition) binds a variable, so the compiler and the interpreter
# implement it themselves; it is registered for name and arity checks only.
register("arraySearch", 3, result="boolean")(None)


def call(function: Function, args: tuple[Any, ...], insensitive: bool) -> Any:
    """Return ``function`` applied to scalar ``args``; type errors yield null, as in a script."""
    try:
        return function.impl(insensitive, *args)  # type: ignore[misc]
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return None
