"""Detection rules: load Elastic-layout TOML rule files and arrange them in a table of candidates per event."""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, NamedTuple

from auditproc.eql import EqlSyntaxError, EqlUnsupportedError, compile_query
from auditproc.eql.ast import And, Comparison, Field, InSet, Literal, Node, Or, StringMatch
from auditproc.eql.values import text as keyword_text

DEFAULT_MAX_SIGNALS = 100
DEFAULT_INTERVAL = "5m"
DEFAULT_FROM = "now-6m"  # Kibana's default look-back: one interval plus one minute
SEVERITIES = ("low", "medium", "high", "critical")
RISK_SCORE_MAX = 100
REQUIRED_RULE_KEYS = ("rule_id", "name", "description", "severity", "risk_score", "type")
SKIPPED_MATURITIES = ("deprecated", "development")

# Index names that auditd data lands in; a rule index pattern covering one of them reads auditd data.
AUDITD_INDEX_PATTERNS = ("auditbeat-*", "logs-auditd_manager.auditd-*")
AUDITD_INDEX_EXAMPLES = ("auditbeat-8.17.0", "logs-auditd_manager.auditd-default")

SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([smhd])")
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)$")


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


@dataclass(slots=True)
class RuleLoad:
    """What :func:`load_rules` found: runnable rules, skipped rules and problems, each in file order."""

    rules: list[Rule] = field(default_factory=list)
    skipped: list[SkippedRule] = field(default_factory=list)
    errors: list[RuleProblem] = field(default_factory=list)


# --- loading --------------------------------------------------------------------------------------


def load_rules(paths: Iterable[str | Path], *, all_rules: bool = False) -> RuleLoad:
    """Load every ``*.toml`` rule under ``paths`` (files or folders, recursively, sorted).

    By default only rules meant for auditd data (an auditd index pattern, or no index) of production
    maturity run; ``all_rules`` runs every rule that loads and compiles.
    """
    load = RuleLoad()
    seen_ids: dict[str, Path] = {}
    as_root = os.geteuid() == 0
    for path in _rule_files(paths, load.errors):
        outcome = _load_file(path, all_rules=all_rules, as_root=as_root)
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


