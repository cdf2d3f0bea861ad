"""Loading rule files: fields, problems at file positions, skips with reasons, data sources, shipped rules."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from auditproc.emitted import EXEC_CATEGORIES, PROFILES, Category, vocabulary
from auditproc.rulefiles import (
    PARALLEL_LOAD_MIN_FILES,
    AttackRef,
    RuleLoad,
    RuleProblem,
    SkippedRule,
    Technique,
    Threat,
    default_rules_dir,
    load_rules,
    parse_duration,
    reads_auditd,
)
from auditproc.ruletable import RuleTable, cannot_fire
from tests.conftest import ELASTIC_LINUX, make_rule, needs_elastic
from tests.test_emitted import fixture_documents

FIXTURES = Path(__file__).parent / "rules_fixtures"

ELASTIC_FILES = 226
ELASTIC_MULTI_EVENT = 12
ELASTIC_AUDITD_INDEXED = 127  # census §2
HPING_ID = "90169566-2260-4824-b8e4-8615c3b4ed52"
NPING_ID = "0d69150b-96f8-467c-a86d-a67a3378ce77"
HPING_QUERY = (
    'process where host.os.type == "linux" and event.type == "start" and\n'
    ' event.action in ("exec", "exec_event", "start", "ProcessRollup2", "executed", "process_started") and\n'
    ' process.name in ("hping", "hping2", "hping3")\n'
)


def rule_text(
    query: str = 'process where process.name == "hping3"',
    *,
    rule_id: str = "11111111-2222-3333-4444-555555555555",
    maturity: str = "production",
    rule_lines: str = 'index = ["auditbeat-*"]\n',
) -> str:
    """Return a small valid rule file; ``rule_lines`` go into [rule] before the query."""
    return (
        "[metadata]\n"
        f'maturity = "{maturity}"\n'
        "\n"
        "[rule]\n"
        'author = ["auditproc"]\n'
        'description = "A test rule."\n'
        'name = "Test Rule"\n'
        "risk_score = 21\n"
        f'rule_id = "{rule_id}"\n'
        'severity = "low"\n'
        'type = "eql"\n'
        'language = "eql"\n'
        f"{rule_lines}"
        f"query = '''\n{query}\n'''\n"
    )


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# --- small pure functions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("60m", 3600), ("1h", 3600), ("119m", 7140), ("2d", 172800), (" 9m ", 540)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m", "5 m", "-5m", "1.5h", "5ms", "5M", "now-9m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        ((), True),
        (("auditbeat-*",), True),
        (("logs-auditd_manager.auditd-*",), True),
        (("logs-endpoint.events.process*", "auditbeat-*"), True),
        (("logs-*",), True),
        (("*",), True),
        (("auditbeat-8.17.0",), True),
        (("logs-endpoint.events.process*",), False),
        (("logs-endpoint.events.*", "endgame-*", "winlogbeat-*"), False),
        (("logs-auditd.log-*",), False),
        (("filebeat-*",), False),
    ],
)
def test_reads_auditd(index: tuple[str, ...], expected: bool) -> None:
    assert reads_auditd(index) is expected


def test_problem_formats_like_a_compiler() -> None:
    assert str(RuleProblem(Path("rules/x.toml"), 12, 7, "bad")) == "rules/x.toml:12:7: bad"
    assert str(RuleProblem(Path("rules/x.toml"), None, None, "gone")) == "rules/x.toml: gone"


# --- loading one file: outcome by case ---------------------------------------------------------

RULE_FIELDS = rule_text().replace(
    'index = ["auditbeat-*"]\n',
    'index = ["auditbeat-*", "logs-endpoint.events.process*"]\n'
    'tags = ["OS: Linux", "Tactic: Discovery"]\n'
    'references = ["https://example.org/a"]\n'
    'license = "Apache-2.0"\n'
    "version = 3\n"
    "max_signals = 33\n"
    'interval = "60m"\n'
    'from = "now-119m"\n'
    'note = "## Triage"\n'
    'building_block_type = "default"\n',
) + (
    "\n[[rule.threat]]\n"
    'framework = "MITRE ATT&CK"\n'
    "[[rule.threat.technique]]\n"
    'id = "T1059"\nname = "Command and Scripting Interpreter"\n'
    'reference = "https://attack.mitre.org/techniques/T1059/"\n'
    "[[rule.threat.technique.subtechnique]]\n"
    'id = "T1059.004"\nname = "Unix Shell"\n'
    'reference = "https://attack.mitre.org/techniques/T1059/004/"\n'
    "[rule.threat.tactic]\n"
    'id = "TA0002"\nname = "Execution"\nreference = "https://attack.mitre.org/tactics/TA0002/"\n'
)


def test_rule_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "full.toml", RULE_FIELDS)
    load = load_rules([path])
    assert load.errors == [] and load.skipped == []
    (rule,) = load.rules
    assert (rule.rule_id, rule.name, rule.description) == (
        "11111111-2222-3333-4444-555555555555",
        "Test Rule",
        "A test rule.",
    )
    assert (rule.severity, rule.risk_score, rule.type, rule.language) == ("low", 21, "eql", "eql")
    assert rule.index == ("auditbeat-*", "logs-endpoint.events.process*")
    assert rule.tags == ("OS: Linux", "Tactic: Discovery")
    assert rule.references == ("https://example.org/a",)
    assert (rule.author, rule.license, rule.version) == (("auditproc",), "Apache-2.0", "3")
    assert (rule.max_signals, rule.interval, rule.interval_seconds) == (33, "60m", 3600)
    assert (rule.from_, rule.lookback_seconds) == ("now-119m", 7140)
    assert (rule.note, rule.maturity, rule.building_block_type) == ("## Triage", "production", "default")
    assert rule.path == path and rule.query == 'process where process.name == "hping3"\n'
    assert rule.threat == (
        Threat(
            "MITRE ATT&CK",
            AttackRef("TA0002", "Execution", "https://attack.mitre.org/tactics/TA0002/"),
            (
                Technique(
                    "T1059",
                    "Command and Scripting Interpreter",
                    "https://attack.mitre.org/techniques/T1059/",
                    (AttackRef("T1059.004", "Unix Shell", "https://attack.mitre.org/techniques/T1059/004/"),),
                ),
            ),
        ),
    )
    assert rule.compiled.category == "process"
    assert rule.compiled.matches({"event": {"category": ["process"]}, "process": {"name": "hping3"}})


def test_rule_defaults(tmp_path: Path) -> None:
    (rule,) = load_rules([write(tmp_path, "r.toml", rule_text())]).rules
    assert (rule.max_signals, rule.interval, rule.from_, rule.version) == (100, "5m", "now-6m", None)
    assert (rule.tags, rule.references, rule.threat, rule.note) == ((), (), (), None)
    assert (rule.interval_seconds, rule.lookback_seconds) == (300, 360)


BAD_QUERY_LINES = 'process where host.os.type == "linux" and\n  process.name = "x"'
SEQUENCE = 'sequence by host.id with maxspan=1m\n  [process where process.name == "a"]\n  [process where process.name == "b"]'
SAMPLE = 'sample by host.id\n  [process where process.name == "a"]\n  [process where process.name == "b"]'

# (case, file text, all_rules, expected) — expected is "rule", ("skip", kind, text) or ("error", line, column, text)
LOAD_CASES = [
    ("plain", rule_text(), False, "rule"),
    ("no index", rule_text(rule_lines=""), False, "rule"),
    ("broad index", rule_text(rule_lines='index = ["logs-*"]\n'), False, "rule"),
    (
        "toml syntax",
        rule_text().replace('name = "Test Rule"', 'name = "Test Rule'),
        False,
        ("error", 7, 18, "TOML: Illegal character"),
    ),
    ("toml unterminated", rule_text()[:-4], False, ("error", 15, 39, "at end of file")),
    (
        "toml duplicate key",
        rule_text().replace('severity = "low"', 'severity = "low"\nseverity = "high"'),
        False,
        ("error", 11, 18, "TOML: Cannot overwrite a value"),
    ),
    (
        "missing keys",
        rule_text().replace('severity = "low"\n', "").replace("risk_score = 21\n", ""),
        False,
        ("error", 4, 1, "missing required key(s): severity, risk_score"),
    ),
    (
        "no rule table",
        '[metadata]\nmaturity = "production"\n',
        False,
        ("error", 1, 1, "missing [rule] table"),
    ),
    (
        "bad severity",
        rule_text().replace('"low"', '"urgent"'),
        False,
        ("error", 10, 12, "'severity' must be one of"),
    ),
    (
        "bad risk score",
        rule_text().replace("21", "121"),
        False,
        ("error", 8, 14, "'risk_score' must be an integer"),
    ),
    (
        "bad interval",
        rule_text(rule_lines='interval = "5 minutes"\n'),
        False,
        ("error", 13, 12, "'interval'"),
    ),
    (
        "bad tags",
        rule_text(rule_lines='tags = "OS: Linux"\n'),
        False,
        ("error", 13, 8, "'tags' must be a list"),
    ),
    ("no query", rule_text().split("query =")[0], False, ("error", 4, 1, "needs a 'query' string")),
    (
        "eql syntax",
        rule_text(BAD_QUERY_LINES),
        False,
        ("error", 16, 16, "EQL syntax error: '=' is not an operator"),
    ),
    (
        "eql syntax, one-line basic string",
        rule_text().replace(
            "query = '''\nprocess where process.name == \"hping3\"\n'''", 'query = "process wher x"'
        ),
        False,
        ("error", 14, 18, "EQL syntax error: unexpected 'wher'"),
    ),
    (
        "kuery",
        rule_text().replace('type = "eql"\nlanguage = "eql"', 'type = "query"\nlanguage = "kuery"'),
        False,
        ("skip", "not EQL", "type 'query', language 'kuery'"),
    ),
    (
        "esql",
        rule_text().replace('type = "eql"\nlanguage = "eql"', 'type = "esql"\nlanguage = "esql"'),
        True,
        ("skip", "not EQL", "type 'esql'"),
    ),
    ("sequence", rule_text(SEQUENCE), False, "rule"),
    ("sample", rule_text(SAMPLE), False, "rule"),
    ("piped", rule_text(SEQUENCE + "\n| head 1"), True, ("skip", "unsupported", "pipe")),
    ("deprecated", rule_text(maturity="deprecated"), False, ("skip", "maturity", "deprecated")),
    ("development", rule_text(maturity="development"), False, ("skip", "maturity", "development")),
    ("deprecated, all rules", rule_text(maturity="deprecated"), True, "rule"),
    (
        "endpoint only",
        rule_text(rule_lines='index = ["logs-endpoint.events.process*", "endgame-*"]\n'),
        False,
        ("skip", "data source", "no auditd source"),
    ),
    ("endpoint only, all rules", rule_text(rule_lines='index = ["logs-endpoint.events.*"]\n'), True, "rule"),
    (
        "not utf-8",
        rule_text().replace("A test rule.", "caf\xe9").encode("latin-1"),
        False,
        ("error", 6, 19, "not valid UTF-8"),
    ),
]


@pytest.mark.parametrize(
    ("text", "all_rules", "expected"), [c[1:] for c in LOAD_CASES], ids=[c[0] for c in LOAD_CASES]
)
def test_load_outcome(tmp_path: Path, text: str | bytes, all_rules: bool, expected: object) -> None:
    path = write(tmp_path, "case.toml", text)
    load = load_rules([tmp_path], all_rules=all_rules)
    outcomes = len(load.rules) + len(load.skipped) + len(load.errors)
    assert outcomes == 1, load
    if expected == "rule":
        assert [r.path for r in load.rules] == [path]
    elif expected[0] == "skip":
        _, kind, text_part = expected
        (skipped,) = load.skipped
        assert (skipped.path, skipped.name, skipped.kind) == (path, "Test Rule", kind)
        assert text_part in skipped.reason
    else:
        _, line, column, text_part = expected
        (problem,) = load.errors
        assert (problem.path, problem.line, problem.column) == (path, line, column), str(problem)
        assert text_part in problem.message
        assert str(problem).startswith(f"{path}:{line}:{column}: ")


def test_eql_error_points_at_the_token_in_the_file(tmp_path: Path) -> None:
    text = rule_text(BAD_QUERY_LINES)
    path = write(tmp_path, "bad.toml", text)
    (problem,) = load_rules([path]).errors
    line = text.splitlines()[problem.line - 1]
    assert line[problem.column - 1 :].startswith('= "x"')
    assert "\n" not in str(problem) and "(line 2" not in str(problem)


def test_collects_every_problem_and_keeps_going(tmp_path: Path) -> None:
    write(tmp_path, "a_good.toml", rule_text())
    write(tmp_path, "b_bad_toml.toml", "[rule\n")
    write(tmp_path, "c_bad_eql.toml", rule_text("process where (", rule_id="c"))
    write(tmp_path, "d_piped.toml", rule_text(SEQUENCE + "\n| tail 2", rule_id="d"))
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "e_good.toml", rule_text(rule_id="e"))
    write(tmp_path, "notes.md", "not a rule")
    load = load_rules([tmp_path, tmp_path / "missing"])
    assert [r.path.name for r in load.rules] == ["a_good.toml", "e_good.toml"]
    assert [s.path.name for s in load.skipped] == ["d_piped.toml"]
    assert [(p.path.name, p.line) for p in load.errors] == [
        ("b_bad_toml.toml", 1),
        ("c_bad_eql.toml", 16),
        ("missing", None),
    ]


def test_two_jobs_load_what_one_loads(tmp_path: Path) -> None:
    # Enough files for the forked helper, which reads the odd ones: every kind of outcome lands on both sides.
    queries = {0: "process where (", 3: "process where (", 1: SEQUENCE + "| head 1", 4: SEQUENCE, 5: SAMPLE}
    for i in range(PARALLEL_LOAD_MIN_FILES):
        query = queries.get(i, f'process where process.name == "tool{i}"')
        rule_id = f"id-{i - 24 if i >= 30 else i}"  # files 30 and 31 repeat the ids of 6 and 7
        write(tmp_path, f"r{i:02d}.toml", rule_text(query, rule_id=rule_id))
    one, two = load_rules([tmp_path], jobs=1), load_rules([tmp_path], jobs=2)
    assert (two.rules, two.skipped, two.errors) == (one.rules, one.skipped, one.errors)
    assert [r.compiled.ast for r in two.rules] == [r.compiled.ast for r in one.rules]
    assert (len(one.rules), len(one.skipped), len(one.errors)) == (PARALLEL_LOAD_MIN_FILES - 5, 3, 2)
    assert [r.rule_id for r in two.rules if r.correlates] == ["id-4", "id-5"]
    doc = {"event": {"category": ["process"]}, "process": {"name": "tool7"}}
    assert [r.rule_id for r in two.rules if not r.correlates and r.compiled.matches(doc)] == ["id-7"]


def test_files_are_loaded_once_in_sorted_order(tmp_path: Path) -> None:
    for name in ("b.toml", "a.toml", "c.toml"):
        write(tmp_path, name, rule_text(rule_id=name))
    load = load_rules([tmp_path / "c.toml", tmp_path])
    assert [r.path.name for r in load.rules] == ["c.toml", "a.toml", "b.toml"]


def test_duplicate_rule_id_keeps_the_first(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", rule_text())
    write(tmp_path, "b.toml", rule_text())
    load = load_rules([tmp_path])
    assert [r.path.name for r in load.rules] == ["a.toml"]
    (skipped,) = load.skipped
    assert skipped.kind == "duplicate" and skipped.path.name == "b.toml"


# --- the rules shipped with auditproc -----------------------------------------------------------


def shipped_rules():
    load = load_rules([default_rules_dir()])
    assert load.errors == [] and load.skipped == []
    return load.rules


def test_shipped_rules_load_and_are_complete() -> None:
    rules = shipped_rules()
    assert len(rules) >= 6
    assert len({r.rule_id for r in rules}) == len(rules)
    for rule in rules:
        assert rule.author == ("auditproc",) and rule.license == "Apache-2.0", rule.name
        assert rule.severity in ("low", "medium") and rule.description.strip() and rule.note, rule.name
        assert "OS: Linux" in rule.tags and reads_auditd(rule.index), rule.name
        assert rule.query.startswith('process where host.os.type == "linux" and event.type == "start" and\n')
        assert '"executed"' in rule.query and '"exec"' in rule.query, rule.name
        assert rule.threat, rule.name
        for threat in rule.threat:
            assert threat.framework == "MITRE ATT&CK"
            assert re.fullmatch(r"TA\d{4}", threat.tactic.id)
            assert threat.tactic.reference == f"https://attack.mitre.org/tactics/{threat.tactic.id}/"
            assert threat.techniques
            for technique in threat.techniques:
                assert technique.reference == f"https://attack.mitre.org/techniques/{technique.id}/"


def test_seed_rules_keep_elastic_identity() -> None:
    by_file = {r.path.stem: r for r in shipped_rules()}
    hping = by_file["discovery_linux_hping_activity"]
    assert (hping.rule_id, hping.name, hping.query) == (HPING_ID, "Hping Process Activity", HPING_QUERY)
    assert (hping.severity, hping.risk_score) == ("medium", 47)
    assert {t.id for t in hping.threat[0].techniques} == {"T1046", "T1082"}
    assert hping.threat[0].tactic.id == "TA0007"
    nping = by_file["discovery_linux_nping_activity"]
    assert (nping.rule_id, nping.name, nping.severity, nping.risk_score) == (
        NPING_ID,
        "Nping Process Activity",
        "medium",
        47,
    )
    assert [(t.tactic.id, [x.id for x in t.techniques]) for t in nping.threat] == [("TA0007", ["T1046"])]
    assert 'process.name == "nping"' in nping.query


@needs_elastic
@pytest.mark.parametrize("stem", ["discovery_linux_hping_activity", "discovery_linux_nping_activity"])
def test_seed_rules_match_elastic_query_but_not_prose(stem: str) -> None:
    ours = next(r for r in shipped_rules() if r.path.stem == stem)
    theirs = tomllib.loads((ELASTIC_LINUX / f"{stem}.toml").read_text())["rule"]
    assert (ours.rule_id, ours.query) == (theirs["rule_id"], theirs["query"])
    # Our description and guide are our own: no sentence of Elastic's prose appears in them.
    for sentence in re.split(r"(?<=[.!?])\s+", theirs["description"] + " " + theirs["note"]):
        if len(sentence) > 40:
            assert sentence.strip() not in ours.description + ours.note


def fixture_cases():
    cases = []
    for path in sorted(FIXTURES.glob("*.json")):
        stem, expected = path.name.removesuffix(".json").rsplit(".", 1)
        for i, doc in enumerate(json.loads(path.read_text())):
            cases.append(pytest.param(stem, expected == "fire", doc, id=f"{stem}.{expected}[{i}]"))
    return cases


def test_every_shipped_rule_has_fixtures() -> None:
    stems = sorted(r.path.stem for r in shipped_rules())
    assert sorted(p.name.removesuffix(".fire.json") for p in FIXTURES.glob("*.fire.json")) == stems
    assert sorted(p.name.removesuffix(".nofire.json") for p in FIXTURES.glob("*.nofire.json")) == stems


@pytest.mark.parametrize(("stem", "fires", "doc"), fixture_cases())
def test_shipped_rule_fixture(stem: str, fires: bool, doc: dict) -> None:
    rules = shipped_rules()
    rule = next(r for r in rules if r.path.stem == stem)
    assert rule.compiled.matches(doc) is fires
    assert (rule in RuleTable(rules).match(doc)) is fires


# --- Elastic's prebuilt Linux rules ---------------------------------------------------------------


@needs_elastic
def test_every_elastic_linux_rule_loads_or_is_skipped_with_a_reason(record_property) -> None:
    everything = load_rules([ELASTIC_LINUX], all_rules=True)
    assert everything.errors == []
    assert len(everything.rules) + len(everything.skipped) == ELASTIC_FILES
    assert everything.skipped == []
    assert sum(rule.correlates for rule in everything.rules) == ELASTIC_MULTI_EVENT

    auditd = load_rules([ELASTIC_LINUX])
    assert auditd.errors == []
    kinds = {kind: sum(s.kind == kind for s in auditd.skipped) for kind in {s.kind for s in auditd.skipped}}
    assert len(auditd.rules) == ELASTIC_AUDITD_INDEXED
    assert kinds == {"data source": ELASTIC_FILES - ELASTIC_AUDITD_INDEXED}
    assert sum(rule.correlates for rule in auditd.rules) == ELASTIC_MULTI_EVENT  # all 12 read auditd data
    assert all(reads_auditd(r.index) for r in auditd.rules)
    record_property("elastic_loaded_all_rules", len(everything.rules))
    record_property("elastic_loaded_auditd", len(auditd.rules))
    record_property("elastic_skipped_auditd", kinds)

# Of the 127 rules for auditd data, on exec documents alone: 8 (auditd), 10 (endpoint) are sequences or
# samples with a term for other events.
ELASTIC_CANNOT_FIRE = {"auditd": 29, "endpoint": 26}


@needs_elastic
@pytest.mark.parametrize("profile", sorted(ELASTIC_CANNOT_FIRE))
def test_elastic_rules_that_cannot_fire(profile: str) -> None:
    load = load_rules([ELASTIC_LINUX])
    blocked = [rule for rule in load.rules if cannot_fire(rule, profile, DOCUMENTS)]
    assert len(blocked) == ELASTIC_CANNOT_FIRE[profile]
    assert load.summary(len(blocked)) == (
        f"{len(load.rules) - len(blocked)} rules run, {len(blocked)} cannot fire, "
        "99 skipped: 99 no auditd index"
    )


# --- which rules can fire on auditproc's documents ------------------------------------------------

DOCUMENTS = vocabulary(EXEC_CATEGORIES)  # the mechanism, on exec documents alone

EXEC = 'event.type == "start" and process.name == "x"'
# (query, why under auditd, why under endpoint); None: it may fire.
CANNOT_FIRE_CASES = [
    (f"process where {EXEC}", None, None),
    ("file where file.path == \"/etc/shadow\"", "file events are not produced", "file events are not produced"),
    ("network where true", "network events are not produced", "network events are not produced"),
    ('any where event.category in ("file", "network")', "file and network events are not produced", "file and network events are not produced"),
    ('any where event.category == "process"', None, None),
    (
        'process where event.action == "exec"',
        'needs event.action "exec"; auditproc produces only "executed" (it can with --ecs-profile endpoint)',
        None,
    ),
    ('process where event.action in ("exec", "executed")', None, None),
    ('process where event.action : "EXEC*"', None, None),  # folded prefix: "exec" in "executed" too
    ('process where event.action like "exe*"', None, None),
    ('process where event.type : "end"', 'needs event.type "end"; auditproc produces only "start"', 'needs event.type "end"; auditproc produces only "start"'),
    ('process where auditd.data.syscall == "kill"', 'needs auditd.data.syscall "kill"; auditproc produces only "execve", "execveat"', 'needs auditd.data.syscall "kill"; auditproc produces only "execve", "execveat"'),
    ('process where auditd.data.a0 == "1"', None, None),  # any SYSCALL field lands in auditd.data
    ("process where process.Ext.token.integrity_level_name == \"high\"", "needs process.Ext.token.integrity_level_name, never produced", "needs process.Ext.token.integrity_level_name, never produced"),
    ('process where process.env_vars : "LD_PRELOAD=*"', "needs process.env_vars, never produced", "needs process.env_vars, never produced"),
    ('process where process.real_user.id == "0"', "needs process.real_user.id, never produced (it can with --ecs-profile endpoint)", None),
    ('process where user.effective.id == "0"', None, "needs user.effective.id, never produced (it can with --ecs-profile auditd)"),
    ('process where process.parent.args == "-c"', None, None),
    # Every branch blocked, each for its reason; one open branch keeps the rule.
    ('process where process.env_vars == "A" or event.type == "end"', 'needs process.env_vars, never produced; needs event.type "end"; auditproc produces only "start"', 'needs process.env_vars, never produced; needs event.type "end"; auditproc produces only "start"'),
    ('process where process.env_vars == "A" or process.name == "x"', None, None),
    ('process where process.Ext.x == "a" or process.env_vars == "b" and process.name == "x"', "needs process.Ext.x, never produced; needs process.env_vars, never produced", "needs process.Ext.x, never produced; needs process.env_vars, never produced"),
    # A missing field makes not, != and null tests true: never a reason.
    ('process where not process.Ext.x == "a"', None, None),
    ('process where process.Ext.x != "a"', None, None),
    ('process where process.Ext.x == null', None, None),
    ('process where not event.action == "exec"', None, None),
    ('process where event.action != "exec"', None, None),
    ('process where ?process.Ext.x != "a" and process.name == "x"', None, None),
    ('process where startsWith(process.Ext.x, "a")', None, None),  # functions: not judged
    ('process where process.Ext.x == "a" or startsWith(process.name, "a")', None, None),
]


@pytest.mark.parametrize(("query", "auditd", "endpoint"), CANNOT_FIRE_CASES, ids=[c[0] for c in CANNOT_FIRE_CASES])
def test_cannot_fire(query: str, auditd: str | None, endpoint: str | None) -> None:
    rule = make_rule(query)
    assert (cannot_fire(rule, "auditd", DOCUMENTS), cannot_fire(rule, "endpoint", DOCUMENTS)) == (auditd, endpoint)


# A category the normaliser would produce: one more entry in the table of categories.
WITH_FILE = {**EXEC_CATEGORIES, "file": Category(frozenset({"file.path"}), {"event.type": frozenset({"creation", "deletion"})})}


@pytest.mark.parametrize("profile", PROFILES)
def test_a_produced_category_runs_and_an_unproduced_one_cannot_fire(profile: str) -> None:
    rules = [
        make_rule('file where event.type == "creation" and file.path == "/etc/shadow"', 1),
        make_rule('network where destination.port == 22', 2),
        make_rule('file where event.type == "change"', 3),
        make_rule('process where event.type == "creation"', 4),
    ]
    documents = vocabulary(WITH_FILE)
    assert documents[profile].categories == {"process", "file"}
    assert [cannot_fire(rule, profile, documents) for rule in rules] == [
        None,
        "network events are not produced",
        'needs event.type "change"; auditproc produces only "creation", "deletion", "start"',
        None,  # a closed field's values are those of every category: not judged per category
    ]
    assert RuleLoad(rules=rules).summary(sum(cannot_fire(r, profile, documents) is not None for r in rules)) == (
        "2 rules run, 2 cannot fire"
    )
    assert cannot_fire(rules[0], profile, DOCUMENTS) == "file events are not produced"


@pytest.mark.parametrize("profile", PROFILES)
def test_cannot_fire_agrees_with_documents(profile: str) -> None:
    """A rule said to fire on none of the fixtures' documents matches none of them (the other way is not claimed)."""
    docs, documents = fixture_documents(profile), vocabulary()  # every kind's documents
    for query, *_ in CANNOT_FIRE_CASES:
        rule = make_rule(query)
        if cannot_fire(rule, profile, documents):
            assert not any(rule.compiled.matches(doc) for doc in docs), query


