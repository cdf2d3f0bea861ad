"""Rules as an attack surface: patterns that cannot stall, rule text that is never code, rule files others cannot plant."""

from __future__ import annotations

import builtins
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from auditproc import rulefiles
from auditproc.eql import EqlSyntaxError, compile_query, evaluate
from auditproc.eql.grammar import MAX_NESTING, MAX_QUERY_BYTES
from auditproc.eql.patterns import REGEX_ENGINE
from auditproc.rulefiles import load_rules
from auditproc.ruletable import RuleTable
from tests.conftest import make_rule

REPO = Path(__file__).resolve().parents[2]
LONG = "a" * 50_000

RULE = """[metadata]
maturity = "production"

[rule]
rule_id = "{rule_id}"
name = "{name}"
description = "d"
severity = "low"
risk_score = 1
type = "eql"
language = "eql"
query = '''{query}'''
"""


def _write(path: Path, query: str = 'process where process.name == "x"', name: str = "r", rule_id: str | None = None) -> Path:
    path.write_text(RULE.format(rule_id=rule_id or path.stem, name=name, query=query))
    return path


def _seconds(query: str, value: str) -> float:
    compiled = compile_query(query)
    start = time.perf_counter()
    assert not compiled.matches({"event": {"category": "process"}, "a": value})
    return time.perf_counter() - start


@pytest.mark.parametrize("query", [
    'any where a : "*a*a*a*a*a*a*b"',
    'any where a like~ "*a?a*a*a*?a*a*b"',
    'any where a : ("*a*a*a*a*b", "a*a*a*a*a*c")',
])
def test_wildcards_cannot_backtrack_catastrophically(query: str) -> None:
    assert _seconds(query, LONG) < 0.5


@pytest.mark.skipif(REGEX_ENGINE != "re2", reason="google-re2 is not installed: regexes run on Python re")
@pytest.mark.parametrize("query", [
    'any where a regex "(a+)+b"',
    'any where a regex~ "(a|aa)*c"',
    'any where a regex "(.*a){20}b"',
    'any where a regex ("x", "(a*)*b")',
    'any where match(a, "(a+)+b")',  # the eql-package function, on the same engine
    'any where match(a, "(a)\\\\1+b")',  # a backreference RE2 rejects: null, never a stall
])
def test_regexes_run_in_linear_time(query: str) -> None:
    assert _seconds(query, LONG) < 0.5


def test_wildcard_semantics_are_kept() -> None:
    cases = [("*x*y?z", "..x..y1z", True), ("ab*b", "ab", False), ("ab*b", "abb", True), ("*", "", True),
             ("a**b", "ab", True), ("?*?", "a", False), ("*.sh", "x.SH", True), ("a*\\\\", "ab\\", True)]
    for pattern, value, expected in cases:
        assert compile_query(f'any where a : "{pattern}"').matches({"a": value}) is expected, pattern


def test_rule_text_is_data_never_code(tmp_path: Path) -> None:
    payload = "__import__('builtins').PWNED = 1"
    queries = [f'process where process.name == "{payload}"', f'process where process.name : "*{payload}*"',
               f'process where process.name regex ".*{payload}.*"', f"process where {payload}"]
    for n, query in enumerate(queries):
        _write(tmp_path / f"r{n}.toml", query.replace("'", "\\u0027") if n < 3 else query, name=payload)
    load = load_rules([tmp_path], all_rules=True)
    for rule in load.rules:
        rule.compiled.matches({"event": {"category": "process"}, "process": {"name": payload}})
    assert not hasattr(builtins, "PWNED") and load.errors  # the bare expression is a syntax error, nothing more


def test_no_dynamic_code_anywhere_in_the_package() -> None:
    forbidden = re.compile(r"\b(eval|exec|compile|__import__|import_module)\(|pickle|marshal|yaml|shell=True|os\.system")
    for path in (REPO / "auditproc").rglob("*.py"):
        assert not forbidden.search(path.read_text().replace("re.compile(", "")), path


def test_symlinks_out_of_the_rule_directory_are_not_followed(tmp_path: Path) -> None:
    outside = _write(tmp_path / "outside.toml", rule_id="outside")
    rules = tmp_path / "rules"
    (rules / "sub").mkdir(parents=True)
    _write(rules / "inside.toml")
    (rules / "sub" / "link-in.toml").symlink_to(rules / "inside.toml")
    (rules / "link-out.toml").symlink_to(outside)
    (rules / "sub" / "dir-out").symlink_to(tmp_path, target_is_directory=True)
    load = load_rules([rules])
    assert [r.rule_id for r in load.rules] == ["inside"]
    assert [str(p) for p in load.errors] == [f"{rules / 'link-out.toml'}: symlink out of the rule directory {rules}: not followed"]


@pytest.fixture
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rulefiles.os, "geteuid", lambda: 0)


def test_a_world_writable_rule_file_is_refused_as_root(tmp_path: Path, as_root: None) -> None:
    rule = _write(tmp_path / "open.toml")
    rule.chmod(0o666)
    load = load_rules([tmp_path])
    assert not load.rules
    assert str(load.errors[0]) == f"{rule}: world-writable rule file (chmod o-w it): not loaded while running as root"


