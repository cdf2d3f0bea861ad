"""Operator semantics, one table per operator (census §5: Elasticsearch semantics)."""

from __future__ import annotations

import pytest

from auditproc.eql import compile_query

ARGS = {"process": {"args": ["-c", "HUP", "/bin/sh"], "name": "hping3", "pid": 42, "args_count": 3}}
NO_PARENT = {"process": {"name": "bash"}}
WITH_PARENT = {"process": {"name": "bash", "parent": {"name": "sshd", "executable": "/usr/sbin/sshd"}}}


def _p(condition: str, doc: dict, expected: bool, id: str):
    return pytest.param(condition, doc, expected, id=id)


EQUALS = [
    _p('process.name == "hping3"', ARGS, True, "exact"),
    _p('process.name == "Hping3"', ARGS, False, "case-sensitive"),
    _p('process.name == "hping*"', ARGS, False, "no wildcard under =="),
    _p('process.name == "hping*"', {"process": {"name": "hping*"}}, True, "star is literal"),
    _p('process.args == "-c"', ARGS, True, "any value of an array"),
    _p('process.args == "-x"', ARGS, False, "no value of an array"),
    _p('event.type == "start"', {"event": {"type": ["start", "info"]}}, True, "ECS list"),
    _p("process.pid == 42", ARGS, True, "number"),
    _p("process.pid == 42.0", ARGS, True, "int equals float"),
    _p('process.pid == "42"', ARGS, True, "number field against string compares text"),
    _p("user.id == 0", {"user": {"id": "0"}}, True, "keyword against number compares text"),
    _p("user.id == 0", {"user": {"id": "00"}}, False, "keyword text differs"),
    _p("process.interactive == true", {"process": {"interactive": True}}, True, "bool"),
    _p("process.interactive == true", {"process": {"interactive": False}}, False, "bool false"),
    _p('process.name == "x"', {}, False, "missing field"),
    _p('process.name == "x"', {"process": None}, False, "null parent object"),
    _p('process.name == "x"', {"process": {"name": None}}, False, "null value"),
    _p('process.name == "x"', {"process": {"name": []}}, False, "empty list"),
    _p('process.name == "x"', {"process": "flat"}, False, "scalar where an object is expected"),
    _p('process.parent.name == "a"', {"process": {"parent": [{"name": "b"}, {"name": "a"}]}}, True, "objects flatten"),
    _p('process.args[0] == "-c"', ARGS, True, "index 0"),
    _p('process.args[1] == "-c"', ARGS, False, "index 1"),
    _p('process.args[9] == "-c"', ARGS, False, "index out of range"),
    _p('`process`.`name` == "hping3"', ARGS, True, "backtick names"),
    _p('?process.name == "hping3"', ARGS, True, "optional field"),
    _p('`@timestamp` == "t"', {"@timestamp": "t"}, True, "escaped @timestamp"),
    _p('@timestamp == "t"', {"@timestamp": "t"}, True, "@timestamp"),
]

NOT_EQUALS = [
    _p('process.parent.name != "bash"', NO_PARENT, True, "true on missing"),
    _p('process.parent.name != "sshd"', WITH_PARENT, False, "equal"),
    _p('process.parent.name != "bash"', WITH_PARENT, True, "different"),
    _p('process.args != "HUP"', ARGS, False, "array: no value may equal"),
    _p('process.args != "KILL"', ARGS, True, "array: none equals"),
    _p("process.parent.name != null", WITH_PARENT, True, "exists"),
    _p("process.parent.name != null", NO_PARENT, False, "does not exist"),
    _p("process.parent.name == null", NO_PARENT, True, "is null"),
    _p("process.parent.name == null", {"process": {"parent": {"name": []}}}, True, "[] is null"),
    _p("null == process.parent.name", WITH_PARENT, False, "null on the left"),
]

ORDERING = [
    _p("process.args_count >= 3", ARGS, True, ">="),
    _p("process.args_count > 3", ARGS, False, ">"),
    _p("process.args_count < 3.5", ARGS, True, "< float"),
    _p("3 <= process.args_count", ARGS, True, "literal on the left"),
    _p("process.args_count > 1", NO_PARENT, False, "missing"),
    _p("not process.args_count > 1", NO_PARENT, True, "not on missing is true (range query)"),
    _p('process.name < "i"', ARGS, True, "code point order"),
    _p('process.name < "I"', ARGS, False, "upper case sorts first"),
    _p('user.id < "9"', {"user": {"id": "10"}}, True, "strings: '10' < '9'"),
    _p("user.id < 9", {"user": {"id": "10"}}, True, "keyword against number compares text"),
    _p("process.pid > -1", ARGS, True, "negative literal"),
    _p("process.pid > null", ARGS, False, "ordering against null"),
]

