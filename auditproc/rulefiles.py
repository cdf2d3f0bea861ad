"""Detection rules: the rule model, and loading Elastic-layout TOML rule files into it."""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import hashlib
import multiprocessing
import os
import re
import stat
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from auditproc.eql import (
    CompiledQuery,
    CompiledSample,
    CompiledSequence,
    EqlSyntaxError,
    compile_ast,
    parse_rule_query,
)
from auditproc.eql import ast as eql_ast
from auditproc.eql.ast import And, Comparison, Field, InSet, Literal, Or, StringMatch, Unsupported
from auditproc.rulecache import RuleCache, from_data, to_data
from auditproc.tomlpos import decode_error, key_offset, key_position, line_column, table_position

DEFAULT_MAX_SIGNALS = 100
DEFAULT_INTERVAL = "5m"
DEFAULT_FROM = "now-6m"  # Kibana's default look-back: one interval plus one minute
SEVERITIES = ("low", "medium", "high", "critical")
RISK_SCORE_MAX = 100
REQUIRED_RULE_KEYS = ("rule_id", "name", "description", "severity", "risk_score", "type")
SKIPPED_MATURITIES = ("deprecated", "development")
MAX_RULE_FILE_BYTES = 4 << 20  # a rule file's size limit (SECURITY.md); room for a query of 1 MiB

# Index names that auditd data lands in; a rule index pattern covering one of them reads auditd data.
AUDITD_INDEX_PATTERNS = ("auditbeat-*", "logs-auditd_manager.auditd-*")
AUDITD_INDEX_EXAMPLES = ("auditbeat-8.17.0", "logs-auditd_manager.auditd-default")

SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([smhd])")


def parse_duration(text: str) -> int:
    """Return the number of seconds in a duration such as ``30s``, ``5m``, ``1h`` or ``2d``."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"invalid duration {text!r} (expected a number followed by s, m, h or d)")
    return int(match.group(1)) * SECONDS_PER_UNIT[match.group(2)]


def default_rules_dir() -> Path:
    """Return the folder of rule files shipped with auditproc (package ``auditproc.rules``)."""
    # Installed, the top-level rules/ folder is the package auditproc.rules; run from a source
    # checkout (tests, `python -m auditproc.cli`), the checkout's auditproc/ shadows the installed
    # package and has no such subpackage, so the folder next to it is the one.
    checkout = Path(__file__).resolve().parent.parent / "rules"
    if (checkout / "__init__.py").exists():
        return checkout
    return Path(str(files("auditproc.rules")))


# --- rule values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttackRef:
    """One MITRE ATT&CK entry (tactic, technique or subtechnique): id, name, reference URL."""

    id: str
    name: str
    reference: str


@dataclass(frozen=True, slots=True)
class Technique:
    """An ATT&CK technique with its subtechniques."""

    id: str
    name: str
    reference: str
    subtechniques: tuple[AttackRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Threat:
    """One ``[[rule.threat]]`` entry: framework, tactic and techniques."""

    framework: str
    tactic: AttackRef
    techniques: tuple[Technique, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """A detection rule as read from its TOML file, with its compiled query (None when not compiled)."""

    rule_id: str
    name: str
    description: str
    severity: str
    risk_score: int
    type: str
    language: str
    query: str
    path: Path
    index: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    author: tuple[str, ...] = ()
    license: str | None = None
    version: str | None = None
    threat: tuple[Threat, ...] = ()
    max_signals: int = DEFAULT_MAX_SIGNALS
    interval: str = DEFAULT_INTERVAL
    from_: str = DEFAULT_FROM
    note: str | None = None
    maturity: str | None = None
    building_block_type: str | None = None
    compiled: Any = field(default=None, compare=False, repr=False)

    @property
    def correlates(self) -> bool:
        """Return whether the rule is a sequence or a sample: it alerts on several events, not one."""
        return isinstance(self.compiled, CompiledSequence | CompiledSample)

    @property
    def terms(self) -> tuple[CompiledQuery, ...]:
        """Return the single-event queries the rule runs: its query, or each distinct term of a sequence or sample."""
        if self.correlates:
            return tuple(term.query for term in self.compiled.terms)
        return (self.compiled,)

    @property
    def interval_seconds(self) -> int:
        """Return the schedule interval in seconds."""
        return parse_duration(self.interval)

    @property
    def lookback_seconds(self) -> int:
        """Return the look-back window of ``from`` (``now-9m`` → 540) in seconds."""
        return parse_duration(self.from_.removeprefix("now-"))


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """A rule file that could not be loaded, with the line and column (1-based) when known."""

    path: Path
    line: int | None
    column: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class SkippedRule(NamedTuple):
    """A valid rule that is not run; ``reason`` starts with its kind (``not EQL: …``, ``unsupported: …``)."""

    path: Path
    name: str
    reason: str

    @property
    def kind(self) -> str:
        """Return the reason's kind: ``not EQL``, ``unsupported``, ``maturity``, ``data source`` or ``duplicate``."""
        return self.reason.partition(":")[0]

    @property
    def label(self) -> str:
        """Return the reason in a word or two for counts: ``sequence``, ``development``, ``no auditd index``, …"""
        kind, _, detail = self.reason.partition(": ")
        if kind in ("unsupported", "maturity"):
            return detail.partition(" (")[0]
        return SKIP_LABELS.get(kind, kind)