def _rule_files(paths: Iterable[str | Path], errors: list[RuleProblem]) -> Iterator[Path]:
    """Yield rule files in a deterministic order, each once; record paths that do not exist.

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
                    errors.append(RuleProblem(p, None, None, f"symlink out of the rule directory {entry}: not followed"))
                elif p.is_file():
                    candidates.append(p)
        elif entry.is_file():
            candidates = [entry]
        else:
            errors.append(RuleProblem(entry, None, None, "no such file or directory"))
            continue
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                yield candidate


def _load_file(path: Path, *, all_rules: bool, as_root: bool = False) -> Rule | SkippedRule | list[RuleProblem]:
    """Read one rule file into a compiled rule, a skip with its reason, or the list of its problems.

    As root, a file others can rewrite is refused (its query would run with root's reach).
    """
    try:
        with path.open("rb") as handle:
            unsafe = _unsafe_for_root(path, os.fstat(handle.fileno())) if as_root else None
            if unsafe:
                return [RuleProblem(path, None, None, f"{unsafe}: not loaded while running as root")]
            text = handle.read().decode("utf-8")
    except OSError as exc:
        return [RuleProblem(path, None, None, f"cannot read: {exc.strerror or exc}")]
    except UnicodeDecodeError as exc:
        line, column = _line_column(exc.object.decode("utf-8", "replace"), exc.start)
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
        line, column = _key_position(text, "rule", "query")
        return [RuleProblem(path, line, column, "an eql rule needs a 'query' string")]

    try:
        compiled = compile_query(rule["query"])
    except EqlSyntaxError as exc:
        line, column = _query_position(text, exc.line, exc.column)
        # args[0] is the bare message; str(exc) adds the query-relative position and a caret line.
        return [RuleProblem(path, line, column, f"EQL syntax error: {exc.args[0] if exc.args else exc}")]
    except EqlUnsupportedError as exc:
        return SkippedRule(path, name, f"unsupported: {exc.kind} ({exc.reason})")

    metadata = data.get("metadata", {})
    maturity = metadata.get("maturity") if isinstance(metadata, dict) else None
    if not all_rules and maturity in SKIPPED_MATURITIES:
        return SkippedRule(path, name, f"maturity: {maturity}")
    index = tuple(rule.get("index", ()))
    if not all_rules and not reads_auditd(index):
        return SkippedRule(path, name, "data source: index lists no auditd source")
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
        line, column = _table_position(text, "rule")
        return [RuleProblem(path, line, column, f"[rule] is missing required key(s): {', '.join(missing)}")]

    problems: list[RuleProblem] = []

    def check(key: str, ok: bool, expected: str) -> None:
        if key in rule and not ok:
            line, column = _key_position(text, "rule", key)
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


def _line_column(text: str, offset: int) -> tuple[int, int]:
    """Return the 1-based line and column of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _toml_problem(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> RuleProblem:
    """Turn a TOML decode error into a problem; tomllib on 3.11 only has the position in its message."""
    message = str(exc)
    match = _TOML_POSITION.search(message)
    if match:
        return RuleProblem(
            path, int(match.group(1)), int(match.group(2)), f"TOML: {message[: match.start()].strip()}"
        )
    line, column = _line_column(text, len(text.rstrip()))  # just after the last character written
    return RuleProblem(
        path, line, column, f"TOML: {message.replace(' (at end of document)', '')} at end of file"
    )


def _table_spans(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield (table name, start offset of its header, offset where its body ends) for each table header."""
    headers = [
        (m.group(1).strip(), m.start())
        for m in re.finditer(r"^[ \t]*\[\[?([^\[\]\n]+)\]\]?[ \t]*(?:#.*)?$", text, re.MULTILINE)
    ]
    for i, (name, start) in enumerate(headers):
        end = headers[i + 1][1] if i + 1 < len(headers) else len(text)
        yield name, start, end


def _table_position(text: str, table: str) -> tuple[int, int]:
    """Return the position of a table's header, or of the file start when it has none."""
    for name, start, _ in _table_spans(text):
        if name == table:
            return _line_column(text, text.index("[", start))
    return 1, 1


def _key_offset(text: str, table: str, key: str) -> re.Match[str] | None:
    """Find ``key = `` inside ``table``; the match ends where the value starts."""
    pattern = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=[ \t]*", re.MULTILINE)
    for name, start, end in _table_spans(text):
        if name == table:
            return pattern.search(text, start, end)
    return None


def _key_position(text: str, table: str, key: str) -> tuple[int, int]:
    """Return the position of a key's value, or of its table's header when the key is absent."""
    match = _key_offset(text, table, key)
    if match is None:
        return _table_position(text, table)
    return _line_column(text, match.end())


def _query_position(text: str, line: int | None, column: int | None) -> tuple[int | None, int | None]:
    """Map a 1-based position inside ``rule.query`` to the position in the file.

    Exact for literal strings (``'''…'''``, the usual form); for basic strings escapes can shift columns.
    """
    match = _key_offset(text, "rule", "query")
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
    first_line, first_column = _line_column(text, start)
    if line == 1:
        return first_line, first_column + (column or 1) - 1
    return first_line + line - 1, column


# --- the rule table -------------------------------------------------------------------------------

# Relative cost of a rule keyed on a field: roughly how often an event's value hits one key.
FIELD_COST = {
    "process.name": 1.0,
    "process.executable": 1.0,
    "process.parent.name": 2.0,
    "process.parent.executable": 2.0,
    "file.name": 2.0,
    "file.path": 2.0,
    "process.args": 3.0,  # many values per event
    "process.parent.args": 4.0,
    "event.action": 2.0,  # other agents' values (Defend's "exec") never occur on auditd input
}
OTHER_FIELD_COST = 5.0
# Values nearly every exec event auditproc emits carries: a key that accepts one selects almost nothing.
COMMON_VALUES = {
    "event.action": ("executed",),
    "auditd.data.syscall": ("execve",),
    "user.id": ("0",),
    "user.name": ("root",),
}
COMMON_VALUE_COST = 50.0
WILDCARD_COST_FACTOR = 2.0  # prefix or suffix of a pattern
CONTAINS_COST_FACTOR = 4.0  # a literal inside a pattern: tested per key, not looked up
VALUE_CACHE_ENTRIES = 4096  # per indexed field; the cache is emptied when full
# Present with the same few values on nearly every event: an index on them selects nothing.
UNSELECTIVE_FIELDS = frozenset({"host.os.type", "event.type", "event.category", "event.kind", "event.module"})

EXACT, FOLDED = "exact", "folded"
PREFIX, FOLDED_PREFIX, SUFFIX, FOLDED_SUFFIX = "prefix", "folded-prefix", "suffix", "folded-suffix"
CONTAINS, FOLDED_CONTAINS = "contains", "folded-contains"


class Probe(NamedTuple):
    """One indexable fact: the field's value equals / starts with / ends with / contains ``text`` (``kind``)."""

    kind: str
    text: str

    def accepts(self, value: str) -> bool:
        """Return whether ``value`` satisfies this probe."""
        if self.kind in (EXACT, PREFIX, SUFFIX, CONTAINS):
            folded = value
        else:
            folded = _fold(value) if self.kind == FOLDED else _fold_wildcard(value)
        if self.kind in (EXACT, FOLDED):
            return folded == self.text
        if self.kind in (PREFIX, FOLDED_PREFIX):
            return folded.startswith(self.text)
        if self.kind in (SUFFIX, FOLDED_SUFFIX):
            return folded.endswith(self.text)
        return self.text in folded


class Alternative(NamedTuple):
    """A field and probes on it, at least one of which holds."""

    field: str
    probes: frozenset[Probe]

    @property
    def cost(self) -> float:
        """Return the estimated cost of keying a rule on this alternative."""
        common = COMMON_VALUES.get(self.field, ())
        if any(probe.accepts(value) for probe in self.probes for value in common):
            return COMMON_VALUE_COST
        kinds = {p.kind for p in self.probes}
        if kinds & {CONTAINS, FOLDED_CONTAINS}:
            factor = CONTAINS_COST_FACTOR
        elif kinds - {EXACT, FOLDED}:
            factor = WILDCARD_COST_FACTOR
        else:
            factor = 1.0
        return FIELD_COST.get(self.field, OTHER_FIELD_COST) * factor


@dataclass(frozen=True, slots=True)
class IndexKey:
    """What every match of a rule satisfies: one of ``alternatives`` holds, and one of ``also`` when given.

    ``alternatives`` find the rule (at most one per field); ``also``, from another conjunct on other
    fields, then drops it cheaply when it cannot hold.
    """

    alternatives: tuple[Alternative, ...]
    also: tuple[Alternative, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """Return the fields the key looks at."""
        return tuple(alt.field for alt in self.alternatives)


def index_key(condition: Node) -> IndexKey | None:
    """Return the cheapest key every match of ``condition`` satisfies, or None when there is none."""
    cover = _cover(condition)
    if cover is None:
        return None
    also: tuple[Alternative, ...] = ()
    if isinstance(condition, And):
        used = {alt.field for alt in cover}
        others = [
            other
            for term in condition.terms
            if (other := _cover(term)) is not None
            and used.isdisjoint(alt.field for alt in other)
            and _cover_rank(other)[0] < COMMON_VALUE_COST
        ]
        also = min(others, key=_cover_rank, default=())
    return IndexKey(cover, also)


def _cover_rank(cover: tuple[Alternative, ...]) -> tuple[float, int]:
    return sum(alt.cost for alt in cover), len(cover)


def _cover(node: Node) -> tuple[Alternative, ...] | None:
    """Return alternatives one of which holds whenever ``node`` is true, or None when none are known."""
    if isinstance(node, And):
        covers = [cover for term in node.terms if (cover := _cover(term)) is not None]
        return min(covers, key=_cover_rank, default=None)
    if isinstance(node, Or):
        merged: dict[str, frozenset[Probe]] = {}
        for term in node.terms:
            cover = _cover(term)
            if cover is None:
                return None
            for alt in cover:
                merged[alt.field] = merged.get(alt.field, frozenset()) | alt.probes
        return tuple(Alternative(name, probes) for name, probes in merged.items())
    name, probes = _predicate_probes(node)
    if name is None or probes is None or name in UNSELECTIVE_FIELDS:
        return None
    return (Alternative(name, probes),)


def _predicate_probes(node: Node) -> tuple[str | None, frozenset[Probe] | None]:
    """Return the field and probes of a positive string predicate on a plain field, else (None, None)."""
    if isinstance(node, Comparison) and node.op == "==":
        left, right = (node.left, node.right) if isinstance(node.left, Field) else (node.right, node.left)
        return _field_name(left), _literal_probes((right,), EXACT)
    if isinstance(node, InSet):
        return _field_name(node.expr), _literal_probes(node.values, FOLDED if node.insensitive else EXACT)
    if isinstance(node, StringMatch) and node.kind in (":", "like"):
        return _field_name(node.expr), _pattern_probes(node.patterns, node.insensitive)
    if isinstance(node, StringMatch) and node.kind == "regex":
        return _field_name(node.expr), _regex_probes(node.patterns, node.insensitive)
    return None, None


def _field_name(node: Node) -> str | None:
    if isinstance(node, Field) and all(isinstance(part, str) for part in node.path):
        return ".".join(node.path)  # type: ignore[arg-type]
    return None


def _literal_probes(values: tuple[Node, ...], kind: str) -> frozenset[Probe] | None:
    """Probes for whole-value matches; None when some value is not a string literal."""
    if not all(isinstance(v, Literal) and isinstance(v.value, str) for v in values):
        return None
    return frozenset(
        Probe(kind, _fold(v.value) if kind == FOLDED else v.value)  # type: ignore[union-attr,arg-type]
        for v in values
    )


def _pattern_probes(patterns: tuple[Node, ...], insensitive: bool) -> frozenset[Probe] | None:
    """Probes for ``:``/``like`` patterns: the whole value, else its literal prefix, suffix or longest inner part.

    A pattern without ``*``/``?`` is plain equality (folded with ``str.lower`` when insensitive); an
    insensitive wildcard matches with ``re.IGNORECASE``, whose folding only agrees with ours on ASCII.
    """
    probes = set()
    for pattern in patterns:
        if not (isinstance(pattern, Literal) and isinstance(pattern.value, str)):
            return None
        pieces = re.split(r"[*?]", pattern.value)
        if len(pieces) == 1:
            probes.add(Probe(FOLDED, _fold(pattern.value)) if insensitive else Probe(EXACT, pattern.value))
            continue
        inner = max(pieces[1:-1], key=len, default="")
        usable = [
            (kind, piece)
            for kind, piece in ((PREFIX, pieces[0]), (SUFFIX, pieces[-1]), (CONTAINS, inner))
            if piece and not (insensitive and not piece.isascii())
        ]
        if not usable:
            return None
        # The first usable piece, unless it is one character (a leading "/") and a longer one exists.
        kind, piece = next((item for item in usable if len(item[1]) > 1), usable[0])
        probes.add(Probe(_FOLDED_KIND[kind], piece.lower()) if insensitive else Probe(kind, piece))
    return frozenset(probes)


_FOLDED_KIND = {PREFIX: FOLDED_PREFIX, SUFFIX: FOLDED_SUFFIX, CONTAINS: FOLDED_CONTAINS}


def _regex_probes(patterns: tuple[Node, ...], insensitive: bool) -> frozenset[Probe] | None:
    """Probes for ``regex`` patterns: text every match must contain, when each pattern has some."""
    probes = set()
    for pattern in patterns:
        text = (
            _regex_literal(pattern.value)
            if isinstance(pattern, Literal) and isinstance(pattern.value, str)
            else None
        )
        if (not text or len(text) == 1) and _regex_ends_with_space(pattern.value):  # type: ignore[union-attr]
            # A full match ends with a whitespace character, which no case folding touches.
            probes.update(Probe(SUFFIX, space) for space in _WHITESPACE)
            continue
        if not text or (insensitive and not text.isascii()):
            return None
        probes.add(Probe(FOLDED_CONTAINS, text.lower()) if insensitive else Probe(CONTAINS, text))
    return frozenset(probes)


# Every character ``\s`` matches in ``re`` (Unicode whitespace) or RE2 (ASCII whitespace); none beyond U+3000.
_WHITESPACE = tuple(chr(code) for code in range(0x3001) if chr(code).isspace())


def _regex_ends_with_space(pattern: str) -> bool:
    """Return whether every full match of a Lucene regexp ends with a whitespace character.

    True when the last top-level atom is ``\\s``, not made optional; groups and classes are opaque.
    """
    last = ""  # the last atom: "space" for \\s, "other", or "" (none yet, or optional)
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                return False
            last = "space" if pattern[i + 1] == "s" else "other"
            i += 2
        elif c == '"':
            end = pattern.find('"', i + 1)
            if end < 0:
                return False
            if end > i + 1:
                last = "other"
            i = end + 1
        elif c in "([":
            i = _regex_skip(pattern, i)
            if i < 0:
                return False
            last = "other"
        elif c == "+":  # one or more: the match still ends with the atom
            i += 1
        elif c in "?*":
            last = ""
            i += 1
        elif c == "{":
            end = pattern.find("}", i)
            low = pattern[i + 1 : end].split(",", 1)[0] if end > 0 else ""
            if not low.isdigit():
                return False
            if int(low) == 0:
                last = ""
            i = end + 1
        elif c in _REGEX_GIVE_UP:
            return False
        else:  # a literal, "." or "@"
            last = "other"
            i += 1
    return last == "space"


_REGEX_SHORTHANDS = frozenset("dDsSwW")
_REGEX_GIVE_UP = frozenset("|&~<>#")  # alternation and Lucene's set operators: no single required text


def _regex_literal(pattern: str) -> str | None:
    """Return the longest run of literal text every full match of a Lucene regexp contains, or None.

    Conservative: groups and classes are opaque, an optional or repeated atom ends a run.
    """
    runs = [""]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        atom: str | None = None
        if c == "\\":
            if i + 1 >= n:
                return None
            atom = None if pattern[i + 1] in _REGEX_SHORTHANDS else pattern[i + 1]
            i += 2
        elif c == '"':
            end = pattern.find('"', i + 1)
            if end < 0:
                return None
            atom, i = pattern[i + 1 : end], end + 1
        elif c in "([":
            i = _regex_skip(pattern, i)
            if i < 0:
                return None
        elif c in _REGEX_GIVE_UP or c in "?*+{":
            return None
        elif c in ".@":
            i += 1
        else:
            atom, i = c, i + 1
        quantifier = pattern[i] if i < n and pattern[i] in "?*+{" else ""
        minimum = 1
        if quantifier == "{":
            end = pattern.find("}", i)
            low = pattern[i + 1 : end].split(",", 1)[0] if end > 0 else ""
            if not low.isdigit():
                return None
            minimum, i = int(low), end + 1
        elif quantifier:
            minimum = 0 if quantifier in "?*" else 1
            i += 1
        if atom is None or minimum == 0:
            runs.append("")
        else:
            runs[-1] += atom
            if quantifier:  # repeated: what follows is not next to this atom's first occurrence
                runs.append("")
    # Of runs as long, one not made only of path and argument punctuation is found less often.
    return max(runs, key=lambda run: (len(run), not _COMMON_TEXT.issuperset(run))) or None


_COMMON_TEXT = frozenset("./-_ ")


def _regex_skip(pattern: str, start: int) -> int:
    """Return the index after the group or class opening at ``start``, or -1 when it is not closed."""
    if pattern[start] == "[":
        i = start + 1
        if i < len(pattern) and pattern[i] == "^":
            i += 1
        if i < len(pattern) and pattern[i] == "]":
            i += 1
        while i < len(pattern) and pattern[i] != "]":
            i += 2 if pattern[i] == "\\" else 1
        return i + 1 if i < len(pattern) else -1
    depth, i = 0, start
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            end = pattern.find('"', i + 1)
            if end < 0:
                return -1
            i = end + 1
            continue
        if c == "[":
            i = _regex_skip(pattern, i)
            if i < 0:
                return -1
            continue
        depth += {"(": 1, ")": -1}.get(c, 0)
        i += 1
        if depth == 0:
            return i
    return -1


# Non-ASCII characters that ``re.IGNORECASE`` (the engine's case-insensitive wildcards) equates with
# an ASCII letter although ``str.lower`` does not; KELVIN SIGN already lowers to "k".
_WILDCARD_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})


def _fold(text: str) -> str:
    """Case-fold a whole value the way the engine's case-insensitive equality (``in~``, ``:``) does."""
    return text.lower()


def _fold_wildcard(text: str) -> str:
    """Case-fold a value so that ASCII prefixes and suffixes compare as ``re.IGNORECASE`` does."""
    return text.lower() if text.isascii() else text.translate(_WILDCARD_FOLD).lower()


class _FieldIndex:
    """Rule positions reachable from one field's values, by probe kind."""

    __slots__ = ("get", "exact", "folded", "ends", "folded_ends", "contains", "folded_contains", "cache", "arrays")

    def __init__(self, name: str) -> None:
        self.get = _values_getter(tuple(name.split(".")))
        self.exact: dict[str, list[int]] = {}
        self.folded: dict[str, list[int]] = {}
        # (is suffix, length) → prefix or suffix of that length → positions
        self.ends: dict[tuple[bool, int], dict[str, list[int]]] = {}
        self.folded_ends: dict[tuple[bool, int], dict[str, list[int]]] = {}
        # inner text → positions; tested one by one, so kept to patterns with nothing better
        self.contains: dict[str, list[int]] = {}
        self.folded_contains: dict[str, list[int]] = {}
        # value → positions it selects; exec streams repeat names, paths and arguments all the time
        self.cache: dict[str, tuple[int, ...]] = {}
        self.arrays: dict[tuple[Any, ...], tuple[int, ...]] = {}  # the same for a whole array of strings

    def add(self, probe: Probe, position: int) -> None:
        self.cache.clear()
        self.arrays.clear()
        kind = probe.kind
        if kind in (EXACT, FOLDED, CONTAINS, FOLDED_CONTAINS):
            table = {
                EXACT: self.exact,
                FOLDED: self.folded,
                CONTAINS: self.contains,
                FOLDED_CONTAINS: self.folded_contains,
            }[kind]
        else:
            ends = self.ends if kind in (PREFIX, SUFFIX) else self.folded_ends
            table = ends.setdefault((kind in (SUFFIX, FOLDED_SUFFIX), len(probe.text)), {})
        table.setdefault(probe.text, []).append(position)

    def collect(self, values: Sequence[Any], out: set[int]) -> None:
        """Add the positions of rules whose key one of ``values`` (this field's values in a doc) satisfies."""
        cache = self.cache
        for raw in values:
            if type(raw) is str:
                hit = cache.get(raw)
                if hit is None:
                    hit = self.miss(raw)
            else:
                value = keyword_text(raw)
                if value is None:
                    continue
                hit = cache.get(value)
                if hit is None:
                    hit = self.miss(value)
            if hit:
                out.update(hit)

    def array_miss(self, values: Sequence[Any]) -> tuple[int, ...]:
        """Return (and, for an array of strings, remember) the positions ``values`` select together."""
        found: set[int] = set()
        self.collect(values, found)
        hit = tuple(found)
        # Only string arrays are remembered: one with a number never equals one of strings, while
        # (1,) == (True,) would mix up values whose text differs.
        if all(type(value) is str for value in values):
            arrays = self.arrays
            if len(arrays) >= VALUE_CACHE_ENTRIES:
                arrays.clear()
            arrays[tuple(values)] = hit
        return hit

    def miss(self, value: str) -> tuple[int, ...]:
        cache = self.cache
        if len(cache) >= VALUE_CACHE_ENTRIES:
            cache.clear()
        hit = cache[value] = self._positions(value)
        return hit

    def _positions(self, value: str) -> tuple[int, ...]:
        """Return the positions of rules whose key ``value`` satisfies."""
        found: list[int] = []
        found += self.exact.get(value, ())
        if self.folded:
            found += self.folded.get(_fold(value), ())
        # A value shorter than a key yields a shorter piece, which no key of that length equals.
        for (suffix, length), table in self.ends.items():
            found += table.get(value[-length:] if suffix else value[:length], ())
        for text, hit in self.contains.items():
            if text in value:
                found += hit
        if self.folded_ends or self.folded_contains:
            wild = _fold_wildcard(value)
            for (suffix, length), table in self.folded_ends.items():
                found += table.get(wild[-length:] if suffix else wild[:length], ())
            for text, hit in self.folded_contains.items():
                if text in wild:
                    found += hit
        return tuple(found)


class _Bucket:
    """The rules of one event category: indexed by field, plus the ones that must always be tested."""

    __slots__ = ("fields", "scan", "also", "checked", "also_fields", "plan")

    def __init__(self) -> None:
        self.fields: dict[str, _FieldIndex] = {}
        # (field, its getter, its value cache, its index) for each indexed field: the per-event loop
        self.plan: tuple[tuple[str, Callable[[Any], Sequence[Any]], dict[str, tuple[int, ...]], _FieldIndex], ...] = ()
        self.scan: list[int] = []
        self.also: dict[str, _FieldIndex] = {}  # second keys, only consulted for rules found first
        self.checked: set[int] = set()  # positions that have a second key
        self.also_fields: dict[int, tuple[str, ...]] = {}  # position → fields of its second key

    def add(self, key: IndexKey | None, position: int) -> None:
        if key is None:
            self.scan.append(position)
            return
        for indexes, alternatives in ((self.fields, key.alternatives), (self.also, key.also)):
            for alt in alternatives:
                index = indexes.get(alt.field) or indexes.setdefault(alt.field, _FieldIndex(alt.field))
                for probe in alt.probes:
                    index.add(probe, position)
        if key.also:
            self.checked.add(position)
            self.also_fields[position] = tuple(alt.field for alt in key.also)
        self.plan = tuple((name, index.get, index.cache, index) for name, index in self.fields.items())

    def collect(self, doc: Mapping[str, Any], out: set[int], memo: dict[str, Sequence[Any]]) -> None:
        """Add the candidates of ``doc``; ``memo`` keeps each field's values for the other lookups on it."""
        found: set[int] = set(self.scan)
        for name, get, cache, index in self.plan:
            values = memo.get(name)
            if values is None:
                values = memo[name] = get(doc)
            if not values:
                continue
            if len(values) == 1:  # one string value: index.collect, inlined
                value = values[0]
                if type(value) is str:
                    hit = cache.get(value)
                    if hit is None:
                        hit = index.miss(value)
                    if hit:
                        found.update(hit)
                    continue
            # Several values (process.args): the whole array repeats across events more than not.
            try:
                hit = index.arrays.get(tuple(values))
            except TypeError:  # an object among the values: no key
                index.collect(values, found)
                continue
            if hit is None:
                hit = index.array_miss(values)
            if hit:
                found.update(hit)
        if self.checked:
            pending = found & self.checked  # iterates the smaller set: cost follows the candidates
            if pending:
                passed: set[int] = set()
                also_fields = self.also_fields
                also = self.also
                for name in {name for position in pending for name in also_fields[position]}:
                    values = memo.get(name)
                    if values is None:
                        index = also[name]
                        values = memo[name] = index.get(doc)
                    if values:
                        also[name].collect(values, passed)
                found -= pending - passed
        out |= found


class RuleTable:
    """Compiled rules arranged by event category and an indexed key, so an event meets only its candidates."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.keys: tuple[IndexKey | None, ...] = tuple(
            index_key(rule.compiled.ast.condition) for rule in self.rules
        )
        self._any = _Bucket()
        # category field → (its getter, category value → bucket); event.category unless overridden
        self._categories: dict[str, tuple[Callable[[Any], Sequence[Any]], dict[str, _Bucket]]] = {}
        for position, (rule, key) in enumerate(zip(self.rules, self.keys, strict=True)):
            compiled = rule.compiled
            if compiled.category == "any":
                bucket = self._any
            else:
                name = compiled.category_field
                if name not in self._categories:
                    self._categories[name] = (_values_getter(tuple(name.split("."))), {})
                bucket = self._categories[name][1].setdefault(compiled.category, _Bucket())
            bucket.add(_with_check(key, rule.compiled.ast.condition), position)

    @property
    def scanned(self) -> tuple[Rule, ...]:
        """Return the rules without an index key, tested against every event of their category."""
        return tuple(rule for rule, key in zip(self.rules, self.keys, strict=True) if key is None)

    def candidates(self, doc: Mapping[str, Any]) -> list[Rule]:
        """Return, in load order, the rules that may match ``doc``: a superset of the matches, cheap to find."""
        positions: set[int] = set()
        memo: dict[str, Sequence[Any]] = {}
        if self._any.scan or self._any.fields:
            self._any.collect(doc, positions, memo)
        for get, buckets in self._categories.values():
            for category in get(doc):
                bucket = buckets.get(category if type(category) is str else keyword_text(category))
                if bucket is not None:
                    bucket.collect(doc, positions, memo)
        if not positions:
            return []
        rules = self.rules
        return [rules[p] for p in sorted(positions)]

    def match(self, doc: Mapping[str, Any]) -> list[Rule]:
        """Return, in load order, exactly the rules whose query matches ``doc``."""
        return [rule for rule in self.candidates(doc) if rule.compiled.matches(doc)]


def _with_check(key: IndexKey | None, condition: Node) -> IndexKey | None:
    """Return ``key`` with a second key when it has none and another conjunct gives one.

    ``index_key`` only takes a cheap second key; any other conjunct's, on fields of its own and
    accepting no common value, still costs less than evaluating the rule on an event it drops.
    """
    if key is None or key.also or not isinstance(condition, And):
        return key
    used = {alt.field for alt in key.alternatives}
    others = [
        other
        for term in condition.terms
        if (other := _cover(term)) is not None
        and used.isdisjoint(alt.field for alt in other)
        and all(alt.cost < COMMON_VALUE_COST for alt in other)
    ]
    also = min(others, key=_cover_rank, default=())
    return IndexKey(key.alternatives, also) if also else key


def _values_getter(path: tuple[str, ...]) -> Callable[[Any], Sequence[Any]]:
    """Return a callable giving every non-null value at ``path``; fast when no array is on the way."""
    if len(path) == 1:
        (first,) = path

        def get1(doc: Any) -> Sequence[Any]:
            if type(doc) is dict:
                node = doc.get(first)
                if node is None:
                    return ()
                return _list_values(node) if type(node) is list else (node,)
            return () if doc is None else _field_values(doc, path)

        return get1
    if len(path) == 2:
        first, second = path

        def get2(doc: Any) -> Sequence[Any]:
            if type(doc) is dict:
                node = doc.get(first)
                if type(node) is dict:
                    node = node.get(second)
                    if node is None:
                        return ()
                    return _list_values(node) if type(node) is list else (node,)
                if node is None:
                    return ()
            elif doc is None:
                return ()
            return _field_values(doc, path)

        return get2
    if len(path) == 3:
        first, second, third = path

        def get3(doc: Any) -> Sequence[Any]:
            if type(doc) is dict:
                node = doc.get(first)
                if type(node) is dict:
                    node = node.get(second)
                    if type(node) is dict:
                        node = node.get(third)
                        if node is None:
                            return ()
                        return _list_values(node) if type(node) is list else (node,)
                if node is None:
                    return ()
            elif doc is None:
                return ()
            return _field_values(doc, path)

        return get3

    def get(doc: Any) -> Sequence[Any]:
        node = doc
        for part in path:
            if type(node) is dict:
                node = node.get(part)
            elif node is None:
                return ()
            else:
                return _field_values(doc, path)
        if node is None:
            return ()
        return _list_values(node) if type(node) is list else (node,)

    return get


def _list_values(node: list[Any]) -> list[Any]:
    """Return the non-null leaves of an array, flattened; a flat array takes the fast way."""
    if list in map(type, node):
        return list(_leaves(node))
    if None in node:
        return [item for item in node if item is not None]
    return node  # read, never changed


def _field_values(doc: Any, path: tuple[str, ...]) -> list[Any]:
    """Return every non-null value at a dotted path of nested objects; arrays (of values or objects) flatten."""
    level = [doc]
    for part in path:
        level = [
            leaf[part] for node in level for leaf in _leaves(node) if type(leaf) is dict and part in leaf
        ]
    return [leaf for node in level for leaf in _leaves(node)]


def _leaves(value: Any) -> Iterator[Any]:
    if type(value) is list:
        for item in value:
            yield from _leaves(item)
    elif value is not None:
        yield value
