"""NDJSON output: one JSON object per line, safe to print on a terminal and to split on lines."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

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


TRUNCATION_MARK = "…[cut by auditproc]"
KEEP_STRING_CHARS = 64  # strings this short (ids, names, times) are never cut
MAX_CUTS = 256  # a document this many cuts cannot fit is written as far as it was shortened
SAY_SHORTENED = 10  # the first this many shortened documents are named on stderr, the rest only counted


@dataclass(slots=True)
class LineLimit:
    """Rendered output with every line longer than ``max_bytes`` shortened by ``fit_line``, and counted."""

    max_bytes: int | None  # None: lines of any length pass
    say: Callable[[str], None]
    shortened: int = 0

    def __call__(self, lines: bytes) -> bytes:
        """``lines`` (whole lines), with the long ones shortened."""
        limit = self.max_bytes
        if limit is None or len(lines) <= limit + 1:
            return lines
        if max(map(len, lines.split(b"\n"))) <= limit:  # in C: a -j N batch of short lines stays as it is
            return lines
        out = []
        for line in lines.splitlines(keepends=True):
            if len(line) - 1 > limit:
                doc = orjson.loads(line)
                self.shortened += 1
                if self.shortened <= SAY_SHORTENED:
                    self.say(f"a document of {len(line) - 1} bytes (event.id {_event_id(doc)}) was shortened to "
                             f"fit --max-message-bytes {limit}; it carries auditproc.truncated: true")
                line = fit_line(doc, limit)
            out.append(line)
        return b"".join(out)


def _event_id(doc: object) -> str:
    event = doc.get("event") if isinstance(doc, dict) else None
    return str(event.get("id", "-")) if isinstance(event, dict) else "-"


def fit_line(doc: dict, max_bytes: int) -> bytes:
    """``dumps_line(doc)``, or, when that is longer than ``max_bytes`` (newline excluded), the line of a
    copy whose largest strings and arrays were cut (strings keep their start and a mark, arrays their
    first elements) until it fits, with ``auditproc.truncated: true``; ``doc`` itself is not changed."""
    line = dumps_line(doc)
    if len(line) - 1 <= max_bytes:
        return line
    copy = orjson.loads(line)
    own = copy.get("auditproc")
    copy["auditproc"] = {**(own if isinstance(own, dict) else {}), "truncated": True}
    for _ in range(MAX_CUTS):
        line = dumps_line(copy)
        excess = len(line) - 1 - max_bytes
        if excess <= 0:
            break
        place = _largest(copy)
        if place is None:
            break
        _cut(*place, excess)
    return line


def _largest(value: object) -> tuple[dict | list, str | int, int] | None:
    """(container, key, serialised size) of the largest cuttable string or array under ``value``."""
    best: tuple[dict | list, str | int, int] | None = None
    stack: list[dict | list] = [value] if isinstance(value, dict | list) else []
    while stack:
        container = stack.pop()
        for key, item in container.items() if isinstance(container, dict) else enumerate(container):
            if isinstance(item, dict):
                stack.append(item)
                continue
            if isinstance(item, list):
                stack.append(item)
                cuttable = len(item) > 1
            else:
                cuttable = isinstance(item, str) and len(item) > KEEP_STRING_CHARS + len(TRUNCATION_MARK)
            if cuttable:
                size = len(orjson.dumps(item))
                if best is None or size > best[2]:
                    best = (container, key, size)
    return best


def _cut(container: dict | list, key: str | int, size: int, excess: int) -> None:
    """Make ``container[key]`` at least ``excess`` bytes shorter, as far as it can be."""
    item = container[key]  # type: ignore[index]
    if isinstance(item, list):
        keep = len(item) - 1
        dropped = len(orjson.dumps(item[keep])) + 1
        while keep > 1 and dropped < excess:
            keep -= 1
            dropped += len(orjson.dumps(item[keep])) + 1
        del item[keep:]
        return
    # Characters may serialise to several bytes: keep the same share of characters as of bytes.
    share = max(0.0, (size - excess - len(TRUNCATION_MARK.encode()) * 2) / size)
    keep = max(KEEP_STRING_CHARS, int(len(item) * share))
    container[key] = item[:keep] + TRUNCATION_MARK  # type: ignore[index]