SKIP_LABELS = {"data source": "no auditd index", "duplicate": "duplicate rule_id"}


@dataclass(slots=True)
class RuleLoad:
    """What :func:`load_rules` found: runnable rules, skipped rules and problems, each in file order."""

    rules: list[Rule] = field(default_factory=list)
    skipped: list[SkippedRule] = field(default_factory=list)
    errors: list[RuleProblem] = field(default_factory=list)

    def summary(self, cannot_fire: int = 0) -> str:
        """Return the counts in one line: ``100 rules run, 15 cannot fire, 111 skipped: 99 no auditd index, …``.

        ``cannot_fire`` of the loaded rules are counted apart from those that run.
        """
        running = len(self.rules) - cannot_fire
        parts = ["1 rule runs" if running == 1 else f"{running} rules run"]
        if cannot_fire:
            parts.append(f"{cannot_fire} cannot fire")
        labels = Counter(skipped.label for skipped in self.skipped)
        if labels:
            why = ", ".join(f"{n} {label}" for label, n in sorted(labels.items(), key=lambda item: (-item[1], item[0])))
            parts.append(f"{len(self.skipped)} skipped: {why}")
        if self.errors:
            parts.append(f"{len(self.errors)} errors")
        return ", ".join(parts)


# --- loading --------------------------------------------------------------------------------------


def load_rules(
    paths: Iterable[str | Path], *, all_rules: bool = False, jobs: int = 1, cache: RuleCache | None = None
) -> RuleLoad:
    """Load every ``*.toml`` rule under ``paths`` (files or folders, recursively, sorted).

    By default only rules meant for auditd data (an auditd index pattern, or no index) of production
    maturity run; ``all_rules`` runs every rule that loads and compiles. With ``jobs`` 2, a forked
    process reads every other file: parsing queries is most of the start-up time of a large set.
    With a ``cache``, a file whose bytes it knows is not parsed again; the load is the same.
    """
    load = RuleLoad()
    seen_ids: dict[str, Path] = {}
    found = list(_rule_files(paths))
    files = [item for item in found if isinstance(item, Path)]
    outcomes = iter(_load_all(files, all_rules, jobs, cache))
    for item in found:
        if isinstance(item, RuleProblem):
            load.errors.append(item)
            continue
        path, outcome = item, next(outcomes)
        if isinstance(outcome, Rule):
            first = seen_ids.setdefault(outcome.rule_id, path)
            if first is path:
                load.rules.append(outcome)
            else:
                load.skipped.append(
                    SkippedRule(
                        path,
                        outcome.name,
                        f"duplicate: rule_id {outcome.rule_id} already loaded from {first}",
                    )
                )
        elif isinstance(outcome, SkippedRule):
            load.skipped.append(outcome)
        else:
            load.errors.extend(outcome)
    return load