def test_a_rule_in_a_world_writable_directory_without_sticky_bit_is_refused_as_root(tmp_path: Path, as_root: None) -> None:
    shared = tmp_path / "shared"
    (shared / "rules").mkdir(parents=True)
    rule = _write(shared / "rules" / "r.toml")
    shared.chmod(0o777)
    load = load_rules([rule])
    assert not load.rules and f"in world-writable directory {shared} without the sticky bit" in str(load.errors[0])
    shared.chmod(0o1777)  # sticky, like /tmp: nobody else can replace what is inside
    assert [r.rule_id for r in load_rules([rule]).rules] == ["r"]


def test_the_same_files_load_for_an_ordinary_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rulefiles.os, "geteuid", lambda: 1000)
    _write(tmp_path / "open.toml").chmod(0o666)
    assert [r.rule_id for r in load_rules([tmp_path]).rules] == ["open"]


def test_the_shipped_rules_pass_the_root_checks(as_root: None) -> None:
    load = load_rules([REPO / "rules"])
    assert load.rules and not load.errors


def test_exception_wildcards_cannot_backtrack_catastrophically() -> None:
    from auditproc.exceptions import wildcard_pattern

    pattern = wildcard_pattern("*a*a*a*a*b")
    start = time.perf_counter()
    assert pattern.fullmatch("a" * 20_000) is None
    assert time.perf_counter() - start < 0.5
    cases = [("*x*y?z", "..x..y1z", True), ("ab*b", "ab", False), ("a\\*b*", "a*bc", True), ("a\\*b", "axb", False),
             ("*", "", True), ("a**b", "ab", True), ("*.SH", "x.sh", False)]
    for text, value, expected in cases:
        assert (wildcard_pattern(text).fullmatch(value) is not None) is expected, text


# --- rules that would exhaust the stack, the memory or the patience of the loader -----------------

NESTED = {  # a query nesting n levels, by how it nests
    "not": lambda n: "process where " + "not " * n + "a == 1",
    "plus": lambda n: "process where a == " + " + ".join(["b"] * (n + 1)),
    "parentheses": lambda n: "process where " + "(" * n + "a == 1" + ")" * n,
    "function calls": lambda n: "process where " + "length(" * n + "a" + ")" * n + " == 1",
    "signs": lambda n: "process where a == " + "-" * n + "b",
    "arguments": lambda n: "process where a == " + "add(1, " * n + "b" + ")" * n,
    "not and parentheses": lambda n: "process where " + "not (" * (n // 2) + "a == 1" + ")" * (n // 2),
    "arraySearch": lambda n: "process where " + "arraySearch(a, x, " * n + "x == 1" + ")" * n,
}
ISSUE_DEPTHS = {"not": 500, "plus": 1200, "signs": 1000}  # seen in issue 10: RecursionError tracebacks
SPARE_FRAMES = 200  # what callers may already use: the CLI, follow's signal handler, pytest


@pytest.mark.parametrize("shape", NESTED)
def test_a_query_nesting_too_deep_is_a_rule_error_at_its_position(tmp_path: Path, shape: str) -> None:
    rule = _write(tmp_path / "deep.toml", NESTED[shape](ISSUE_DEPTHS.get(shape, 300)))
    (problem,) = load_rules([rule]).errors
    text = rule.read_text()
    assert problem.line == text[: text.index("query")].count("\n") + 1
    assert problem.column is not None and problem.column > len("query = '''")
    assert str(problem).startswith(f"{rule}:{problem.line}:{problem.column}: EQL syntax error: query nests more than")


def _with_frames_in_use(frames: int, call: Callable[[], object]) -> object:
    return call() if frames == 0 else _with_frames_in_use(frames - 1, call)


@pytest.mark.parametrize("shape", NESTED)
def test_the_deepest_accepted_queries_leave_stack_to_spare(shape: str) -> None:
    query = NESTED[shape](MAX_NESTING)
    doc = {"event": {"category": "process"}, "a": [1], "b": 1}

    def everything() -> None:
        compiled = compile_query(query)
        str(compiled.ast)
        compiled.matches(doc)
        evaluate(compiled.ast, doc)
        RuleTable([make_rule(query)]).match(doc)

    _with_frames_in_use(SPARE_FRAMES, everything)
    with pytest.raises(EqlSyntaxError, match="nests more than"):
        compile_query(NESTED[shape](MAX_NESTING + 2))


def test_a_query_over_1_mib_is_refused_before_parsing(tmp_path: Path) -> None:
    term = 'process.name == "abcdefgh" or '
    query = "process where " + term * (MAX_QUERY_BYTES // len(term)) + 'process.name == "x"'
    rule = _write(tmp_path / "big.toml", query)
    (problem,) = load_rules([rule]).errors
    assert str(problem).startswith(f"{rule}:12:12: EQL syntax error: query is larger than 1 MiB")


def test_a_rule_file_over_4_mib_is_refused_unread(tmp_path: Path) -> None:
    rule = _write(tmp_path / "huge.toml")
    os.truncate(rule, 64 << 20)  # sparse: nothing to write, but 64 MiB to read for whoever tries
    assert [str(p) for p in load_rules([rule]).errors] == [
        f"{rule}: rule file is larger than 4 MiB ({64 << 20:,} bytes): not loaded"
    ]
