"""The detect stage: ECS documents in, alert documents out (rule table → exceptions → max_signals)."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from auditproc.alerts import AlertSettings, SignalLimiter, build_alert, build_sequence_alerts
from auditproc.emitted import CATEGORY_FIELD, kind_categories, vocabulary
from auditproc.eql import SampleMatcher, SequenceMatcher, StreamLimits, StreamStats
from auditproc.eql.sequence import timestamp_us
from auditproc.exceptions import ExceptionListError, ExceptionSet, load_exceptions
from auditproc.normalize import TRAIL_KIND_NAMES, kind_rows
from auditproc.normalize.vocabulary import Normalization
from auditproc.rulecache import NO_CACHE_ENV, RuleCache
from auditproc.rulefiles import Rule, default_rules_dir, load_rules
from auditproc.ruletable import Entry, QueryNeeds, RuleTable, SequenceTerm, cannot_fire


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
    sequence_limits: StreamLimits = StreamLimits()  # bounds on each sequence or sample rule's state


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
    detector = Detector(RuleTable(load.rules), spec.alert_settings, exception_set, spec.since, spec.until,
                        spec.sequence_limits)
    if spec.profile is not None:
        detector.kinds, detector.rows = needed(load.rules, spec.profile)
    return detector


def needed(rules: Iterable[Rule], profile: str) -> tuple[tuple[str, ...], frozenset[Normalization]]:
    """The event kinds, and the rows of Elastic's table, some rule can match, so the normaliser builds
    no other document (the process kind always: it keeps the process table). A row is needed when a
    rule is not ruled out by the shape of that row's documents: with Elastic's rules an openat
    (opened-file, info) is never built, which kept replay of a file-heavy log at 1/3 of its cost."""
    # Every term of a sequence counts, missing-event and until terms too: they must see their events.
    queries = tuple(query for rule in rules for query in rule.terms)
    # Queries of a category (not `any`) skip the rows of other categories without building their shape:
    # with the shipped rules, that is every row (30 ms of start-up before).
    named = {query.category for query in queries}
    by_category = "any" not in named and all(query.category_field == CATEGORY_FIELD for query in queries)
    needs = [QueryNeeds.of(query) for query in queries]  # once per query, not per row: 0.2 s of start-up
    kinds, rows = ["process"], set()
    for kind in TRAIL_KIND_NAMES:
        for row in kind_rows(kind):
            if by_category and row.categories and not named.intersection(row.categories):
                continue
            shape = vocabulary(kind_categories(kind, row))[profile]
            if any(need.may_match(shape) for need in needs):
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
    sequences: StreamStats | None = None  # what the sequence and sample matchers dropped; None: no such rule

    def summary(self) -> list[str]:
        """Human-readable lines for stderr."""
        out = [
            f"documents evaluated: {self.evaluated}  outside --since/--until: {self.outside_time}",
            f"alerts: {sum(self.alerts.values())}  suppressed by exceptions: "
            f"{sum(self.suppressed_by_exception.values())}  suppressed by max_signals: "
            f"{sum(self.suppressed_by_max_signals.values())}",
        ]
        if self.sequences is not None:
            dropped = self.sequences
            out.append(
                f"sequences: {dropped.evicted} partial sequences evicted by the cap, {dropped.expired} expired "
                f"past the horizon, {dropped.late} documents too late, {dropped.untimed} without a timestamp"
            )
        for name in sorted(set(self.alerts) | set(self.suppressed_by_exception) | set(self.suppressed_by_max_signals)):
            out.append(
                f"  {name}: {self.alerts[name]} alerts, {self.suppressed_by_exception[name]} excepted, "
                f"{self.suppressed_by_max_signals[name]} over max_signals"
            )
        return out


Matcher = SequenceMatcher | SampleMatcher


class Detector:
    """Runs every document through the rule table and turns matches into alerts.

    Single-event rules alert on the document that matches; a sequence or sample rule's terms are
    entries of the same table, and the documents they match feed that rule's streaming matcher,
    in input order (``admit``), which alerts when a sequence completes.
    """

    def __init__(
        self,
        table: RuleTable,
        alert_settings: AlertSettings,
        exceptions: ExceptionSet | None = None,
        since: str | None = None,
        until: str | None = None,
        limits: StreamLimits | None = None,  # the matchers' bounds; None: the defaults
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
        self.matchers: dict[str, Matcher] = {
            rule.rule_id: rule.compiled.matcher(limits or StreamLimits()) for rule in table.rules if rule.correlates
        }
        self._rules = {rule.rule_id: rule for rule in table.rules if rule.correlates}  # of the matchers
        if self.matchers:
            self.stats.sequences = StreamStats()
        # The newest event time a matcher was fed, and when (time.monotonic()): how far event time
        # has gone on while no document came (tick).
        self._newest_us: int | None = None
        self._newest_at = 0.0

    def process(self, doc: dict) -> list[dict]:
        """The alerts (and any due overflow summaries) for one document."""
        return self.admit(doc, self.candidates(doc))

    def candidates(self, doc: dict) -> list[Entry]:
        """The rules and sequence terms that match ``doc`` inside --since/--until and that no exception suppresses.

        Needs no state: ``--jobs`` workers run it in parallel, ``admit`` in order. An exception
        removes an event from its sequences too, as Kibana does it: it sends a rule's exceptions as
        the EQL request's filter, so Elasticsearch never sees an excepted event.
        """
        ts = doc.get("@timestamp")
        if (self.since is not None or self.until is not None) and not self._in_range(ts):
            self.stats.outside_time += 1
            return []
        self.stats.evaluated += 1
        entries = self.table.match(doc)
        if self.exceptions is None or not entries:
            return entries
        kept = []
        for entry in entries:
            rule = entry.rule if type(entry) is SequenceTerm else entry
            if self.exceptions.suppresses(rule, doc):
                self.stats.suppressed_by_exception[rule.name] += 1
            else:
                kept.append(entry)
        return kept

    def admit(self, doc: dict, entries: list[Entry]) -> list[dict]:
        """The alerts of ``entries`` for ``doc`` that max_signals lets through, after the summaries it made due;
        sequence terms feed their rule's matcher, and the sequences that completes alert."""
        out: list[dict] = []
        terms: dict[str, list[int]] | None = None
        for entry in entries:
            if type(entry) is SequenceTerm:
                if terms is None:
                    terms = {}
                terms.setdefault(entry.rule.rule_id, []).append(entry.index)
            else:
                self._alert(entry, [doc], out)  # type: ignore[arg-type]
        if terms is not None:
            self._note_time(doc)
            for rule_id, hits in terms.items():
                for docs in self.matchers[rule_id].feed(doc, hits):
                    self._alert(self._rules[rule_id], docs, out)
        return out

    def tick(self, now: float) -> list[dict]:
        """Alerts of sequences that waited on time alone (the reorder window, a missing event's), at
        ``now`` (time.monotonic()): event time is taken to go on at the pace of the clock."""
        if self._newest_us is None:
            return []
        out: list[dict] = []
        now_us = self._newest_us + int((now - self._newest_at) * 1_000_000)
        for rule_id, matcher in self.matchers.items():
            if matcher.waiting:
                for docs in matcher.pass_time(now_us):
                    self._alert(self._rules[rule_id], docs, out)
        return out

    def finish(self, flush_sequences: bool = True) -> list[dict]:
        """Sequences the end of input completes (unless their state is kept for later: ``to_state``),
        then overflow summaries still due."""
        out: list[dict] = []
        for rule_id, matcher in self.matchers.items() if flush_sequences else ():
            for docs in matcher.flush():
                self._alert(self._rules[rule_id], docs, out)
        if self.stats.sequences is not None:
            self.stats.sequences = _sum_stream_stats(matcher.stats for matcher in self.matchers.values())
        out.extend(self.limiter.finish())
        return out

    def to_state(self) -> dict:
        """Return the matchers' partial sequences as JSON-able data, for a follower's checkpoint."""
        return {rule_id: matcher.to_state() for rule_id, matcher in self.matchers.items() if len(matcher) or matcher.waiting}

    def from_state(self, state: dict, say: Callable[[str], None]) -> None:
        """Take back partial sequences ``to_state`` saved: those of rules still loaded with the same query."""
        for rule_id, saved in state.items():
            matcher = self.matchers.get(rule_id)
            if matcher is None:
                continue
            try:
                matcher.from_state(saved)
            except ValueError as exc:
                say(f"rule {self._rules[rule_id].name!r}: partial sequences not restored ({exc})")

    def alerts(self, docs: Iterable[dict]) -> Iterator[dict]:
        """Alerts for every document, then what the end of input makes due."""
        for doc in docs:
            yield from self.process(doc)
        yield from self.finish()

    def _alert(self, rule: Rule, docs: list[dict], out: list[dict]) -> None:
        admitted, summaries = self.limiter.admit(rule, docs[-1])
        out.extend(summaries)
        if not admitted:
            self.stats.suppressed_by_max_signals[rule.name] += 1
            return
        self.stats.alerts[rule.name] += 1
        if rule.correlates:
            out.extend(build_sequence_alerts(rule, docs, self.settings))
        else:
            out.append(build_alert(rule, docs[0], self.settings))

    def _note_time(self, doc: dict) -> None:
        ts = timestamp_us(doc.get("@timestamp"))
        if ts is not None and (self._newest_us is None or ts > self._newest_us):
            self._newest_us, self._newest_at = ts, time.monotonic()

    def _in_range(self, ts: object) -> bool:
        if not isinstance(ts, str):
            return False
        if self.since is not None and ts < self.since:
            return False
        return self.until is None or ts <= self.until


def _sum_stream_stats(parts: Iterable[StreamStats]) -> StreamStats:
    total = StreamStats()
    for part in parts:
        total.evicted += part.evicted
        total.expired += part.expired
        total.late += part.late
        total.untimed += part.untimed
    return total