Outcome = Rule | SkippedRule | list[RuleProblem]
T = TypeVar("T")
PARALLEL_LOAD_MIN_FILES = 32  # below this, forking costs more than it saves


def _load_all(files: list[Path], all_rules: bool, jobs: int, cache: RuleCache | None) -> list[Outcome]:
    """Return the outcome of every file, in order: from the cache where it knows the bytes, else loaded."""
    as_root = os.geteuid() == 0
    outcomes: list[Outcome | None] = []
    digests: dict[int, str] = {}
    to_load: list[tuple[int, Path, bytes]] = []
    for path in files:
        raw = _read_rule_file(path, as_root)
        outcome: Outcome | None = raw if isinstance(raw, list) else None
        if outcome is None and cache is not None:
            digest = digests[len(outcomes)] = hashlib.sha256(raw).hexdigest()
            outcome = _cached_outcome(path, cache, digest)
        if outcome is None:
            to_load.append((len(outcomes), path, raw))
        outcomes.append(outcome)
    read = functools.partial(_load_item, all_rules=all_rules)
    for (position, _, _), outcome in zip(to_load, _load_files(to_load, read, jobs), strict=True):
        outcomes[position] = outcome
        if cache is not None:
            cache.put(digests[position], _outcome_data(outcome))
    if cache is not None:
        cache.save()
    return [outcome if outcome is not None else [] for outcome in outcomes]


def _load_item(item: tuple[int, Path, bytes], *, all_rules: bool) -> Outcome:
    _, path, raw = item
    return _load_bytes(path, raw, all_rules=all_rules)


def _load_files(items: list[T], read: Callable[[T], Outcome], jobs: int) -> list[Outcome]:
    """Return ``read(item)`` for every item, in order; the odd ones in a forked helper when ``jobs`` > 1."""
    if jobs < 2 or len(items) < PARALLEL_LOAD_MIN_FILES or "fork" not in multiprocessing.get_all_start_methods():
        return [read(item) for item in items]
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    helper = context.Process(target=_read_for_parent, args=(sender, items[1::2], read), daemon=True)
    helper.start()
    sender.close()
    outcomes: list[Outcome] = [[] for _ in items]
    outcomes[0::2] = [read(item) for item in items[0::2]]
    try:
        outcomes[1::2] = [_recompiled(outcome) for outcome in receiver.recv()]
    except (EOFError, OSError):  # the helper died: read its half here
        outcomes[1::2] = [read(item) for item in items[1::2]]
    helper.join()
    return outcomes


def _read_for_parent(sender: Any, items: list[T], read: Callable[[T], Outcome]) -> None:
    # A compiled query is closures, which cannot be sent to another process; its AST can.
    sender.send([dataclasses.replace(o, compiled=o.compiled.ast) if isinstance(o, Rule) else o for o in map(read, items)])
    sender.close()


def _recompiled(outcome: Outcome) -> Outcome:
    if isinstance(outcome, Rule):
        return dataclasses.replace(outcome, compiled=compile_ast(outcome.query, outcome.compiled))
    return outcome


# The dataclasses a cache entry may name: the AST's nodes and a rule's threat entries.
CACHED_TYPES: dict[str, type] = {
    kind.__name__: kind
    for kind in (
        *(eql_ast.EventQuery, And, Or, eql_ast.Not, Comparison, InSet, StringMatch, eql_ast.FunctionCall),
        *(eql_ast.Arithmetic, eql_ast.Negative, Field, Literal, AttackRef, Technique, Threat),
        *(eql_ast.SequenceQuery, eql_ast.SampleQuery, eql_ast.Term, eql_ast.Span),
    )
}
UNCACHED_RULE_FIELDS = ("path", "compiled")  # the path is the file's, the compiled query is rebuilt from the AST


