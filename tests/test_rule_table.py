"""RuleTable: index keys extracted from queries, candidate lookup, and exactness against brute force."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable
from dataclasses import fields, is_dataclass

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from auditproc.eql import EqlSyntaxError, parse_query
from auditproc.eql.ast import Field, Literal, Not
from auditproc.normalize import EcsSettings
from auditproc.pipeline import PipelineSettings, Reporter, RunStats, enriched_documents
from auditproc.rulefiles import Rule, default_rules_dir, load_rules
from auditproc.ruletable import (
    CONTAINS,
    EXACT,
    FOLDED,
    FOLDED_CONTAINS,
    FOLDED_PREFIX,
    FOLDED_REGEX,
    FOLDED_SUFFIX,
    MAX_BRANCHES,
    PREFIX,
    REGEX,
    SUFFIX,
    Alternative,
    Entry,
    RuleTable,
    index_key,
)
from tests.conftest import ELASTIC_LINUX, make_rule, needs_elastic


def key_of(condition: str) -> dict[str, set[tuple[str, str]]] | None:
    key = index_key(parse_query(f"process where {condition}").condition)
    if key is None:
        return None
    return probes_by_field(alt for branch in key.branches for alt in branch.find)


def probes_by_field(alternatives: Iterable[Alternative]) -> dict[str, set[tuple[str, str]]]:
    """Return the probes of ``alternatives`` by field, merged, as (kind, text) pairs."""
    merged: dict[str, set[tuple[str, str]]] = {}
    for alt in alternatives:
        merged.setdefault(alt.field, set()).update((p.kind, p.text) for p in alt.probes)
    return merged


NAME = "process.name"

# (condition, expected key as {field: {(kind, text)}} or None)
INDEX_KEY_CASES = [
    ('process.name == "a"', {NAME: {(EXACT, "a")}}),
    ('"a" == process.name', {NAME: {(EXACT, "a")}}),
    ('?process.name == "a"', {NAME: {(EXACT, "a")}}),
    ('process.name in ("a", "B")', {NAME: {(EXACT, "a"), (EXACT, "B")}}),
    ('process.name in~ ("A", "b")', {NAME: {(FOLDED, "a"), (FOLDED, "b")}}),
    ('process.name : "HPing3"', {NAME: {(FOLDED, "hping3")}}),
    (
        'process.name : ("Py*", "*SH", "a?c")',
        {NAME: {(FOLDED_PREFIX, "py"), (FOLDED_SUFFIX, "sh"), (FOLDED_PREFIX, "a")}},
    ),
    ('process.name like ("py*", "*sh", "exact")', {NAME: {(PREFIX, "py"), (SUFFIX, "sh"), (EXACT, "exact")}}),
    ('process.name like~ ("Py*", "Exact")', {NAME: {(FOLDED_PREFIX, "py"), (FOLDED, "exact")}}),
    ('process.name like "*"', None),
    ('process.name : "*X*"', {NAME: {(FOLDED_CONTAINS, "x")}}),
    ('process.name like ("*ab*cde*", "*?")', None),
    ('process.name like "*ab*cde*"', {NAME: {(CONTAINS, "cde")}}),
    ('process.name : "\u0130nit*"', None),  # re.IGNORECASE folds non-ASCII differently from str.lower
    ('process.name : "*\u0131t"', None),
    ('process.name == "\u00c4"', {NAME: {(EXACT, "\u00c4")}}),
    # regexps are probes as they are: RE2 matches them as the engine does
    ('process.name regex "ab.*"', {NAME: {(REGEX, "ab.*")}}),
    (
        'process.executable regex~ """/VAR/run/\\w+\\.(pid|lock)"""',
        {"process.executable": {(FOLDED_REGEX, "/VAR/run/\\w+\\.(pid|lock)")}},
    ),
    ('process.name regex ("ab?c", "x[0-9]+yz{2}")', {NAME: {(REGEX, "ab?c"), (REGEX, "x[0-9]+yz{2}")}}),
    ('process.name regex "a|b"', {NAME: {(REGEX, "a|b")}}),
    ('process.name regex~ ".*\u0130nit"', {NAME: {(FOLDED_REGEX, ".*\u0130nit")}}),
    ('not process.name == "a"', None),
    ('process.name != "a"', None),
    ('process.name in ("a", null)', None),  # a null member also matches a missing field
    ("process.name == 5", None),
    ("process.name == null", None),
    ('process.args[0] == "a"', None),
    ('startsWith(process.name, "a")', None),
    ('host.os.type == "linux" and event.type == "start"', None),
    ('event.action == "exec"', {"event.action": {(EXACT, "exec")}}),
    ('event.action == "exec" and process.name == "a"', {NAME: {(EXACT, "a")}}),
    # one branch per side of the "or": each is found by its own most selective clause
    (
        'event.action == "exec" and (process.name == "a" or process.executable : "/x*")',
        {NAME: {(EXACT, "a")}, "event.action": {(EXACT, "exec")}},
    ),
    ('process.args like "http*:10250/*"', {"process.args": {(CONTAINS, ":10250/")}}),  # the longest piece
    (
        'event.action like ("exec*", "start") and process.parent.name == "a"',
        {"process.parent.name": {(EXACT, "a")}},
    ),
    ('user.id == "0" and process.parent.args == "-c"', {"process.parent.args": {(EXACT, "-c")}}),
    ('process.parent.name == "a" and process.name == "b"', {NAME: {(EXACT, "b")}}),
    ('process.executable == "/x" and process.name like "a*"', {"process.executable": {(EXACT, "/x")}}),
    (
        '(process.name == "a" and user.id == "0") or process.name in ("b", "c")',
        {NAME: {(EXACT, x) for x in "abc"}},
    ),
    (
        'process.name == "a" or process.executable : "/B"',
        {NAME: {(EXACT, "a")}, "process.executable": {(FOLDED, "/b")}},
    ),
    ('process.name == "a" or not user.id == "0"', None),
    ('process.name == "a" and (process.name == "b" or user.id == "0")', {NAME: {(EXACT, "a")}}),
]


@pytest.mark.parametrize(("condition", "expected"), INDEX_KEY_CASES, ids=[c[0] for c in INDEX_KEY_CASES])
def test_index_key(condition: str, expected: dict | None) -> None:
    assert key_of(condition) == expected


def branches_of(condition: str, *context: object) -> list[tuple[dict, dict]]:
    key = index_key(parse_query(f"process where {condition}").condition, *context)  # type: ignore[arg-type]
    assert key is not None
    return [
        (probes_by_field(branch.find), probes_by_field(branch.checks[0]) if branch.checks else {})
        for branch in key.branches
    ]


# (condition, expected branches as (find, check), each {field: {(kind, text)}})
BRANCH_CASES = [
    (
        'process.name == "a" and process.parent.name : "B"',
        [({NAME: {(EXACT, "a")}}, {"process.parent.name": {(FOLDED, "b")}})],
    ),
    ('process.name == "a" and event.action == "exec"', [({NAME: {(EXACT, "a")}}, {"event.action": {(EXACT, "exec")}})]),
    # every exec event auditproc emits says "executed": a check on it would never drop anything
    ('process.name == "a" and event.action in ("exec", "executed")', [({NAME: {(EXACT, "a")}}, {})]),
    ('process.name == "a" or process.parent.name == "b"', [({NAME: {(EXACT, "a")}}, {}), ({"process.parent.name": {(EXACT, "b")}}, {})]),
    # a common name is the check, the rare argument the find
    (
        'process.name == "bash" and process.args : "*cdll.LoadLibrary*"',
        [({"process.args": {(FOLDED_CONTAINS, "cdll.loadlibrary")}}, {NAME: {(EXACT, "bash")}})],
    ),
    (
        '(process.name == "bash" and process.args like "* enable *") or '
        '(process.name == "openssl" and process.args == "-engine")',
        [
            ({"process.args": {(CONTAINS, " enable ")}}, {NAME: {(EXACT, "bash")}}),
            ({NAME: {(EXACT, "openssl")}}, {"process.args": {(EXACT, "-engine")}}),
        ],
    ),
    # "and" over "or" multiplies out; user.id "0" holds too often to be worth checking
    (
        'process.name == "a" and (process.args == "-c" or process.parent.args == "-c") and user.id == "0"',
        [
            ({NAME: {(EXACT, "a")}}, {"process.args": {(EXACT, "-c")}}),
            ({NAME: {(EXACT, "a")}}, {"process.parent.args": {(EXACT, "-c")}}),
        ],
    ),
    # past MAX_BRANCHES, the branches merge into one clause per field
    (
        " or ".join(f'process.name == "n{i}"' for i in range(MAX_BRANCHES + 1)),
        [({NAME: {(EXACT, f"n{i}") for i in range(MAX_BRANCHES + 1)}}, {})],
    ),
]


@pytest.mark.parametrize(("condition", "expected"), BRANCH_CASES, ids=[c[0][:60] for c in BRANCH_CASES])
def test_branches(condition: str, expected: list) -> None:
    assert branches_of(condition) == expected


def test_any_rule_branches_left_to_their_category() -> None:
    condition = (
        '(event.category == "file" and file.path == "/etc/hosts") or '
        '(event.category == "process" and process.args == "/etc/hosts")'
    )
    both = [({"file.path": {(EXACT, "/etc/hosts")}}, {}), ({"process.args": {(EXACT, "/etc/hosts")}}, {})]
    assert branches_of(condition) == both
    assert branches_of(condition, "process", {"file"}) == both[1:]
    assert branches_of(condition, "file", {"process"}) == both[:1]
    assert branches_of(condition, "process", set()) == both  # no file bucket: the file branch stays


# --- lookups -------------------------------------------------------------------------------------


def process_doc(**process: object) -> dict:
    return {"event": {"category": ["process"], "type": ["start"]}, "process": process}


TABLE_QUERIES = [
    'process where process.name in ("hping", "hping3")',  # 0
    'process where process.name : "Nmap"',  # 1
    'process where process.name like~ "python*"',  # 2
    'process where process.executable like "*/nc"',  # 3
    'process where process.args == "5"',  # 4
    'any where process.name == "curl"',  # 5
    'file where process.name == "hping3"',  # 6
    'process where startsWith(process.executable, "/") and not stringContains(process.executable, "N")',  # 7: scanned
    'process where process.name == "true"',  # 8
    'process where process.name in~ ("kill")',  # 9
    'process where process.name : "s*"',  # 10
    'process where process.command_line : "*\\\\x*\\\\x*"',  # 11
    'process where process.name == "dash" and process.parent.name == "node"',  # 12
    'process where process.name == "bash" and user.name == "lp"',  # 13: user.* is read only if needed
    'any where (event.category == "file" and file.path == "/etc/hosts") or process.args == "/etc/hosts"',  # 14
    'process where process.args == "-y" and process.args == "--one" and process.args == "--two"',  # 15: 2 checks
]


@pytest.fixture(scope="module")
def table() -> RuleTable:
    return RuleTable(make_rule(q, i) for i, q in enumerate(TABLE_QUERIES))


# (doc, candidate positions, matching positions)
SCAN = 7  # the regex rule: a candidate for every process event

# (case, doc, candidate positions, matching positions)
LOOKUP_CASES = [
    ("exact", process_doc(name="hping3"), [0, SCAN], [0]),
    ("exact is case-sensitive", process_doc(name="HPING3"), [SCAN], []),
    ("folded", process_doc(name="NMAP"), [1, SCAN], [1]),
    ("folded prefix", process_doc(name="Python3.11"), [2, SCAN], [2]),
    ("suffix", process_doc(executable="/usr/bin/nc"), [3, SCAN], [3, SCAN]),
    ("suffix is case-sensitive", process_doc(executable="/usr/bin/NC"), [SCAN], []),
    ("any value of an array", process_doc(args=["x", "5"]), [4, SCAN], [4]),
    ("number as keyword text", process_doc(args=[5]), [4, SCAN], [4]),
    ("bool as keyword text", process_doc(name=True), [SCAN, 8], [8]),
    ("any-category rule", {"process": {"name": "curl"}}, [5], [5]),
    ("other category", {"event": {"category": "file"}, "process": {"name": "hping3"}}, [6], [6]),
    (
        "both categories, load order",
        {"event": {"category": ["file", "process"]}, "process": {"name": "hping3"}},
        [0, 6, SCAN],
        [0, 6],
    ),
    ("scan list", process_doc(executable="/tmp/x"), [SCAN], [SCAN]),
    (
        "array of objects",
        {"event": {"category": "process"}, "process": [{"name": "x"}, {"name": "hping"}]},
        [0, SCAN],
        [0],
    ),
    ("kelvin sign lowers to k", process_doc(name="\u212aILL"), [SCAN, 9], [9]),
    ("long s under re.IGNORECASE", process_doc(name="\u017fsh"), [SCAN, 10], [10]),
    ("folded contains", process_doc(command_line="echo \\X41\\x42"), [SCAN, 11], [11]),
    ("second key holds", process_doc(name="dash", parent={"name": "node"}), [SCAN, 12], [12]),
    ("second key fails", process_doc(name="dash", parent={"name": "bash"}), [SCAN], []),
    ("lazy check holds", {**process_doc(name="bash"), "user": {"name": "lp"}}, [SCAN, 13], [13]),
    ("lazy check fails", {**process_doc(name="bash"), "user": {"name": "root"}}, [SCAN], []),
    ("any rule, category without rules", {"event": {"category": "network"}, "process": {"args": ["/etc/hosts"]}}, [14], [14]),
    ("any rule, its file branch", {"event": {"category": "file"}, "file": {"path": "/etc/hosts"}}, [14], [14]),
    ("file branch left to the file bucket", {**process_doc(), "file": {"path": "/etc/hosts"}}, [SCAN], []),
    ("both buckets", {"event": {"category": ["process", "file"]}, "file": {"path": "/etc/hosts"}}, [SCAN, 14], [14]),
    ("both joint checks hold", process_doc(args=["t", "-y", "--one", "--two"]), [SCAN, 15], [15]),
    ("one joint check fails", process_doc(args=["t", "-y", "--one"]), [SCAN], []),
    ("no category", {"process": {"name": "hping3"}}, [], []),
    ("missing fields", {"event": {"category": ["process"]}}, [SCAN], []),
]


@pytest.mark.parametrize(
    ("doc", "candidates", "matches"), [c[1:] for c in LOOKUP_CASES], ids=[c[0] for c in LOOKUP_CASES]
)
def test_lookup(table: RuleTable, doc: dict, candidates: list[int], matches: list[int]) -> None:
    assert table.scanned == (table.rules[SCAN],)
    assert [table.rules.index(r) for r in table.candidates(doc)] == candidates
    assert [table.rules.index(r) for r in table.match(doc)] == matches


def test_candidates_stay_few_as_rules_grow() -> None:
    names = [f"tool{i}" for i in range(1000)]
    table = RuleTable(
        make_rule(f'process where process.name in ("{n}", "{n}-x")', i) for i, n in enumerate(names)
    )
    assert table.scanned == ()
    assert [r.rule_id for r in table.match(process_doc(name="tool123-x"))] == ["test-123"]
    assert table.candidates(process_doc(name="bash", args=["bash", "-c", "tool1"])) == []


@needs_elastic
def test_elastic_rules_are_nearly_all_indexed(record_property) -> None:
    table = RuleTable(load_rules([ELASTIC_LINUX], all_rules=True).rules)
    scanned = len(table.scanned)
    record_property("elastic_indexed", len(table.rules) - scanned)
    record_property("elastic_scanned", scanned)
    assert scanned <= 5
    doc = process_doc(name="unrelated-tool", executable="/usr/bin/unrelated-tool", args=["unrelated-tool"])
    doc["event"]["action"] = "executed"
    doc["host"] = {"os": {"type": "linux"}}
    assert len(table.candidates(doc)) <= 10


# --- every category: a document meets only the rules that can match its category --------------

CATEGORY_QUERIES = [
    'file where file.path == "/etc/shadow"',  # 0
    'file where event.action == "deleted"',  # 1
    "network where destination.port == 4444",  # 2: scanned in its bucket
    'driver where event.action == "loaded-kernel-module"',  # 3
    'iam where user.name == "backdoor"',  # 4
    'process where process.name == "socat"',  # 5
    'any where process.name == "socat"',  # 6
    'any where event.category in ("network", "iam") and process.name == "socat"',  # 7
    'any where (event.category == "driver" and process.name == "insmod") or '
    '(event.category == "file" and file.path == "/etc/modules")',  # 8
    'any where event.category == "authentication"',  # 9: a category no other rule names
]


def category_doc(category: str, **fields: dict) -> dict:
    return {"event": {"category": [category], "type": ["info"], **fields.pop("event", {})}, **fields}


# (case, doc, rules it can match, which are its candidates too)
CATEGORY_CASES = [
    ("file", category_doc("file", event={"action": "deleted"}, file={"path": "/etc/shadow"}, process={"name": "socat"}), [0, 1, 6]),
    ("file, the any rule's file branch", category_doc("file", file={"path": "/etc/modules"}, process={"name": "insmod"}), [8]),
    ("network", category_doc("network", destination={"port": 4444}, process={"name": "socat"}), [2, 6, 7]),
    ("driver", category_doc("driver", event={"action": "loaded-kernel-module"}, process={"name": "insmod"}), [3, 8]),
    ("iam", category_doc("iam", user={"name": "backdoor"}, process={"name": "socat"}), [4, 6, 7]),
    ("authentication", category_doc("authentication", process={"name": "sshd"}), [9]),
    ("a category no rule names", category_doc("web", file={"path": "/etc/modules"}, process={"name": "socat"}), [6]),
]


@pytest.mark.parametrize(("doc", "expected"), [c[1:] for c in CATEGORY_CASES], ids=[c[0] for c in CATEGORY_CASES])
def test_documents_of_every_category_meet_only_their_rules(doc: dict, expected: list[int]) -> None:
    table = RuleTable(make_rule(q, i) for i, q in enumerate(CATEGORY_QUERIES))
    assert [table.rules.index(r) for r in table.match(doc)] == expected
    assert [table.rules.index(r) for r in table.candidates(doc)] == expected


# --- exactness: the table returns exactly what testing every rule returns ----------------------


@functools.cache
def known_rules() -> tuple[Rule, ...]:
    """Return the shipped rules plus, when present, every loadable Elastic Linux rule."""
    paths = [default_rules_dir()] + ([ELASTIC_LINUX] if ELASTIC_LINUX.is_dir() else [])
    load = load_rules(paths, all_rules=True)
    return tuple(load.rules)


def variants(text: str) -> set[str]:
    """Return values near ``text``: case variants, near misses and Unicode case look-alikes."""
    out = {text, text.upper(), text.title(), text.swapcase(), text + "x", "x" + text, text[:-1], text + " "}
    out |= {text.replace("i", "\u0131"), text.replace("s", "\u017f"), text.replace("k", "\u212a")}
    out.add(text.replace("I", "\u0130").replace("i", "\u0130"))
    return {v for v in out if v}


def literals_by_field(entry: Entry) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Return, per field, the strings a rule (or sequence term) compares it with (wildcards filled in): (required, excluded)."""
    found: tuple[dict[str, set[str]], dict[str, set[str]]] = ({}, {})

    def visit(node: object, negated: bool = False) -> None:
        if isinstance(node, tuple):
            for item in node:
                visit(item, negated)
            return
        if not is_dataclass(node):
            return
        negated ^= isinstance(node, Not) or getattr(node, "op", None) == "!="
        subject = getattr(node, "expr", None) or getattr(node, "left", None)
        members = (
            getattr(node, "values", None)
            or getattr(node, "patterns", None)
            or (getattr(node, "right", None),)
        )
        if isinstance(subject, Field) and all(isinstance(part, str) for part in subject.path):
            name = ".".join(subject.path)  # type: ignore[arg-type]
            for member in members:
                if isinstance(member, Literal) and isinstance(member.value, str):
                    text = member.value.replace("*", "").replace("?", "x")
                    found[negated].setdefault(name, set()).add(text)
        for item in fields(node):
            visit(getattr(node, item.name), negated)

    visit(entry.compiled.ast.condition)
    return found


