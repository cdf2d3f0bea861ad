"""Shared test helpers: the golden-file switch, the location of ../shared, a minimal rule."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from auditproc.eql import compile_query
from auditproc.rulefiles import Rule

# CI runs the same examples every time (a red build must be reproducible, and new counterexamples
# are found by local runs, which stay random); no deadlines on a shared 2-core machine.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The rule cache of every test run (and of the commands tests start) in a fresh folder, never the user's.
_RULE_CACHE = tempfile.TemporaryDirectory(prefix="auditproc-test-cache-")
os.environ["CACHE_DIRECTORY"] = _RULE_CACHE.name

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
SHARED = REPO.parent / "shared"
ELASTIC_LINUX = SHARED / "elastic-rules" / "linux"
needs_elastic = pytest.mark.skipif(not ELASTIC_LINUX.is_dir(), reason="../shared/elastic-rules is not present")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite fixtures/*.expected.ndjson from the current output"
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the calling test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


def make_rule(query: str, number: int = 0, category_field: str = "event.category") -> Rule:
    """Return a minimal compiled rule for ``query``, ``test-<number>``."""
    return Rule(
        rule_id=f"test-{number}",
        name=f"test rule {number}",
        description="",
        severity="low",
        risk_score=1,
        type="eql",
        language="eql",
        query=query,
        path=Path("<test>"),
        compiled=compile_query(query, category_field),
    )
