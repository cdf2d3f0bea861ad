"""The rule cache: the same load with it as without, a damaged or untrusted cache rebuilt, never fatal."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from auditproc.cli import app
from auditproc.eql.ast import And, Comparison, EventQuery, Field, Literal, StringMatch
from auditproc.rulecache import RuleCache, from_data, to_data
from auditproc.rulefiles import CACHED_TYPES, RuleLoad, load_rules
from tests.conftest import ELASTIC_LINUX, FIXTURES, needs_elastic

ALERTS = FIXTURES / "alerts"
RULES = ALERTS / "rules"
OPTIONS = {"all_rules": False}


def cached_load(sources: list[Path], directory: Path, **options: bool) -> tuple[RuleLoad, RuleCache]:
    cache = RuleCache.open(sources, {"all_rules": options.get("all_rules", False)}, directory)
    return load_rules(sources, cache=cache, **options), cache


def same_load(left: RuleLoad, right: RuleLoad) -> None:
    assert left.rules == right.rules  # every field but the compiled query
    assert [r.path for r in left.rules] == [r.path for r in right.rules]
    assert [r.compiled.ast for r in left.rules] == [r.compiled.ast for r in right.rules]
    assert left.skipped == right.skipped
    assert left.errors == right.errors


def only_cache_file(directory: Path) -> Path:
    (path,) = directory.glob("rules-*.json")
    return path


@needs_elastic
@pytest.mark.parametrize("all_rules", [False, True])
def test_elastic_rules_load_the_same_from_the_cache(tmp_path, all_rules):
    fresh = load_rules([ELASTIC_LINUX], all_rules=all_rules)
    cold, _ = cached_load([ELASTIC_LINUX], tmp_path, all_rules=all_rules)
    warm, cache = cached_load([ELASTIC_LINUX], tmp_path, all_rules=all_rules)
    same_load(fresh, cold)
    same_load(fresh, warm)
    assert cache.note is None
    assert warm.summary() == fresh.summary()


def test_rule_errors_and_skips_come_back_the_same(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad_toml.toml").write_text("[rule\n")
    (rules / "bad_query.toml").write_text((RULES / "hping_max_signals_2.toml").read_text().replace(" where ", " wher "))
    (rules / "not_utf8.toml").write_bytes(b"[rule]\nname = '\xff'\n")
    (rules / "piped.toml").write_text(
        (RULES / "hping_max_signals_2.toml").read_text().replace("\n'''", "\n| head 1\n'''", 1)
    )
    (rules / "sequence.toml").write_text(  # every part of a sequence survives the cache
        (RULES / "hping_max_signals_2.toml").read_text().replace('rule_id = "', 'rule_id = "s', 1)
        .replace("query = '''", "query = '''sequence by host.id with maxspan=30s [process where true] by process.pid "
                 "with runs=2 ![file where true] by process.pid [", 1)
        .replace("\n'''", "] by process.parent.pid\nuntil [process where false] by process.pid\n'''", 1)
    )
    (rules / "good.toml").write_text((RULES / "hping_max_signals_2.toml").read_text())
    fresh = load_rules([rules])
    assert fresh.errors and fresh.skipped and [rule.correlates for rule in fresh.rules] == [False, True]
    for _ in range(2):
        cached, _ = cached_load([rules], tmp_path / "cache")
        same_load(fresh, cached)
        assert cached.rules[1].compiled.ast == fresh.rules[1].compiled.ast


def test_a_cached_file_is_not_parsed_again(tmp_path):
    # The cache is read: an entry changed in place (by its owner) is what loads.
    _plant(tmp_path)
    load, _ = cached_load([RULES], tmp_path)
    assert {rule.name for rule in load.rules} == {"planted"}


def test_a_changed_rule_file_is_parsed_again(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    rule = rules / "rule.toml"
    rule.write_text((RULES / "hping_max_signals_2.toml").read_text())
    cached_load([rules], tmp_path / "cache")
    rule.write_text(rule.read_text().replace('name = "', 'name = "Renamed ', 1))
    load, _ = cached_load([rules], tmp_path / "cache")
    assert load.rules[0].name.startswith("Renamed ")
    assert len(json.loads(only_cache_file(tmp_path / "cache").read_text())["entries"]) == 1  # the old one is gone


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _stale(path: Path) -> None:
    stored = json.loads(path.read_text())
    path.write_text(json.dumps({**stored, "key": "another version"}))


def _unknown_type(path: Path) -> None:
    stored = json.loads(path.read_text())
    for entry in stored["entries"].values():
        if "ast" in entry:
            entry["ast"]["@"] = "os.system"
    path.write_text(json.dumps(stored))


def _wrong_fields(path: Path) -> None:
    stored = json.loads(path.read_text())
    for entry in stored["entries"].values():
        entry.pop("ast", None)
        entry.get("rule", {})["no such field"] = 1
    path.write_text(json.dumps(stored))


@pytest.mark.parametrize(
    "damage",
    [
        _truncate,
        _stale,
        _unknown_type,
        _wrong_fields,
        lambda path: path.write_text("[]"),
        lambda path: path.write_bytes(b"\xff\xfe"),
        lambda path: path.write_text('{"key": 1, "entries": []}'),
    ],
)
def test_a_damaged_cache_is_rebuilt(tmp_path, damage):
    fresh = load_rules([RULES])
    cached_load([RULES], tmp_path)
    damage(only_cache_file(tmp_path))
    load, _ = cached_load([RULES], tmp_path)
    same_load(fresh, load)
    _, cache = cached_load([RULES], tmp_path)
    assert cache.note is None  # rewritten whole


def _plant(directory: Path) -> Path:
    load_rules([RULES], cache=RuleCache.open([RULES], OPTIONS, directory))
    path = only_cache_file(directory)
    stored = json.loads(path.read_text())
    for entry in stored["entries"].values():
        entry["rule"]["name"] = "planted"
    path.write_text(json.dumps(stored))
    return path


@pytest.mark.parametrize(
    ("change", "note"),
    [
        (lambda path: path.chmod(0o666), "writable by group or others"),
        (lambda path: path.parent.chmod(0o777), "directory is writable by group or others"),
        (lambda path: os.chown(path, 65534, -1), "owned by uid 65534"),
    ],
)
def test_a_cache_others_could_write_is_not_read(tmp_path, change, note):
    if os.geteuid() != 0 and "owned" in note:
        pytest.skip("giving a file away needs root")
    path = _plant(tmp_path / "cache")
    change(path)
    load, cache = cached_load([RULES], tmp_path / "cache")
    assert "planted" not in {rule.name for rule in load.rules}
    assert cache.note is not None and note in cache.note


def test_the_cache_file_is_private(tmp_path):
    cached_load([RULES], tmp_path / "cache")
    path = only_cache_file(tmp_path / "cache")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_a_cache_that_cannot_be_written_is_not_fatal(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    load, cache = cached_load([RULES], blocker / "cache")
    same_load(load_rules([RULES]), load)
    assert cache.note is not None and "not saved" in cache.note


def test_options_have_caches_of_their_own(tmp_path):
    cached_load([RULES], tmp_path, all_rules=False)
    cached_load([RULES], tmp_path, all_rules=True)
    assert len(list(tmp_path.glob("rules-*.json"))) == 2


@pytest.mark.parametrize(
    "value",
    [
        EventQuery("process", And((Comparison("==", Field(("process", "args", 0)), Literal(1.5)), Literal(None)))),
        StringMatch(":", Field(("a",), optional=True), (Literal("x*"), Literal(True)), insensitive=True),
        Literal(2**70),
        Literal("\ud800 \n ü"),
    ],
)
def test_data_form_round_trip(value):
    assert from_data(json.loads(json.dumps(to_data(value))), CACHED_TYPES) == value


def test_data_form_builds_only_the_named_types():
    with pytest.raises(KeyError):
        from_data({"@": "Path", "args": ["/"]}, CACHED_TYPES)


def replay(*args: str) -> bytes:
    result = CliRunner().invoke(app, ["replay", "-j", "1", *args])
    assert result.exit_code == 0, result.output
    alerts = [orjson.loads(line) for line in result.stdout.splitlines()]
    for alert in alerts:
        alert["event"].pop("created", None)  # detection wall-clock time
    return b"".join(orjson.dumps(a, option=orjson.OPT_APPEND_NEWLINE) for a in alerts)


@needs_elastic
def test_elastic_alerts_are_the_same_with_and_without_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path))
    args = ["--host", "web-01", "--rules", str(ELASTIC_LINUX), str(ALERTS / "discovery-session.log")]
    without = replay("--no-cache", *args)
    assert not list(tmp_path.iterdir())  # --no-cache writes nothing
    assert without
    assert replay(*args) == without  # writes the cache
    assert list(tmp_path.glob("rules-*.json"))
    assert replay(*args) == without  # reads it


def test_no_cache_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path))
    monkeypatch.setenv("AUDITPROC_NO_CACHE", "1")
    replay("--rules", str(RULES), str(ALERTS / "flood.log"))
    assert not list(tmp_path.iterdir())
