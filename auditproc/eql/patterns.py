"""Translation of EQL wildcard patterns and Lucene regular expressions to Python ``re``."""

from __future__ import annotations

import re

WILDCARD_CHARS = frozenset("*?")


def has_wildcard(pattern: str) -> bool:
    """Return whether a ``:`` pattern contains ``*`` or ``?`` (and so is a wildcard match)."""
    return "*" in pattern or "?" in pattern


def wildcard_to_regex(pattern: str) -> str:
    """Return the ``re`` source for a wildcard: ``*`` any run, ``?`` one char, no escape character."""
    # Elasticsearch rewrites wildcards to SQL LIKE with \x01 as escape, so "\" is an ordinary char.
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def compile_wildcards(patterns: list[str], insensitive: bool) -> re.Pattern[str]:
    """Return one compiled regex matching a whole value against any of ``patterns``."""
    source = "|".join(f"(?:{wildcard_to_regex(p)})" for p in patterns)
    return re.compile(source, re.DOTALL | (re.IGNORECASE if insensitive else 0))


_CLASS_SHORTHANDS = frozenset("dDsSwW")
# Lucene operators with no faithful ``re`` equivalent: complement, intersection, numeric range.
_UNSUPPORTED = {"~": "complement '~'", "&": "intersection '&'", "<": "numeric range '<n-m>'"}


def lucene_to_regex(pattern: str) -> str:
    """Return the ``re`` source for a Lucene regexp (anchoring is added by the caller).

    Supported: literals, ``.``, ``[...]`` (ranges, ``^`` negation), ``\\d \\s \\w`` and their
    negations, ``* + ? {n} {n,} {n,m}``, ``|``, groups, ``"..."`` quoted text, ``@`` (any
    string) and ``#`` (empty language). Not supported (raise ValueError): ``~``, ``&``, ``<n-m>``.
    Characters that Lucene treats literally but ``re`` does not (``^ $``) are escaped.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise ValueError("regex ends with a lone backslash")
            nxt = pattern[i + 1]
            out.append("\\" + nxt if nxt in _CLASS_SHORTHANDS else re.escape(nxt))
            i += 2
        elif c == "[":
            i = _class(pattern, i, out)
        elif c == '"':
            end = pattern.find('"', i + 1)
            if end < 0:
                raise ValueError("unterminated quoted text in regex")
            out.append(re.escape(pattern[i + 1 : end]))
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
            out.append("(?!)")
            i += 1
        elif c in _UNSUPPORTED:
            raise ValueError(f"Lucene regex operator {_UNSUPPORTED[c]} is not supported")
        else:
            out.append(re.escape(c))
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
            parts.append("\\" + nxt if nxt in _CLASS_SHORTHANDS else re.escape(nxt))
            i += 2
        elif c == "-" and not first and i + 1 < len(pattern) and pattern[i + 1] != "]":
            parts.append("-")
            i += 1
        else:
            parts.append(re.escape(c) if not c.isalnum() else c)
            i += 1
        first = False
    raise ValueError("unterminated character class in regex")


def compile_lucene(patterns: list[str], insensitive: bool) -> re.Pattern[str]:
    """Return one compiled, fully anchored regex matching any of the Lucene ``patterns``."""
    source = "|".join(f"(?:{lucene_to_regex(p)})" for p in patterns)
    return re.compile(source, re.DOTALL | (re.IGNORECASE if insensitive else 0))