IN = [
    _p('process.name in ("hping", "hping3")', ARGS, True, "member"),
    _p('process.name in ("HPING3")', ARGS, False, "case-sensitive"),
    _p('process.name in ("hping*")', ARGS, False, "star is literal in in()"),
    _p('process.args in ("--ofile*", "-o*")', {"process": {"args": ["--ofile=x"]}}, False, "apparmor rule bug stays literal"),
    _p('process.args in ("HUP", "x")', ARGS, True, "array any value"),
    _p("process.pid in (1, 42)", ARGS, True, "numbers"),
    _p('process.pid in ("42")', ARGS, True, "number against string"),
    _p('process.name not in ("bash")', NO_PARENT, False, "postfix not in"),
    _p('process.parent.name not in ("bash")', NO_PARENT, True, "not in on missing"),
    _p('not process.parent.name in ("bash")', NO_PARENT, True, "prefix not on missing"),
    _p('process.name in~ ("HPING3")', ARGS, True, "in~ folds case"),
    _p('process.name in~ ("HPING*")', ARGS, False, "in~ has no wildcards"),
    _p('process.name in~ ("HPING*")', {"process": {"name": "hping*"}}, True, "in~ star literal"),
    _p('process.name not in~ ("HPING3")', ARGS, False, "not in~"),
    _p("process.parent.name in (null)", NO_PARENT, True, "null member is an is-null check"),
]

COLON = [
    _p('process.name : "HPING3"', ARGS, True, "case-insensitive equality"),
    _p('process.name : "hp*"', ARGS, True, "wildcard"),
    _p('process.name : "HP*"', ARGS, True, "insensitive wildcard"),
    _p('process.name : "hping?"', ARGS, True, "? is one char"),
    _p('process.name : "hping??"', ARGS, False, "? is exactly one char"),
    _p('process.name : "hpin"', ARGS, False, "anchored"),
    _p('process.name : ("x", "*3")', ARGS, True, "list"),
    _p('process.name !: "hping3"', ARGS, False, "!:"),
    _p('process.parent.name !: "x"', NO_PARENT, True, "!: on missing"),
    _p("process.pid : 42", ARGS, True, "number"),
    _p("process.parent.name : null", NO_PARENT, True, ": null"),
    _p("process.name !: null", ARGS, True, "!: null"),
    _p('process.args : "/BIN/*"', ARGS, True, "array wildcard"),
]

LIKE = [
    _p('process.name like "hping*"', ARGS, True, "star"),
    _p('process.name like "HPING*"', ARGS, False, "like is case-sensitive"),
    _p('process.name like~ "HPING*"', ARGS, True, "like~"),
    _p('process.name like "hping?"', ARGS, True, "question mark"),
    _p('process.name like "hping"', ARGS, False, "anchored"),
    _p('process.name like "hping3"', ARGS, True, "no wildcard: exact"),
    _p('process.name like ("x", "h*3")', ARGS, True, "list"),
    _p('file.path like "*"', {"file": {"path": ""}}, True, "star matches empty"),
    _p('file.path like "/tmp/*"', {"file": {"path": "/tmp/a/b/c"}}, True, "star crosses /"),
    _p('file.path like "/tmp/*"', {"file": {"path": "/tmp/a\nb"}}, True, "star crosses newline"),
    _p(r'file.path like "C:\\Windows\\*"', {"file": {"path": "C:\\Windows\\x"}}, True, "backslash is ordinary"),
    _p(r'file.path like "C:\\Windows\\*"', {"file": {"path": "C:Windowsx"}}, False, "backslash is not an escape"),
    _p(r'file.path like "a\\*"', {"file": {"path": "a\\bcd"}}, True, "no escaping the star"),
    _p('file.path like "a.c"', {"file": {"path": "abc"}}, False, "dot is literal"),
    _p('process.pid like "4*"', ARGS, False, "numbers never match like"),
]

REGEX = [
    _p('process.name regex "hping"', ARGS, False, "anchored at the end"),
    _p('process.name regex ".*ping.*"', ARGS, True, "explicit .*"),
    _p('process.name regex "HPING[0-9]"', ARGS, False, "case-sensitive"),
    _p('process.name regex~ "HPING[0-9]"', ARGS, True, "regex~"),
    _p('process.name regex """hping\\d"""', ARGS, True, "raw string with \\d"),
    _p('process.name regex "hping\\\\d"', ARGS, True, "escaped backslash"),
    _p('process.name regex "h(p|q)ing[0-9]{1,2}"', ARGS, True, "groups and repeats"),
    _p('process.name regex "^hping3"', ARGS, False, "^ is a literal in Lucene"),
    _p('process.name regex "\\"hping\\"3"', ARGS, True, "quoted literal text"),
    _p('process.name regex "hp@"', ARGS, True, "@ is any string"),
    _p('process.args regex "-[A-Z]+"', {"process": {"args": ["x", "-Q"]}}, True, "array any value"),
    _p('process.name regex ("a", "h.*")', ARGS, True, "list"),
    _p('process.name regex "[^a]ping3"', ARGS, True, "negated class"),
    _p('process.name regex "hping3\\\\s*"', ARGS, True, "\\s"),
]

