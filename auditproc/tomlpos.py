"""Positions in TOML text: tomllib returns plain dicts, so where a key or table sits is found by scanning."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator

ROOT_TABLE = ""  # the keys before the first [table] header
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)$")


def line_column(text: str, offset: int) -> tuple[int, int]:
    """Return the 1-based line and column of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def decode_error(text: str, exc: tomllib.TOMLDecodeError) -> tuple[int, int, str]:
    """Return (line, column, message) of a decode error; tomllib on 3.11 only has the position in its message."""
    message = str(exc)
    match = _TOML_POSITION.search(message)
    if match:
        return int(match.group(1)), int(match.group(2)), f"TOML: {message[: match.start()].strip()}"
    line, column = line_column(text, len(text.rstrip()))  # just after the last character written
    return line, column, f"TOML: {message.replace(' (at end of document)', '')} at end of file"


def table_spans(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield (table name, start offset of its header, offset where its body ends), the root table first."""
    headers = [
        (m.group(1).strip(), m.start())
        for m in re.finditer(r"^[ \t]*\[\[?([^\[\]\n]+)\]\]?[ \t]*(?:#.*)?$", text, re.MULTILINE)
    ]
    yield ROOT_TABLE, 0, headers[0][1] if headers else len(text)
    for i, (name, start) in enumerate(headers):
        end = headers[i + 1][1] if i + 1 < len(headers) else len(text)
        yield name, start, end


def table_position(text: str, table: str) -> tuple[int, int]:
    """Return the position of a table's header, or of the file start when it has none."""
    for name, start, _ in table_spans(text):
        if name == table and table != ROOT_TABLE:
            return line_column(text, text.index("[", start))
    return 1, 1


def key_offset(text: str, table: str, key: str) -> re.Match[str] | None:
    """Find ``key = `` inside ``table``; the match ends where the value starts."""
    pattern = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=[ \t]*", re.MULTILINE)
    for name, start, end in table_spans(text):
        if name == table:
            return pattern.search(text, start, end)
    return None


def key_position(text: str, table: str, key: str) -> tuple[int, int]:
    """Return the position of a key's value, or of its table's header when the key is absent."""
    match = key_offset(text, table, key)
    if match is None:
        return table_position(text, table)
    return line_column(text, match.end())
