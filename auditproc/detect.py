"""The detect stage: ECS documents in, alert documents out (rule table → exceptions → max_signals)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from auditproc.alerts import AlertSettings, SignalLimiter, build_alert
from auditproc.emitted import CATEGORY_FIELD, kind_categories, vocabulary
from auditproc.exceptions import ExceptionListError, ExceptionSet, load_exceptions
from auditproc.normalize import TRAIL_KIND_NAMES, kind_rows
from auditproc.normalize.vocabulary import Normalization
from auditproc.rulecache import NO_CACHE_ENV, RuleCache
from auditproc.rulefiles import Rule, default_rules_dir, load_rules
from auditproc.ruletable import RuleTable, cannot_fire


class DetectorError(Exception):
    """Rules or exceptions that cannot be used; the messages were already said."""


class Verbosity(IntEnum):
    """How much loading the rules says on stderr: errors always, then nothing, one line, or every rule."""

    QUIET = 0
    SUMMARY = 1
    VERBOSE = 2


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """Everything needed to build a Detector: plain data, so a worker process can build its own."""

    rules: tuple[Path, ...] = ()  # empty: the shipped rules
    all_rules: bool = False
    exceptions: tuple[Path, ...] = ()
    alert_settings: AlertSettings = AlertSettings()
    since: str | None = None
    until: str | None = None
    load_jobs: int = 1  # processes that read the rule files (2: a forked helper reads every other file)
    # The ECS profile of the documents detected on; None when auditproc did not build them
    # (--input-format ecs): then no rule is said to be unable to fire.
    profile: str | None = "auditd"
    rule_cache: bool = True  # keep what the rule files loaded to (README: rule cache); off with --no-cache


def build_detector(spec: DetectorSpec, say: Callable[[str], None], verbosity: Verbosity = Verbosity.QUIET) -> Detector:
    """Load rules and exceptions into a Detector; every problem is said, then DetectorError raised.

    Rules that cannot fire on the documents stay loaded (an exception list they name is theirs,
    not global); they are only reported apart.
    """
    sources = spec.rules or (default_rules_dir(),)
    cache = None
    if spec.rule_cache and not os.environ.get(NO_CACHE_ENV):
        cache = RuleCache.open(sources, {"all_rules": spec.all_rules})
    load = load_rules(sources, all_rules=spec.all_rules, jobs=spec.load_jobs, cache=cache)
    if cache is not None and cache.note and verbosity is Verbosity.VERBOSE:
        say(cache.note)
    blocked = []
    if spec.profile is not None and verbosity is not Verbosity.QUIET:
        documents = vocabulary()
        blocked = [(rule, why) for rule in load.rules if (why := cannot_fire(rule, spec.profile, documents))]
    if verbosity is Verbosity.VERBOSE:
        for skipped in load.skipped:
            say(f"skipped rule {skipped.name!r} ({skipped.path}): {skipped.reason}")
        for rule, why in blocked:
            say(f"rule {rule.name!r} ({rule.path}) cannot fire: {why}")
    for problem in load.errors:
        say(f"rule error: {problem}")
    if load.errors:
        raise DetectorError("rule errors")
    if verbosity is Verbosity.SUMMARY:
        say(f"{load.summary(len(blocked))}; -v for the list" if load.skipped or blocked else load.summary())
    if not load.rules:
        say("no rules to run (-v lists the skipped rules; --all-rules runs rules for any data source)")
        raise DetectorError("no rules")
    exception_set = None
    if spec.exceptions:
        try:
            exception_set = load_exceptions(spec.exceptions, load.rules)
        except (ExceptionListError, OSError) as exc:
            say(f"exceptions: {exc}")
            raise DetectorError("exceptions") from None
    detector = Detector(RuleTable(load.rules), spec.alert_settings, exception_set, spec.since, spec.until)
    if spec.profile is not None:
        detector.kinds, detector.rows = needed(load.rules, spec.profile)
    return detector


def needed(rules: Iterable[Rule], profile: str) -> tuple[tuple[str, ...], frozenset[Normalization]]:
    """The event kinds, and the rows of Elastic's table, some rule can match, so the normaliser builds
    no other document (the process kind always: it keeps the process table). A row is needed when a
    rule is not ruled out by the shape of that row's documents: with Elastic's rules an openat
    (opened-file, info) is never built, which kept replay of a file-heavy log at 1/3 of its cost."""
    rules = tuple(rules)
    # Rules of a category (not `any`) skip the rows of other categories without building their shape:
    # with the shipped rules, that is every row (30 ms of start-up before).
    named = {rule.compiled.category for rule in rules}
    by_category = "any" not in named and all(rule.compiled.category_field == CATEGORY_FIELD for rule in rules)
    kinds, rows = ["process"], set()
    for kind in TRAIL_KIND_NAMES:
        for row in kind_rows(kind):
            if by_category and row.categories and not named.intersection(row.categories):
                continue
            shape = vocabulary(kind_categories(kind, row))
            if any(cannot_fire(rule, profile, shape) is None for rule in rules):
                rows.add(row)
                if kinds[-1] != kind:
                    kinds.append(kind)
    return tuple(kinds), frozenset(rows)


@dataclass(slots=True)
class DetectStats:
    """Per-rule counts for ``--stats``: every drop is counted, none is silent."""

    evaluated: int = 0
    outside_time: int = 0
    alerts: Counter = field(default_factory=Counter)
    suppressed_by_exception: Counter = field(default_factory=Counter)
    suppressed_by_max_signals: Counter = field(default_factory=Counter)

    def summary(self) -> list[str]:
        """Human-readable lines for stderr."""
        out = [
            f"documents evaluated: {self.evaluated}  outside --since/--until: {self.outside_time}",
            f"alerts: {sum(self.alerts.values())}  suppressed by exceptions: "
            f"{sum(self.suppressed_by_exception.values())}  suppressed by max_signals: "
            f"{sum(self.suppressed_by_max_signals.values())}",
        ]
        for name in sorted(set(self.alerts) | set(self.suppressed_by_exception) | set(self.suppressed_by_max_signals)):
            out.append(
                f"  {name}: {self.alerts[name]} alerts, {self.suppressed_by_exception[name]} excepted, "
                f"{self.suppressed_by_max_signals[name]} over max_signals"
            )
        return out


class Detector:
    """Runs every document through the rule table and turns matches into alerts."""

    def __init__(
        self,
        table: RuleTable,
        alert_settings: AlertSettings,
        exceptions: ExceptionSet | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> None:
        self.table = table
        self.settings = alert_settings
        self.exceptions = exceptions
        self.limiter = SignalLimiter(alert_settings)
        # Bounds are ISO strings in our @timestamp form: they compare as strings.
        self.since = since
        self.until = until
        self.stats = DetectStats()
        self.kinds: tuple[str, ...] | None = None  # event kinds its rules can match (needed); None: all
        self.rows: frozenset[Normalization] | None = None  # and the table rows; None: all

    def process(self, doc: dict) -> list[dict]:
        """The alerts (and any due overflow summaries) for one document."""
        return self.admit(doc, self.candidates(doc))

    def candidates(self, doc: dict) -> list[Rule]:
        """The rules that match ``doc`` inside --since/--until and that no exception suppresses.

        Needs no state: ``--jobs`` workers run it in parallel, ``admit`` in order.
        """
        ts = doc.get("@timestamp")
        if (self.since is not None or self.until is not None) and not self._in_range(ts):
            self.stats.outside_time += 1
            return []
        self.stats.evaluated += 1
        rules = self.table.match(doc)
        if self.exceptions is None or not rules:
            return rules
        kept = []
        for rule in rules:
            if self.exceptions.suppresses(rule, doc):
                self.stats.suppressed_by_exception[rule.name] += 1
            else:
                kept.append(rule)
        return kept

    def admit(self, doc: dict, rules: list[Rule]) -> list[dict]:
        """The alerts of ``rules`` for ``doc`` that max_signals lets through, after the summaries it made due."""
        out: list[dict] = []
        for rule in rules:
            admitted, summaries = self.limiter.admit(rule, doc)
            out.extend(summaries)
            if admitted:
                self.stats.alerts[rule.name] += 1
                out.append(build_alert(rule, doc, self.settings))
            else:
                self.stats.suppressed_by_max_signals[rule.name] += 1
        return out

    def finish(self) -> list[dict]:
        """Overflow summaries still due at the end of input."""
        return self.limiter.finish()

    def alerts(self, docs: Iterable[dict]) -> Iterator[dict]:
        """Alerts for every document, then the overflow summaries due at the end."""
        for doc in docs:
            yield from self.process(doc)
        yield from self.finish()

    def _in_range(self, ts: object) -> bool:
        if not isinstance(ts, str):
            return False
        if self.since is not None and ts < self.since:
            return False
        return self.until is None or ts <= self.until
