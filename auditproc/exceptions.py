"""Kibana exception lists: load their NDJSON export and tell whether an item suppresses a rule's match.

Export format (``POST /api/exception_lists/_export``): one line per exception list (``list_id``, ``type``,
``namespace_type``, ``name``, …), then its items (``list_id``, ``item_id``, ``entries``, ``os_types``,
``expire_time``, …); a last ``{"exported_exception_list_count": …}`` summary line is ignored.

Matching, as Kibana's query builder does it (kibana ``build_exception_filter``):

* an item matches when ALL its entries match, and, when ``os_types`` is not empty, ``host.os.type`` is one
  of them; an expired item (``expire_time`` at or before the event's ``@timestamp``) never matches;
* ``match``: some value of the field equals the value exactly (keyword, case-sensitive; numbers and
  booleans compare as their keyword text); ``match_any``: equals one of the values; ``exists``: the
  field has a non-null value; ``wildcard``: ``*``/``?`` pattern, **case-sensitive** — Kibana sends it as
  a plain Elasticsearch ``wildcard`` query without ``case_insensitive``, which is case-sensitive on
  keyword fields; ``nested``: one element of an array of objects satisfies every sub-entry;
  ``"operator": "excluded"`` negates an entry.
* value lists (``"type": "list"``) cannot be evaluated offline and are reported as an error.

Scoping: a list applies to the rules whose TOML names its ``list_id`` in ``exceptions_list``; a list that
no loaded rule names is a **global list** and applies to every rule (Elastic's prebuilt rules carry no
``exceptions_list``, so this is how ``--exceptions`` is normally used). ``namespace_type`` and the list
``type`` only matter inside Kibana (space visibility, endpoint artifacts) and do not change the scope.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from auditproc.alerts import event_time
from auditproc.eql.values import lookup
from auditproc.eql.values import text as keyword_text
from auditproc.rulefiles import Rule
from auditproc.timeexpr import parse_iso

ENTRY_TYPES = ("match", "match_any", "wildcard", "exists", "nested")
NESTED_ENTRY_TYPES = ("match", "match_any", "wildcard", "exists")
OPERATORS = ("included", "excluded")
NAMESPACE_TYPES = ("single", "agnostic")
EXPORT_SUMMARY_PREFIX = "exported_"


@dataclass(frozen=True, slots=True)
class ExceptionProblem:
    """A malformed line of an exception export."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ExceptionListError(ValueError):
    """Raised by :func:`load_exceptions` with every problem found, one ``path:line: message`` per line."""

    def __init__(self, problems: list[ExceptionProblem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Entry:
    """One condition of an exception item; ``entries`` holds the sub-conditions of a ``nested`` entry."""

    field: str
    type: str
    operator: str = "included"
    values: tuple[str, ...] = ()
    entries: tuple[Entry, ...] = ()
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, doc: Mapping[str, Any]) -> bool:
        """Return True when ``doc`` satisfies the entry (its operator applied)."""
        found = self._holds(doc)
        return not found if self.operator == "excluded" else found

    def _holds(self, doc: Mapping[str, Any]) -> bool:
        path = tuple(self.field.split("."))
        if self.type == "nested":
            return any(
                isinstance(obj, dict) and all(entry.matches(obj) for entry in self.entries)
                for obj in lookup(doc, path)
            )
        if self.type == "exists":
            return bool(lookup(doc, path))
        texts = (keyword_text(value) for value in lookup(doc, path))
        if self.pattern is not None:
            return any(text is not None and self.pattern.fullmatch(text) is not None for text in texts)
        return any(text in self.values for text in texts if text is not None)


@dataclass(frozen=True, slots=True)
class ExceptionItem:
    """An exception item: suppresses a match when all its entries hold; ``source`` is ``path:line``."""

    list_id: str
    item_id: str
    name: str
    entries: tuple[Entry, ...]
    source: str
    os_types: tuple[str, ...] = ()
    expire_time: datetime | None = None

    def matches(self, doc: Mapping[str, Any]) -> bool:
        """Return True when the item is in force at the event's time and every entry holds for ``doc``."""
        if self.expire_time is not None:
            moment = event_time(doc)
            if moment is not None and moment >= self.expire_time:
                return False
        if self.os_types and not any(os in self.os_types for os in map(keyword_text, lookup(doc, _OS_TYPE))):
            return False
        return all(entry.matches(doc) for entry in self.entries)


@dataclass(frozen=True, slots=True)
class ExceptionList:
    """An exception list and its items."""

    list_id: str
    name: str
    type: str
    namespace_type: str
    items: tuple[ExceptionItem, ...] = ()


class ExceptionSet:
    """Loaded exception lists scoped to rules; counts the matches each rule had suppressed."""

    def __init__(
        self, lists: Iterable[ExceptionList], references: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        self.lists: dict[str, ExceptionList] = {lst.list_id: lst for lst in lists}
        self.suppressed_by_rule: Counter[str] = Counter()
        refs = {
            rule_id: tuple(i for i in ids if i in self.lists) for rule_id, ids in (references or {}).items()
        }
        referenced = {list_id for ids in refs.values() for list_id in ids}
        self._global = tuple(lst for lst in self.lists.values() if lst.list_id not in referenced)
        self._by_rule = {rule_id: tuple(self.lists[i] for i in ids) for rule_id, ids in refs.items()}

    def lists_for(self, rule: Rule) -> tuple[ExceptionList, ...]:
        """Return the lists that apply to ``rule``: the global lists, then the ones its TOML names."""
        return self._global + self._by_rule.get(rule.rule_id, ())

    def matching_item(self, rule: Rule, doc: Mapping[str, Any]) -> ExceptionItem | None:
        """Return the first item that suppresses ``rule``'s match of ``doc``, or None."""
        for lst in self.lists_for(rule):
            for item in lst.items:
                if item.matches(doc):
                    return item
        return None

    def suppresses(self, rule: Rule, doc: Mapping[str, Any]) -> bool:
        """Return True (and count it for the rule) when an exception drops ``rule``'s match of ``doc``."""
        if self.matching_item(rule, doc) is None:
            return False
        self.suppressed_by_rule[rule.rule_id] += 1
        return True


# --- loading --------------------------------------------------------------------------------------


def load_exceptions(paths: str | Path | Iterable[str | Path], rules: Iterable[Rule] = ()) -> ExceptionSet:
    """Load Kibana exception exports, scoped by the ``exceptions_list`` of ``rules``; raise ExceptionListError."""
    if isinstance(paths, str | Path):
        paths = [paths]
    problems: list[ExceptionProblem] = []
    headers: dict[str, tuple[dict, Path, int]] = {}
    items: dict[str, list[tuple[ExceptionItem, Path, int]]] = {}
    for path in map(Path, paths):
        for number, obj in _json_lines(path, problems):
            if _is_export_summary(obj):
                continue
            try:
                if "entries" in obj or "item_id" in obj:
                    item = _item(obj, f"{path}:{number}")
                    items.setdefault(item.list_id, []).append((item, path, number))
                else:
                    list_id = _text(obj, "list_id")
                    if list_id in headers:
                        _, first_path, first_line = headers[list_id]
                        raise ValueError(f"list_id {list_id!r} already defined at {first_path}:{first_line}")
                    headers[list_id] = (obj, path, number)
            except ValueError as exc:
                problems.append(ExceptionProblem(path, number, str(exc)))
    lists = []
    for list_id, (obj, path, number) in headers.items():
        try:
            lists.append(_list(obj, tuple(item for item, _, _ in items.pop(list_id, ()))))
        except ValueError as exc:
            problems.append(ExceptionProblem(path, number, str(exc)))
    for list_id, orphans in items.items():
        problems.extend(
            ExceptionProblem(path, number, f"item for unknown list_id {list_id!r}")
            for _, path, number in orphans
        )
    if problems:
        raise ExceptionListError(sorted(problems, key=lambda p: (str(p.path), p.line)))
    return ExceptionSet(lists, {rule.rule_id: exception_list_ids(rule) for rule in rules})


def exception_list_ids(rule: Rule) -> tuple[str, ...]:
    """Return the ``list_id``s named by ``exceptions_list`` in the rule's TOML file (empty when none or unreadable)."""
    # rulefiles.Rule does not keep exceptions_list, so read it from the rule's own file.
    try:
        data = tomllib.loads(rule.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ()
    refs = data.get("rule", {}).get("exceptions_list", ())
    if not isinstance(refs, list):
        return ()
    return tuple(
        ref["list_id"] for ref in refs if isinstance(ref, dict) and isinstance(ref.get("list_id"), str)
    )


def _json_lines(path: Path, problems: list[ExceptionProblem]) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; record unreadable files and non-object lines."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        problems.append(ExceptionProblem(path, 0, f"cannot read: {exc.strerror or exc}"))
        return
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problems.append(ExceptionProblem(path, number, f"not valid JSON: {exc}"))
            continue
        if not isinstance(obj, dict):
            problems.append(ExceptionProblem(path, number, "expected a JSON object"))
            continue
        yield number, obj


def _is_export_summary(obj: Mapping[str, Any]) -> bool:
    return "list_id" not in obj and any(key.startswith(EXPORT_SUMMARY_PREFIX) for key in obj)


def _list(obj: Mapping[str, Any], items: tuple[ExceptionItem, ...]) -> ExceptionList:
    namespace_type = obj.get("namespace_type", "single")
    if namespace_type not in NAMESPACE_TYPES:
        raise ValueError(
            f"'namespace_type' must be one of {', '.join(NAMESPACE_TYPES)}, got {namespace_type!r}"
        )
    return ExceptionList(
        list_id=_text(obj, "list_id"),
        name=_text(obj, "name", obj.get("list_id")),
        type=_text(obj, "type"),
        namespace_type=namespace_type,
        items=items,
    )


def _item(obj: Mapping[str, Any], where: str) -> ExceptionItem:
    entries = obj.get("entries")
    if not isinstance(entries, list) or not entries:
        raise ValueError("'entries' must be a non-empty list")
    os_types = obj.get("os_types") or []
    if not isinstance(os_types, list) or not all(isinstance(os, str) for os in os_types):
        raise ValueError(f"'os_types' must be a list of strings, got {os_types!r}")
    expire = obj.get("expire_time")
    return ExceptionItem(
        list_id=_text(obj, "list_id"),
        item_id=_text(obj, "item_id"),
        name=_text(obj, "name", obj.get("item_id")),
        entries=tuple(_entry(e, f"entries[{i}]", nested_ok=True) for i, e in enumerate(entries)),
        source=where,
        os_types=tuple(os_types),
        expire_time=None if expire is None else _timestamp(expire, "expire_time"),
    )


def _entry(obj: Any, where: str, *, nested_ok: bool) -> Entry:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected an object")
    kind = obj.get("type")
    if kind == "list":
        raise ValueError(f"{where}: value lists (type 'list') are not supported; use a match_any entry")
    allowed = ENTRY_TYPES if nested_ok else NESTED_ENTRY_TYPES
    if kind not in allowed:
        raise ValueError(f"{where}: 'type' must be one of {', '.join(allowed)}, got {kind!r}")
    name = _text(obj, "field", where=where)
    if kind == "nested":
        subs = obj.get("entries")
        if not isinstance(subs, list) or not subs:
            raise ValueError(f"{where}: a nested entry needs a non-empty 'entries' list")
        return Entry(
            name,
            kind,
            entries=tuple(_entry(e, f"{where}.entries[{i}]", nested_ok=False) for i, e in enumerate(subs)),
        )
    operator = obj.get("operator")
    if operator not in OPERATORS:
        raise ValueError(f"{where}: 'operator' must be included or excluded, got {operator!r}")
    value = obj.get("value")
    if kind == "exists":
        return Entry(name, kind, operator)
    if kind == "match_any":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{where}: a match_any entry needs a non-empty list of strings as 'value'")
        return Entry(name, kind, operator, tuple(value))
    if not isinstance(value, str):
        raise ValueError(f"{where}: a {kind} entry needs a string 'value', got {value!r}")
    if kind == "wildcard":
        return Entry(name, kind, operator, (value,), pattern=wildcard_pattern(value))
    return Entry(name, kind, operator, (value,))


def wildcard_pattern(text: str) -> re.Pattern[str]:
    """Compile an Elasticsearch wildcard (``*`` any run, ``?`` one character, ``\\`` escapes) case-sensitively.

    Each segment between stars is taken at its earliest occurrence, in an atomic group, as in
    ``eql.patterns.wildcard_to_regex``: ``.*`` per star backtracked in O(len^stars) on a long value.
    """
    segments: list[list[str]] = [[]]
    chars = iter(text)
    for char in chars:
        if char == "*":
            segments.append([])
        elif char == "?":
            segments[-1].append(".")
        elif char == "\\":
            segments[-1].append(re.escape(next(chars, "\\")))
        else:
            segments[-1].append(re.escape(char))
    source, *rest = ("".join(segment) for segment in segments)
    if rest:
        *middle, last = rest
        source += "".join(f"(?>.*?{m})" for m in middle if m) + ".*" + last
    return re.compile(source, re.DOTALL)


def _text(obj: Mapping[str, Any], key: str, default: Any = None, *, where: str = "") -> str:
    value = obj.get(key, default)
    if not isinstance(value, str) or not value:
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}'{key}' must be a non-empty string, got {value!r}")
    return value


def _timestamp(value: Any, key: str) -> datetime:
    moment = parse_iso(value)
    if moment is None:
        raise ValueError(f"'{key}' must be an ISO-8601 time, got {value!r}")
    return moment


# --- field access ---------------------------------------------------------------------------------

_OS_TYPE = ("host", "os", "type")
