"""RFC 5424 syslog messages: one NDJSON line becomes ``<PRI>1 TIMESTAMP HOSTNAME auditproc PROCID - - JSON``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7, "uucp": 8,
    "cron": 9, "authpriv": 10, "ftp": 11, "local0": 16, "local1": 17, "local2": 18, "local3": 19,
    "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}
DEFAULT_FACILITY = "local0"
APP_NAME = b"auditproc"
SEVERITY_INFO = 6  # a plain event document
# Rule severity → syslog severity (crit, err, warning, notice).
SEVERITY_BY_RULE = {"critical": 2, "high": 3, "medium": 4, "low": 5}

_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)")
_HOSTNAME = re.compile(r"[!-~]{1,255}")  # PRINTUSASCII, no space


def severity_of(doc: Any) -> int:
    """The syslog severity of a document: its rule's severity for an alert, info for anything else."""
    if not isinstance(doc, dict):
        return SEVERITY_INFO
    for path in (("kibana", "alert", "severity"), ("auditproc", "rule", "severity"), ("rule", "severity")):
        value = _get(doc, path)
        if isinstance(value, str) and value.lower() in SEVERITY_BY_RULE:
            return SEVERITY_BY_RULE[value.lower()]
    score = _get(doc, ("event", "severity"))
    if _get(doc, ("event", "kind")) == "alert" and isinstance(score, int | float):
        # An alert without a severity name: event.severity is its rule severity's score. Imported
        # here, not at the top: alerts pulls in the rule loader, which `events` does not need.
        from auditproc.alerts import SEVERITY_SCORES

        bounds = sorted((SEVERITY_SCORES[name], SEVERITY_BY_RULE[name]) for name in SEVERITY_BY_RULE)
        return next((severity for bound, severity in bounds if score <= bound), SEVERITY_BY_RULE["critical"])
    return SEVERITY_INFO


def _get(doc: dict, path: tuple[str, ...]) -> Any:
    value: Any = doc
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


@dataclass(frozen=True, slots=True)
class SyslogFormat:
    """How lines become messages: the facility, and what stands in for a missing hostname."""

    facility: int
    hostname: str
    procid: int

    def message(self, line: bytes) -> bytes:
        """One JSON line (its newline left out) as an RFC 5424 message, with no framing."""
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            doc = None
        timestamp = _get(doc, ("@timestamp",)) if isinstance(doc, dict) else None
        if not (isinstance(timestamp, str) and _TIMESTAMP.fullmatch(timestamp)):
            timestamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        hostname = _get(doc, ("host", "name")) if isinstance(doc, dict) else None
        if not (isinstance(hostname, str) and _HOSTNAME.fullmatch(hostname)):
            hostname = self.hostname if _HOSTNAME.fullmatch(self.hostname) else "-"
        pri = self.facility * 8 + severity_of(doc)
        return b"<%d>1 %s %s %s %d - - %s" % (pri, timestamp.encode(), hostname.encode(), APP_NAME,
                                               self.procid, line)
