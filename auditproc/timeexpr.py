"""Time bounds for --since/--until: ISO-8601 or Elastic date math (``now-9m``, ``now-1d/d``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

_MATH = re.compile(r"^now((?:[+-]\d+[yMwdhHms])*)(?:/([yMwdhHms]))?$")
_STEP = re.compile(r"([+-])(\d+)([yMwdhHms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "H": 3600, "m": 60, "s": 1}


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An aware UTC datetime for an ISO-8601 timestamp or a date-math expression; ValueError if neither."""
    now = now or datetime.now(UTC)
    text = text.strip()
    m = _MATH.match(text)
    if m:
        t = now
        for sign, amount, unit in _STEP.findall(m.group(1)):
            n = int(amount) * (1 if sign == "+" else -1)
            t = _add_months(t, n * (12 if unit == "y" else 1)) if unit in "yM" else t + timedelta(seconds=n * _UNIT_SECONDS[unit])
        return _round_down(t, m.group(2)) if m.group(2) else t
    t = parse_iso(text)
    if t is None:
        raise ValueError(f"{text!r} is neither an ISO-8601 time nor date math like now-9m or now-1d/d")
    return t.astimezone(UTC)


def parse_iso(text: Any) -> datetime | None:
    """Return an ISO-8601 time as an aware datetime (UTC when it names no zone), or None."""
    if not isinstance(text, str):
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def iso_ms(t: datetime) -> str:
    """The ``@timestamp`` form we emit (``2024-06-10T06:13:20.450Z``: UTC, ms, ``Z``); bounds compare as strings."""
    t = t.astimezone(UTC)
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z"


def _add_months(t: datetime, months: int) -> datetime:
    y, m = divmod(t.month - 1 + months, 12)
    year, month = t.year + y, m + 1
    for day in (t.day, 30, 29, 28):
        try:
            return t.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError("date out of range")


def _round_down(t: datetime, unit: str) -> datetime:
    t = t.replace(microsecond=0)
    if unit == "s":
        return t
    t = t.replace(second=0)
    if unit == "m":
        return t
    t = t.replace(minute=0)
    if unit in "hH":
        return t
    t = t.replace(hour=0)
    if unit == "d":
        return t
    if unit == "w":
        return t - timedelta(days=t.weekday())
    t = t.replace(day=1)
    return t if unit == "M" else t.replace(month=1)