def documents(rule_words: dict[str, set[str]], near_misses: dict[str, set[str]]) -> st.SearchStrategy[dict]:
    """Documents aimed at one rule: its fields mostly take its own literals, else near misses or odd values."""

    def value(name: str) -> st.SearchStrategy[object]:
        own = st.sampled_from(sorted(rule_words.get(name) or near_misses[name]))
        near = st.sampled_from(sorted(near_misses.get(name) or rule_words[name]))
        word = st.one_of(*[own] * 7, near)
        odd = st.one_of(st.lists(word, min_size=1, max_size=4), st.none(), st.integers(0, 9), st.booleans())
        return st.one_of(*[word] * 6, odd)

    category = st.sampled_from([["process"], "process", ["file"], ["process", "file"], [], "PROCESS", 1])
    required = {"event.category": st.one_of(st.just(["process"]), category)}
    required |= {name: value(name) for name in rule_words}
    optional = {name: value(name) for name in near_misses if name not in required}
    return st.fixed_dictionaries(required, optional=optional).map(nest)


def nest(flat: dict[str, object]) -> dict:
    doc: dict = {}
    for dotted, value in flat.items():
        *parents, last = dotted.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    doc.setdefault("event", {}).setdefault("category", ["process"])
    return doc


def assert_exact(table: RuleTable, doc: dict) -> None:
    brute = [entry for entry in table.entries if entry.compiled.matches(doc)]
    assert table.match(doc) == brute


