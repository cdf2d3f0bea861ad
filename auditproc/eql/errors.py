"""Errors raised while parsing or compiling EQL."""

from __future__ import annotations


class EqlSyntaxError(ValueError):
    """A query that does not parse; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, text: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.text = text
        self.line = line
        self.column = column

    def __str__(self) -> str:
        lines = self.text.splitlines() or [""]
        source = lines[self.line - 1] if 0 < self.line <= len(lines) else ""
        caret = " " * (self.column - 1) + "^"
        return f"{self.message} (line {self.line}, column {self.column})\n{source}\n{caret}"


class EqlUnsupportedError(ValueError):
    """A recognised query shape (sequence, sample, join, pipes) that auditproc does not evaluate."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"unsupported EQL {kind}: {reason}")
        self.kind = kind
        self.reason = reason