LOGIC = [
    _p('process.name == "hping3" and process.pid == 42', ARGS, True, "and"),
    _p('process.name == "x" or process.pid == 42', ARGS, True, "or"),
    _p('not process.name == "x" or false', ARGS, True, "not binds looser than ==, tighter than or"),
    _p('not (process.name == "hping3" or true)', ARGS, False, "not of a group"),
    _p("true", {}, True, "true"),
    _p("false", {}, False, "false"),
    _p("process.interactive", {"process": {"interactive": True}}, True, "bare boolean field"),
    _p("not process.interactive", {}, True, "not of a missing bare field"),
    _p("process.name == \"a\" // comment\n or /* x */ process.pid == 42", ARGS, True, "comments"),
]


@pytest.mark.parametrize(("condition", "doc", "expected"), EQUALS)
def test_equals(condition: str, doc: dict, expected: bool, check) -> None:
    assert check(condition, doc) is expected


@pytest.mark.parametrize(("condition", "doc", "expected"), NOT_EQUALS)
def test_not_equals_and_null(condition: str, doc: dict, expected: bool, check) -> None:
    assert check(condition, doc) is expected


@pytest.mark.parametrize(("condition", "doc", "expected"), ORDERING)
def test_ordering(condition: str, doc: dict, expected: bool, check) -> None:
    assert check(condition, doc) is expected


@pytest.mark.parametrize(("condition", "doc", "expected"), IN)
def test_in(condition: str, doc: dict, expected: bool, check) -> None:
    assert check(condition, doc) is expected


@pytest.mark.parametrize(("condition", "doc", "expected"), COLON)
def test_colon(condition: str, doc: dict, expected: bool, check) -> None:
    assert check(condition, doc) is expected


@pytest.mark.parametrize(("condition", "doc", "expected"), LIKE)
def test_like(condition: str, doc: dict, expected: bool, check) -> None:
    assert check(condition, doc) is expected


@pytest.mark.parametrize(("condition", "doc", "expected"), REGEX)
def test_regex(condition: str, doc: dict, expected: bool, check) -> None:
    assert check(condition, doc) is expected


@pytest.mark.parametrize(("condition", "doc", "expected"), LOGIC)
def test_logic(condition: str, doc: dict, expected: bool, check) -> None:
    assert check(condition, doc) is expected


# impact_memory_swap_modification: "a and b and c or d and not e" is "(a and b and c) or (d and not e)".
SWAP = """process where host.os.type == "linux" and event.type == "start" and
 ?process.parent.executable != null and process.name in ("swapon", "swapoff") or (
   process.name == "sysctl" and process.args like ("vm.swappiness*", "-w")
 ) and not (process.parent.name == "x")"""


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"process": {"name": "sysctl", "args": ["-w"]}}, True),  # sysctl branch: no host/event filter
        ({"process": {"name": "sysctl", "args": ["-w"], "parent": {"name": "x"}}}, False),
        ({"process": {"name": "swapon", "parent": {"executable": "/bin/sh", "name": "x"}}}, False),
        (
            {
                "host": {"os": {"type": "linux"}},
                "event": {"type": ["start"]},
                "process": {"name": "swapon", "parent": {"executable": "/bin/sh", "name": "x"}},
            },
            True,  # the exclusion guards only the sysctl branch
        ),
    ],
)
def test_and_or_precedence(doc: dict, expected: bool) -> None:
    query = compile_query(SWAP)
    doc = {"event": {"category": ["process"], **doc.get("event", {})}, **{k: v for k, v in doc.items() if k != "event"}}
    assert query.matches(doc) is expected


@pytest.mark.parametrize(
    ("text", "doc", "expected"),
    [
        ('process where true', {"event": {"category": ["process"]}}, True),
        ('process where true', {"event": {"category": ["process", "file"]}}, True),
        ('process where true', {"event": {"category": "Process"}}, False),
        ('process where true', {"event": {"category": ["file"]}}, False),
        ('process where true', {}, False),
        ('any where true', {}, True),
    ],
)
def test_category(text: str, doc: dict, expected: bool) -> None:
    assert compile_query(text).matches(doc) is expected


def test_category_field_is_configurable() -> None:
    query = compile_query("file where true", category_field="event_type")
    assert query.matches({"event_type": "file"}) and not query.matches({"event": {"category": "file"}})