@functools.cache
def known_table() -> RuleTable:
    return RuleTable(known_rules())


@functools.cache
def known_documents() -> st.SearchStrategy[dict]:
    per_rule = [literals_by_field(entry) for entry in known_table().entries]
    near_misses: dict[str, set[str]] = {}
    for both in per_rule:
        for words in both:
            for name, texts in words.items():
                near_misses.setdefault(name, set()).update(
                    v for text in texts for v in variants(text) | {text}
                )
    return st.sampled_from([required for required, _ in per_rule]).flatmap(
        lambda words: documents(words, near_misses)
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_table_matches_brute_force_on_known_rules(data: st.DataObject) -> None:
    assert_exact(known_table(), data.draw(known_documents()))


REAL_CORPUS = ELASTIC_LINUX.parents[1] / "corpus" / "real"


@pytest.mark.skipif(not REAL_CORPUS.is_dir(), reason="../shared/corpus/real is not present")
@pytest.mark.parametrize("profile", ["auditd", "endpoint"])
def test_table_matches_brute_force_on_real_logs(profile: str) -> None:
    """Every exec event of the real audit logs other projects ship, in both ECS profiles."""
    settings = PipelineSettings(ecs=EcsSettings(host_name="h"), profile=profile)
    docs = []
    for path in sorted(p for p in REAL_CORPUS.rglob("*") if p.is_file() and p.name != "SOURCES.md"):
        docs += enriched_documents([str(path)], settings, RunStats(), Reporter(io.StringIO()))
    assert len(docs) > 400
    for doc in docs:
        assert_exact(known_table(), doc)


WORDS = [
    "hping3",
    "HPing",
    "nping",
    "sh",
    "bash",
    "\u017fsh",
    "k\u0131ll",
    "KILL",
    "\u0130nit",
    "python3",
    "/usr/bin/nc",
    "exec",
    "executed",
    "5",
    "true",
    "a?c",
]
FIELDS = [
    "process.name",
    "process.executable",
    "process.parent.name",
    "process.args",
    "event.action",
    "user.id",
]


def patterns(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            word,
            word + "*",
            "*" + word,
            word[:2] + "?" + word[3:],
            "*" + word + "*",
            "*",
            word[:1] + "*" + word[-1:],
        ]
    )


