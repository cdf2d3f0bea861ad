"""NDJSON output: one JSON object per line, safe to print on a terminal and to split on lines."""

from __future__ import annotations

import re

import orjson

# JSON leaves DEL, the C1 controls (U+0080–U+009F; U+009B is a terminal CSI) and the Unicode
# line separators (U+2028, U+2029, U+0085, which str.splitlines breaks on) unescaped. A crafted
# argv must neither drive an operator's terminal nor look like a second line to a consumer.
_UNSAFE = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]")


def _escape(match: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % ord(match.group().decode())


def dumps_line(doc: dict) -> bytes:
    """One document as a JSON line (newline included), with every control character escaped."""
    line = orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)
    # Plain ASCII is the common case: skip the regex unless a suspect lead byte is present.
    if b"\x7f" in line or b"\xc2" in line or b"\xe2\x80" in line:
        line = _UNSAFE.sub(_escape, line)
    return line