def _outcome_data(outcome: Outcome) -> dict[str, Any]:
    """Return an outcome as cache data, without its path."""
    if isinstance(outcome, Rule):
        fields = {f.name: to_data(getattr(outcome, f.name)) for f in dataclasses.fields(Rule)}
        for name in UNCACHED_RULE_FIELDS:
            del fields[name]
        return {"rule": fields, "ast": to_data(outcome.compiled.ast)}
    if isinstance(outcome, SkippedRule):
        return {"skipped": [outcome.name, outcome.reason]}
    return {"problems": [[p.line, p.column, p.message] for p in outcome]}


def _cached_outcome(path: Path, cache: RuleCache, digest: str) -> Outcome | None:
    """Return the outcome the cache holds for ``path``'s bytes, or None (unknown, or not usable: forgotten)."""
    data = cache.get(digest)
    if data is None:
        return None
    try:
        if "rule" in data:
            fields = {name: from_data(value, CACHED_TYPES) for name, value in data["rule"].items()}
            ast = from_data(data["ast"], CACHED_TYPES)
            return Rule(path=path, compiled=compile_ast(fields["query"], ast), **fields)
        if "skipped" in data:
            name, reason = data["skipped"]
            return SkippedRule(path, name, reason)
        return [RuleProblem(path, line, column, message) for line, column, message in data["problems"]]
    except Exception:  # noqa: BLE001 - a damaged entry, whatever it breaks, is loaded afresh
        cache.forget(digest)
        return None


def _rule_files(paths: Iterable[str | Path]) -> Iterator[Path | RuleProblem]:
    """Yield rule files in a deterministic order, each once, and a problem where a path does not exist.

    A symlink found in a directory is followed only when it stays inside that directory: whoever
    can write a link there must not make auditproc read (and quote in messages) any file it can.
    """
    seen: set[Path] = set()
    for entry in map(Path, paths):
        if entry.is_dir():
            root = entry.resolve()
            candidates = []
            for p in sorted(entry.rglob("*.toml")):
                if not p.resolve().is_relative_to(root):
                    yield RuleProblem(p, None, None, f"symlink out of the rule directory {entry}: not followed")
                elif p.is_file():
                    candidates.append(p)
        elif entry.is_file():
            candidates = [entry]
        else:
            yield RuleProblem(entry, None, None, "no such file or directory")
            continue
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                yield candidate


def _read_rule_file(path: Path, as_root: bool) -> bytes | list[RuleProblem]:
    """Return a rule file's bytes, or why it is not read.

    As root, a file others can rewrite is refused (its query would run with root's reach).
    """
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            unsafe = _unsafe_for_root(path, info) if as_root else None
            if unsafe:
                return [RuleProblem(path, None, None, f"{unsafe}: not loaded while running as root")]
            raw = handle.read(MAX_RULE_FILE_BYTES + 1)  # bounded, whatever the size fstat claimed
            if len(raw) > MAX_RULE_FILE_BYTES:
                size = max(info.st_size, len(raw))
                return [RuleProblem(path, None, None, f"rule file is larger than 4 MiB ({size:,} bytes): not loaded")]
    except OSError as exc:
        return [RuleProblem(path, None, None, f"cannot read: {exc.strerror or exc}")]
    return raw


