"""The detect stage: ECS documents in, alert documents out (rule table → exceptions → max_signals)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from auditproc.alerts import AlertSettings, SignalLimiter, build_alert
from auditproc.exceptions import ExceptionListError, ExceptionSet, load_exceptions
from auditproc.ruleset import RuleTable, default_rules_dir, load_rules


class DetectorError(Exception):
    """Rules or exceptions that cannot be used; the messages were already said."""


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


def build_detector(spec: DetectorSpec, say: Callable[[str], None]) -> Detector:
    """Load rules and exceptions into a Detector; every problem is said, then DetectorError raised."""
    load = load_rules(spec.rules or [default_rules_dir()], all_rules=spec.all_rules, jobs=spec.load_jobs)
    for skipped in load.skipped:
        say(f"skipped rule {skipped.name!r} ({skipped.path}): {skipped.reason}")
    for problem in load.errors:
        say(f"rule error: {problem}")
    if load.errors:
        raise DetectorError("rule errors")
    if not load.rules:
        say("no rules to run (see the skipped rules above, or try --all-rules)")
        raise DetectorError("no rules")
    exception_set = None
    if spec.exceptions:
        try:
            exception_set = load_exceptions(spec.exceptions, load.rules)
        except (ExceptionListError, OSError) as exc:
            say(f"exceptions: {exc}")
            raise DetectorError("exceptions") from None
    return Detector(RuleTable(load.rules), spec.alert_settings, exception_set, spec.since, spec.until)


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

    def process(self, doc: dict) -> list[dict]:
        """The alerts (and any due overflow summaries) for one document."""
        ts = doc.get("@timestamp")
        if (self.since is not None or self.until is not None) and not self._in_range(ts):
            self.stats.outside_time += 1
            return []
        self.stats.evaluated += 1
        out: list[dict] = []
        for rule in self.table.match(doc):
            if self.exceptions is not None and self.exceptions.suppresses(rule, doc):
                self.stats.suppressed_by_exception[rule.name] += 1
                continue
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