def quoted(items: list[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


field = st.sampled_from(FIELDS)
word = st.sampled_from(WORDS)
words = st.lists(word, min_size=1, max_size=3)
pattern = word.flatmap(patterns)
atoms = st.one_of(
    st.builds(lambda f, w: f'{f} == "{w}"', field, word),
    st.builds(lambda f, w: f'{f} != "{w}"', field, word),
    st.builds(lambda f, ws: f"{f} in ({quoted(ws)})", field, words),
    st.builds(lambda f, ws: f"{f} in~ ({quoted(ws)})", field, words),
    st.builds(lambda f, w: f'{f} in ("{w}", null)', field, word),
    st.builds(lambda f, ps: f"{f} : ({quoted(ps)})", field, st.lists(pattern, min_size=1, max_size=3)),
    st.builds(lambda f, ps: f"{f} like ({quoted(ps)})", field, st.lists(pattern, min_size=1, max_size=3)),
    st.builds(lambda f, ps: f"{f} like~ ({quoted(ps)})", field, st.lists(pattern, min_size=1, max_size=3)),
    st.builds(lambda f, w: f'{f} regex~ "{w.replace("?", ".").replace("*", "")}.*"', field, word),
    st.builds(lambda f, w, v: f'{f} regex ".*{w}[0-9]*({v}|x)?{w[:2]}+"', field, word, word),
    st.builds(lambda f, w: f'{f} regex~ """{w[:1]}{{1,2}}.{w[1:]}"""', field, word),
    st.builds(lambda f: f"{f} != null", field),
    st.builds(lambda f, w: f'startsWith({f}, "{w[:2]}")', field, word),
    st.sampled_from(['event.category == "file"', 'event.category in ("process", "network")', 'event.category : "FILE"']),
)
conditions = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a} and {b})", inner, inner),
        st.builds(lambda a, b: f"({a} or {b})", inner, inner),
        st.builds(lambda a: f"not ({a})", inner),
    ),
    max_leaves=6,
)
queries = st.builds(
    lambda cat, cond: f"{cat} where {cond}",
    st.sampled_from(["process", "process", "any", "file"]),
    conditions,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(queries, min_size=1, max_size=12), data=st.data())
def test_table_matches_brute_force_on_generated_rules(texts: list[str], data: st.DataObject) -> None:
    try:
        rules = [make_rule(text, i) for i, text in enumerate(texts)]
    except EqlSyntaxError:
        assume(False)
    table = RuleTable(rules)
    near_misses = dict.fromkeys(FIELDS, {v for w in WORDS for v in variants(w)} | {w + "-x" for w in WORDS})
    for doc in data.draw(
        st.lists(documents(dict.fromkeys(FIELDS, set(WORDS)), near_misses), min_size=1, max_size=6)
    ):
        assert_exact(table, doc)