def _load_bytes(path: Path, raw: bytes, *, all_rules: bool) -> Outcome:
    """Read one rule file's bytes into a compiled rule, a skip with its reason, or the list of its problems.

    The outcome depends on the bytes and ``all_rules`` alone (and ``path`` only where it is named),
    which is what lets the rule cache keep it.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = line_column(exc.object.decode("utf-8", "replace"), exc.start)
        return [RuleProblem(path, line, column, "not valid UTF-8")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [_toml_problem(path, text, exc)]

    rule = data.get("rule")
    if not isinstance(rule, dict):
        return [RuleProblem(path, 1, 1, "missing [rule] table")]
    problems = _check_rule_table(path, text, rule)
    if problems:
        return problems

    name = rule["name"]
    language = rule.get("language", "eql")
    if rule["type"] != "eql" or language != "eql":
        return SkippedRule(path, name, f"not EQL: type {rule['type']!r}, language {language!r}")
    if not isinstance(rule.get("query"), str):
        line, column = key_position(text, "rule", "query")
        return [RuleProblem(path, line, column, "an eql rule needs a 'query' string")]

    # Every query is parsed, for its errors and shape; only the rules that run are compiled.
    try:
        ast = parse_rule_query(rule["query"])
    except EqlSyntaxError as exc:
        line, column = _query_position(text, exc.line, exc.column)
        # args[0] is the bare message; str(exc) adds the query-relative position and a caret line.
        return [RuleProblem(path, line, column, f"EQL syntax error: {exc.args[0] if exc.args else exc}")]
    if isinstance(ast, Unsupported):
        return SkippedRule(path, name, f"unsupported: {ast.kind} ({ast.reason})")

    metadata = data.get("metadata", {})
    maturity = metadata.get("maturity") if isinstance(metadata, dict) else None
    if not all_rules and maturity in SKIPPED_MATURITIES:
        return SkippedRule(path, name, f"maturity: {maturity}")
    index = tuple(rule.get("index", ()))
    if not all_rules and not reads_auditd(index):
        return SkippedRule(path, name, "data source: index lists no auditd source")
    try:
        compiled = compile_ast(rule["query"], ast)
    except EqlSyntaxError as exc:  # "nests too deeply": unreachable within the bound parse_eql checks
        line, column = _query_position(text, exc.line, exc.column)
        return [RuleProblem(path, line, column, f"EQL syntax error: {exc.args[0]}")]
    return _build_rule(path, rule, language, index, maturity, compiled)


def _unsafe_for_root(path: Path, info: os.stat_result) -> str | None:
    """Why another user could change this rule file (world-writable, or in a directory anyone can rename in), else None."""
    if info.st_mode & stat.S_IWOTH:
        return "world-writable rule file (chmod o-w it)"
    for directory in path.resolve().parents:
        mode = os.stat(directory).st_mode
        if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
            return f"in world-writable directory {directory} without the sticky bit"
    return None


def reads_auditd(index: Iterable[str]) -> bool:
    """Return True when a rule's index patterns cover auditd data (or the rule names no index)."""
    patterns = tuple(index)
    if not patterns:
        return True
    return any(
        fnmatch.fnmatchcase(example, pattern) or fnmatch.fnmatchcase(pattern, auditd)
        for pattern in patterns
        for example, auditd in zip(AUDITD_INDEX_EXAMPLES, AUDITD_INDEX_PATTERNS, strict=True)
    )


def _check_rule_table(path: Path, text: str, rule: Mapping[str, Any]) -> list[RuleProblem]:
    """Return the problems with the ``[rule]`` table's keys and value types (empty when it is valid)."""
    missing = [key for key in REQUIRED_RULE_KEYS if key not in rule]
    if missing:
        line, column = table_position(text, "rule")
        return [RuleProblem(path, line, column, f"[rule] is missing required key(s): {', '.join(missing)}")]

    problems: list[RuleProblem] = []

    def check(key: str, ok: bool, expected: str) -> None:
        if key in rule and not ok:
            line, column = key_position(text, "rule", key)
            problems.append(RuleProblem(path, line, column, f"'{key}' must be {expected}, got {rule[key]!r}"))

    for key in (
        "rule_id",
        "name",
        "description",
        "type",
        "language",
        "license",
        "note",
        "building_block_type",
    ):
        check(key, isinstance(rule.get(key), str), "a string")
    for key in ("index", "tags", "references", "author"):
        value = rule.get(key)
        check(key, isinstance(value, list) and all(isinstance(v, str) for v in value), "a list of strings")
    check("severity", rule.get("severity") in SEVERITIES, f"one of {', '.join(SEVERITIES)}")
    score = rule.get("risk_score")
    check(
        "risk_score",
        _is_int(score) and 0 <= score <= RISK_SCORE_MAX,
        f"an integer from 0 to {RISK_SCORE_MAX}",
    )
    signals = rule.get("max_signals")
    check("max_signals", _is_int(signals) and signals > 0, "a positive integer")
    check("interval", _is_duration(rule.get("interval")), "a duration such as 5m")
    check("from", _is_lookback(rule.get("from")), "a look-back such as now-9m")
    check("threat", _is_threat_list(rule.get("threat")), "a list of threat tables with a tactic")
    return problems


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_duration(value: object) -> bool:
    return isinstance(value, str) and _DURATION.fullmatch(value) is not None


