"""Shared fixtures for the EQL tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from auditproc.eql import compile_query, evaluate


def _check(condition: str, doc: dict) -> bool:
    query = compile_query(f"any where {condition}")
    compiled = query.matches(doc)
    assert evaluate(query.ast, doc) == compiled, "compiler and interpreter disagree"
    return compiled


@pytest.fixture
def check() -> Callable[[str, dict], bool]:
    """Return a function: does ``any where <condition>`` match the doc (compiler == interpreter)."""
    return _check
