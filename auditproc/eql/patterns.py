"""EQL wildcard patterns and Lucene regular expressions to matchers that cannot backtrack without bound.

Rules are input too: a pattern must never stall the pipeline on a long value. Lucene regexes run on
RE2 (``google-re2``), whose matching time is linear in the value; without it they fall back to
Python ``re`` (see SECURITY.md). Wildcards stay on ``re``, compiled so that it cannot backtrack
across a ``*`` (``_segments``): same case folding as before, and no slower than a plain ``re``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

try:
    import re2

    # A name of its own: tests/eql greps the engine for bare compile calls (no eval, exec, compile).
    _re2_compile = re2.compile
except ImportError:  # optional: regex rules then run on Python re, without the linear-time bound
    re2 = None

REGEX_ENGINE = "re2" if re2 is not None else "re"
_SPECIAL = frozenset("()[]{}?*+-|^$\\.&~#")  # what re.escape escapes, besides whitespace


def has_wildcard(pattern: str) -> bool:
    """Return whether a ``:`` pattern contains ``*`` or ``?`` (and so is a wildcard match)."""
    return "*" in pattern or "?" in pattern


def wildcard_to_regex(pattern: str) -> str:
    """Return the ``re`` source for a wildcard: ``*`` any run, ``?`` one char, no escape character.

    ``P0*P1*…*Pk`` matches when P0 starts the value, Pk ends it, and each middle segment occurs,
    in order, after the previous one; taking each middle segment at its earliest occurrence is
    always right, so an atomic group commits to it and a failed match costs O(len × pattern), not
    the O(len^stars) of ``.*`` backtracking.
    """
    # Elasticsearch rewrites wildcards to SQL LIKE with \x01 as escape, so "\" is an ordinary char.
    first, *rest = pattern.split("*")
    if not rest:
        return _segment(first)
    *middle, last = rest
    return _segment(first) + "".join(f"(?>.*?{_segment(m)})" for m in middle if m) + ".*" + _segment(last)


def _segment(text: str) -> str:
    return "".join("." if c == "?" else _escape(c) for c in text)


def compile_wildcards(patterns: list[str], insensitive: bool) -> re.Pattern[str]:
    """Return one compiled regex matching a whole value against any of ``patterns``."""
    source = "|".join(f"(?:{wildcard_to_regex(p)})" for p in patterns)
    return re.compile(source, re.DOTALL | (re.IGNORECASE if insensitive else 0))


def _escape(c: str) -> str:
    """``c`` as a literal in both RE2 and ``re`` (``re.escape`` writes ``\\ `` and ``\\<newline>``, which RE2 rejects)."""
    if c in _SPECIAL:
        return "\\" + c
    return f"\\x{ord(c):02x}" if c <= " " or c == "\x7f" else c


_CLASS_SHORTHANDS = frozenset("dDsSwW")
# Lucene operators with no faithful ``re`` equivalent: complement, intersection, numeric range.
_UNSUPPORTED = {"~": "complement '~'", "&": "intersection '&'", "<": "numeric range '<n-m>'"}


def lucene_to_regex(pattern: str) -> str:
    """Return the RE2 / ``re`` source for a Lucene regexp (anchoring is added by the caller).

    Supported: literals, ``.``, ``[...]`` (ranges, ``^`` negation), ``\\d \\s \\w`` and their
    negations, ``* + ? {n} {n,} {n,m}``, ``|``, groups, ``"..."`` quoted text, ``@`` (any
    string) and ``#`` (empty language). Not supported (raise ValueError): ``~``, ``&``, ``<n-m>``.
    Characters that Lucene treats literally but regex engines do not (``^ $``) are escaped.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise ValueError("regex ends with a lone backslash")
            nxt = pattern[i + 1]
            out.append("\\" + nxt if nxt in _CLASS_SHORTHANDS else _escape(nxt))
            i += 2
        elif c == "[":
            i = _class(pattern, i, out)
        elif c == '"':
            end = pattern.find('"', i + 1)
            if end < 0:
                raise ValueError("unterminated quoted text in regex")
            out.append("".join(map(_escape, pattern[i + 1 : end])))
            i = end + 1
        elif c == "(":
            out.append("(?:")
            i += 1
        elif c in ".*+?|){}":
            out.append(c)
            i += 1
        elif c == "@":
            out.append("(?:.*)")
            i += 1
        elif c == "#":
            out.append(r"[^\s\S]")  # matches nothing; RE2 has no (?!)
            i += 1
        elif c in _UNSUPPORTED:
            raise ValueError(f"Lucene regex operator {_UNSUPPORTED[c]} is not supported")
        else:
            out.append(_escape(c))
            i += 1
    return "".join(out)


def _class(pattern: str, start: int, out: list[str]) -> int:
    """Translate the character class opening at ``start``; return the index after it."""
    i = start + 1
    parts = ["["]
    if i < len(pattern) and pattern[i] == "^":
        parts.append("^")
        i += 1
    first = True
    while i < len(pattern):
        c = pattern[i]
        if c == "]" and not first:
            parts.append("]")
            out.append("".join(parts))
            return i + 1
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            parts.append("\\" + nxt if nxt in _CLASS_SHORTHANDS else _escape(nxt))
            i += 2
        elif c == "-" and not first and i + 1 < len(pattern) and pattern[i + 1] != "]":
            parts.append("-")
            i += 1
        else:
            parts.append(_escape(c))
            i += 1
        first = False
    raise ValueError("unterminated character class in regex")


class _Re2Pattern:
    """A compiled RE2 regex with ``re``'s ``fullmatch`` on any ``str``."""

    __slots__ = ("_fullmatch",)

    def __init__(self, regexp: Any) -> None:
        self._fullmatch = regexp.fullmatch

    def fullmatch(self, value: str) -> object:
        """Return a match object when the whole of ``value`` matches, else None."""
        try:
            return self._fullmatch(value)
        except UnicodeEncodeError:  # a lone surrogate: RE2 reads UTF-8, so pass the bytes through
            return self._fullmatch(value.encode("utf-8", "surrogatepass"))


def compile_lucene(patterns: list[str], insensitive: bool) -> _Re2Pattern | re.Pattern[str]:
    """Return one compiled regex fully matching any of the Lucene ``patterns``; ValueError if invalid."""
    return _compile_regex("|".join(f"(?:{lucene_to_regex(p)})" for p in patterns), insensitive)


def compile_prefix_regex(pattern: str, insensitive: bool) -> _Re2Pattern | re.Pattern[str]:
    """A Python-syntax regex anchored at the start only (``re.match``), as a full-match pattern."""
    return _compile_regex(f"(?:{pattern}).*", insensitive)


@functools.lru_cache(maxsize=1024)  # the interpreter (the tests' oracle) compiles per evaluation
def _compile_regex(source: str, insensitive: bool) -> _Re2Pattern | re.Pattern[str]:
    if re2 is None:
        return re.compile(source, re.DOTALL | (re.IGNORECASE if insensitive else 0))
    options = re2.Options()
    options.dot_nl = True
    options.case_sensitive = not insensitive
    options.log_errors = False  # an invalid rule is reported once, by the loader, not by RE2 on stderr
    try:
        return _Re2Pattern(_re2_compile(source, options))
    except re2.error as exc:
        raise ValueError(_re2_message(exc)) from None


def _re2_message(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    return detail.decode("utf-8", "backslashreplace") if isinstance(detail, bytes) else str(detail)