def _is_lookback(value: object) -> bool:
    return isinstance(value, str) and value.startswith("now-") and _is_duration(value.removeprefix("now-"))


def _is_threat_list(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(t, dict) and isinstance(t.get("tactic"), dict) for t in value
    )


def _build_rule(
    path: Path,
    rule: Mapping[str, Any],
    language: str,
    index: tuple[str, ...],
    maturity: str | None,
    compiled: Any,
) -> Rule:
    """Assemble a :class:`Rule` from a checked ``[rule]`` table."""
    version = rule.get("version")
    return Rule(
        rule_id=rule["rule_id"],
        name=rule["name"],
        description=rule["description"],
        severity=rule["severity"],
        risk_score=rule["risk_score"],
        type=rule["type"],
        language=language,
        query=rule["query"],
        path=path,
        index=index,
        tags=tuple(rule.get("tags", ())),
        references=tuple(rule.get("references", ())),
        author=tuple(rule.get("author", ())),
        license=rule.get("license"),
        version=None if version is None else str(version),
        threat=tuple(_threat(t) for t in rule.get("threat", ())),
        max_signals=rule.get("max_signals", DEFAULT_MAX_SIGNALS),
        interval=rule.get("interval", DEFAULT_INTERVAL),
        from_=rule.get("from", DEFAULT_FROM),
        note=rule.get("note"),
        maturity=maturity,
        building_block_type=rule.get("building_block_type"),
        compiled=compiled,
    )


def _attack_ref(table: Mapping[str, Any]) -> AttackRef:
    return AttackRef(str(table.get("id", "")), str(table.get("name", "")), str(table.get("reference", "")))


def _threat(table: Mapping[str, Any]) -> Threat:
    techniques = tuple(
        Technique(
            str(technique.get("id", "")),
            str(technique.get("name", "")),
            str(technique.get("reference", "")),
            tuple(_attack_ref(sub) for sub in technique.get("subtechnique", ())),
        )
        for technique in table.get("technique", ())
    )
    return Threat(str(table.get("framework", "")), _attack_ref(table["tactic"]), techniques)


# --- positions in the TOML text -------------------------------------------------------------------


def _toml_problem(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> RuleProblem:
    """Turn a TOML decode error into a problem."""
    return RuleProblem(path, *decode_error(text, exc))


def _query_position(text: str, line: int | None, column: int | None) -> tuple[int | None, int | None]:
    """Map a 1-based position inside ``rule.query`` to the position in the file.

    Exact for literal strings (``'''…'''``, the usual form); for basic strings escapes can shift columns.
    """
    match = key_offset(text, "rule", "query")
    if match is None or line is None:
        return line, column
    start = match.end()
    for quote in ("'''", '"""', "'", '"'):
        if text.startswith(quote, start):
            start += len(quote)
            # TOML trims a newline right after the opening delimiter of a multi-line string.
            if len(quote) == 3:
                for newline in ("\r\n", "\n"):
                    if text.startswith(newline, start):
                        start += len(newline)
                        break
            break
    first_line, first_column = line_column(text, start)
    if line == 1:
        return first_line, first_column + (column or 1) - 1
    return first_line + line - 1, column