# What the summary counts a skip as.
SKIP_LABELS = [
    ("unsupported: pipe (pipes (head, tail, sort, …) act on result sets, not on a stream of events)", "pipe"),
    ("maturity: development", "development"),
    ("data source: index lists no auditd source", "no auditd index"),
    ("duplicate: rule_id x already loaded from y.toml", "duplicate rule_id"),
    ("not EQL: type 'query', language 'kuery'", "not EQL"),
]


@pytest.mark.parametrize(("reason", "label"), SKIP_LABELS)
def test_skip_label(reason: str, label: str) -> None:
    assert SkippedRule(Path("r.toml"), "r", reason).label == label


def test_summary_line() -> None:
    load = RuleLoad(
        rules=[make_rule("process where true", n) for n in range(3)],
        skipped=[SkippedRule(Path(f"{n}.toml"), "r", reason) for n, (reason, _) in enumerate(SKIP_LABELS * 2)]
        + [SkippedRule(Path("x.toml"), "r", SKIP_LABELS[0][0])],
    )
    assert load.summary(1) == (
        "2 rules run, 1 cannot fire, 11 skipped: 3 pipe, 2 development, 2 duplicate rule_id, "
        "2 no auditd index, 2 not EQL"
    )
    assert RuleLoad(rules=load.rules).summary() == "3 rules run"
