"""Functions, one table each, and the three-valued logic of scripts (census §5.1)."""

from __future__ import annotations

import pytest

from auditproc.eql.functions import FUNCTIONS, call

P = {"process": {"name": "explorer.exe", "executable": "/usr/bin/explorer.exe", "command_line": "/usr/bin/explorer.exe -x", "args": ["a", "bb"]}}
NET = {"source": {"ip": "10.1.2.3"}, "destination": {"ip": ["192.168.0.1", "fe80::1"]}}

CASES = [
    ('startsWith(process.name, "explorer")', P, True),
    ('startsWith(process.name, "EXPLORER")', P, False),
    ('startsWith~(process.name, "EXPLORER")', P, True),
    ('STARTSWITH(process.name, "explorer")', P, True),
    ('startswith(process.name, "x")', P, False),
    ("startsWith(process.command_line, process.executable)", P, True),
    ('endsWith(process.name, ".exe")', P, True),
    ('endsWith~(process.name, ".EXE")', P, True),
    ('stringContains(process.name, "plore")', P, True),
    ('stringContains~(process.name, "PLORE")', P, True),
    ('stringContains(process.args, "bb")', P, True),
    ('cidrmatch(source.ip, "10.0.0.0/8")', NET, True),
    ('cidrMatch(source.ip, "192.168.0.0/16", "10.1.2.3/32")', NET, True),
    ('cidrMatch(source.ip, "192.168.0.0/16")', NET, False),
    ('cidrMatch(destination.ip, "fe80::/10")', NET, True),
    ('cidrMatch(source.ip, "not a cidr")', NET, False),
    ('cidrMatch(source.ip, "10.0.0.0/8")', {"source": {"ip": "garbage"}}, False),
    ("length(process.name) == 12", P, True),
    ("length(process.args) == 2", P, True),
    ("length(process.name) > 50", P, False),
    ('between(process.name, "ex", ".exe") == "plorer"', P, True),
    ('between(process.executable, "/", "/", true) == "usr/bin"', P, True),
    ('between(process.executable, "/", "/") == "usr"', P, True),
    ('between~(process.name, "EX", ".") == "plorer"', P, True),
    ('between(process.name, "zz", ".") == ""', P, True),
    ('indexOf(process.name, "plorer") == 2', P, True),
    ('indexOf(process.name, "plorer", 3) == null', P, True),
    ('indexOf(process.name, "nope") == null', P, True),
    ('substring(process.name, 0, 8) == "explorer"', P, True),
    ('substring(process.name, -3) == "exe"', P, True),
    ('concat(process.name, "-", 1) == "explorer.exe-1"', P, True),
    ("concat(process.name, process.parent.name) == null", P, True),
    ('string(length(process.name)) == "12"', P, True),
    ('number("0x10", 16) == 16', {}, True),
    ('number("12") == 12', {}, True),
    ('number("1.5") == 1.5', {}, True),
    ('number("x") == null', {}, True),
    ("add(1, 2) == 3", {}, True),
    ("subtract(1, 2) == -1", {}, True),
    ("multiply(2, 2.5) == 5", {}, True),
    ("divide(7, 2) == 3", {}, True),
    ("divide(-7, 2) == -3", {}, True),
    ("divide(7, 2.0) == 3.5", {}, True),
    ("divide(1, 0) == null", {}, True),
    ("modulo(-7, 2) == -1", {}, True),
    ("7 % 3 == 1", {}, True),
    ("-(2 + 3) * 2 == -10", {}, True),
    ("length(process.name) + 1 == 13", P, True),
    ('match(process.name, "exp.*")', P, True),
    ('matchLite(process.name, "x", "e[a-z]+\\\\.exe")', P, True),
    ("safe(divide(1, 0)) == null", {}, True),
    ('arraySearch(process.args, a, a == "bb")', P, True),
    ('arraySearch(process.args, a, a == "c")', P, False),
]


@pytest.mark.parametrize(("condition", "doc", "expected"), CASES, ids=[c[0] for c in CASES])
def test_function(condition: str, doc: dict, expected: bool, check) -> None:
    assert check(condition, doc) is expected


# A script (function over a missing field, field against field) is null, and `not null` stays
# null; a pushed-down predicate (field against literal) is two-valued.
THREE_VALUED = [
    ("length(process.parent.name) > 5", False),
    ("not length(process.parent.name) > 5", False),
    ("not length(process.parent.name) < 5", False),
    ("process.name == process.parent.name", False),
    ("not process.name == process.parent.name", False),
    ("process.name != process.parent.name", False),
    ("startsWith(process.parent.name, process.name)", False),
    ("not startsWith(process.parent.name, process.name)", False),
    ('not startsWith(process.parent.name, "x")', True),  # field + literal: a prefix query
    ('not cidrMatch(source.ip, "10.0.0.0/8")', True),
    ("not (length(process.parent.name) > 5 and true)", True),  # the bool query is two-valued
    ("not process.parent.name == null", False),
    ("not (process.parent.name != null)", True),
    ("process.name in (process.parent.name, \"x\")", False),
    ("not process.name in (process.parent.name, \"x\")", False),
    ("not process.name in (process.parent.name, \"bash\")", False),
    ("not process.name in (process.parent.name, \"zsh\")", False),  # no match + null member: null
    ("not process.pid + 1 > 3", False),  # arithmetic makes it a script
]


@pytest.mark.parametrize(("condition", "expected"), THREE_VALUED, ids=[c[0] for c in THREE_VALUED])
def test_three_valued_scripts(condition: str, expected: bool, check) -> None:
    assert check(condition, {"process": {"name": "bash"}}) is expected


def test_function_names_are_case_insensitive_and_registered_lower_case() -> None:
    assert all(name == name.lower() for name in FUNCTIONS)
    assert {"cidrmatch", "startswith", "endswith", "stringcontains", "length"} <= FUNCTIONS.keys()


@pytest.mark.parametrize("name", sorted(n for n, f in FUNCTIONS.items() if f.impl is not None and n != "safe"))
def test_functions_return_null_on_bad_input(name: str) -> None:
    function = FUNCTIONS[name]
    args = (None,) * function.min_args
    assert call(function, args, False) is None or name == "cidrmatch"
    assert call(function, ({"an": "object"},) + (1,) * (function.min_args - 1), False) in (None, False, "")
