"""What auditproc's documents can hold, per ECS profile: every field, and the values of closed fields.

The one declaration of the shape the normaliser (``auditproc.normalize``), the enrich stage and
``normalize.endpoint_profile`` produce: what every document holds, and one entry per event category produced. ``rules list``
and ``rules check`` receive it as a value (``vocabulary()``) to tell which rules can fire, and a
test checks it against documents built from the fixtures both ways (every field here appears,
every field there is here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from auditproc.normalize import ENDPOINT_ACTIONS, TRAIL_KIND_NAMES, trail_rows
from auditproc.normalize.common import ECS_VERSION
from auditproc.normalize.syscalls import ARCH_NAMES
from auditproc.normalize.vocabulary import Normalization

PROFILES = ("auditd", "endpoint")
CATEGORY_FIELD = "event.category"

_IDENTITY = ("id", "name", "group.id", "group.name")
# Leaf fields every document has, whatever its category; a name ending in ".*" stands for any
# field below it (the SYSCALL and PATH record fields auditproc does not map keep their audit names there).
_COMMON_FIELDS = frozenset({
    "@timestamp", "ecs.version", "tags", "related.user", "service.type", "error.message",
    *(f"event.{name}" for name in ("kind", "category", "type", "action", "outcome", "module", "dataset", "sequence")),
    "host.id", "host.name", "host.hostname", "host.architecture", "host.os.type",
    *(f"process.{name}" for name in ("pid", "name", "executable")),
    *(f"user.{name}" for name in _IDENTITY),
    "auditd.message_type", "auditd.result", "auditd.session",
    "auditd.summary.actor.primary", "auditd.summary.actor.secondary", "auditd.summary.how",
    "auditd.summary.object.primary", "auditd.summary.object.type",
    "auditd.user.audit.id", "auditd.user.audit.name",
    *(f"auditd.user.{label}.{name}" for label in ("saved", "filesystem") for name in _IDENTITY),
    *(f"auditd.user.selinux.{name}" for name in ("user", "role", "domain", "level", "category")),
    "auditd.data.*", "auditd.paths.*",
})
_PROFILE_FIELDS = {
    "auditd": frozenset(f"user.effective.{name}" for name in _IDENTITY),
    "endpoint": frozenset({
        *(f"process.{who}.{name}" for who in ("user", "real_user", "saved_user") for name in ("id", "name")),
        *(f"process.{group}.{name}" for group in ("group", "real_group", "saved_group") for name in ("id", "name")),
        "process.interactive",
    }),
}
# Fields whose every value is one of these (as keyword text), whatever the category.
_COMMON_VALUES: dict[str, frozenset[str]] = {
    "ecs.version": frozenset({ECS_VERSION}),
    "event.kind": frozenset({"event"}),
    "event.outcome": frozenset({"success", "failure", "unknown"}),
    "event.module": frozenset({"auditd"}),
    "host.os.type": frozenset({"linux"}),
    "host.architecture": frozenset(ARCH_NAMES.values()),
    "service.type": frozenset({"auditd"}),
    "auditd.result": frozenset({"success", "fail", "unknown"}),
}


@dataclass(frozen=True, slots=True)
class Category:
    """What documents of one event category hold beyond what every document does.

    ``values`` closes fields for this category (per profile in ``profile_values`` where the
    profiles differ); a field a category carries without closing it holds anything.
    """

    fields: frozenset[str]
    values: Mapping[str, frozenset[str]]
    profile_values: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)

    def closed(self, profile: str) -> dict[str, frozenset[str]]:
        """Return the fields this category closes under ``profile``, with their values."""
        return {**self.values, **self.profile_values.get(profile, {})}


# What exec documents (the process kind) hold.
EXEC_CATEGORIES: Mapping[str, Category] = {
    "process": Category(
        fields=frozenset({
            *(f"process.{name}" for name in ("args", "args_count", "command_line", "title", "working_directory")),
            # from the process table, when the parent's exec was seen earlier
            *(f"process.parent.{name}" for name in ("pid", "name", "executable", "args", "args_count", "command_line",
                                                    "working_directory")),
            *(f"file.{name}" for name in ("path", "inode", "device", "uid", "gid", "owner", "group", "mode")),
        }),
        values={
            "event.type": frozenset({"start"}),
            "event.dataset": frozenset({"auditproc.process"}),
            "auditd.message_type": frozenset({"syscall"}),
            "auditd.summary.object.type": frozenset({"file"}),
            "auditd.data.syscall": frozenset({"execve", "execveat"}),
        },
        profile_values={
            "auditd": {"event.action": frozenset({"executed"})},
            "endpoint": {"event.action": frozenset({"exec"})},
        },
    ),
}


# What a document of any other kind (file, network, login …: normalize/trail.py) can carry.
_TRAIL_FIELDS = frozenset({
    "process.title", "process.working_directory", "process.parent.*",
    *(f"file.{name}" for name in ("path", "name", "extension", "inode", "device", "uid", "gid", "owner", "group",
                                  "mode")),
    *(f"{end}.{name}" for end in ("source", "destination") for name in ("ip", "port", "address")),
    "network.direction", "user.effective.*", "user.target.*", "group.*",
    "auditd.summary.object.secondary",
})


def kind_categories(kind: str, row: Normalization | None = None) -> dict[str, Category]:
    """What documents of one trail kind (``row``: of one of its rows) hold, per category: closed
    actions, types and dataset."""
    out: dict[str, Category] = {}
    for category, actions, types in trail_rows(kind, row):
        out[category] = Category(
            _TRAIL_FIELDS,
            {"event.type": frozenset(types), "event.dataset": frozenset({f"auditproc.{kind}"})},
            {  # the endpoint profile says Defend's word for a connection (normalize.trail)
                "auditd": {"event.action": frozenset(actions)},
                "endpoint": {"event.action": frozenset(ENDPOINT_ACTIONS.get(a, a) for a in actions)},
            },
        )
    return out


def merged(*parts: Mapping[str, Category]) -> dict[str, Category]:
    """Categories of several kinds together: a field stays closed where every kind closes it."""
    out: dict[str, Category] = {}
    for part in parts:
        for name, category in part.items():
            seen = out.get(name)
            if seen is None:
                out[name] = category
                continue
            values = {k: seen.values[k] | category.values[k] for k in seen.values.keys() & category.values.keys()}
            profile_values = {}
            for profile in PROFILES:  # a field closed per profile in either: closed where both close it
                mine, theirs = seen.closed(profile), category.closed(profile)
                profile_values[profile] = {k: mine[k] | theirs[k] for k in mine.keys() & theirs.keys() - values.keys()}
            out[name] = Category(seen.fields | category.fields, values, profile_values)
    return out


# The categories auditproc produces: exec documents, then every trail kind's, from the normaliser's rows.
CATEGORIES: Mapping[str, Category] = merged(EXEC_CATEGORIES, *(kind_categories(kind) for kind in TRAIL_KIND_NAMES))


@dataclass(frozen=True, slots=True)
class Emitted:
    """The fields documents of one profile can carry, and the values of the closed ones."""

    profile: str
    fields: frozenset[str]
    values: Mapping[str, frozenset[str]]

    def has(self, name: str) -> bool:
        """Return whether some document can carry the field ``name`` (a dotted leaf path)."""
        return _carried(name, self.fields)

    @property
    def categories(self) -> frozenset[str]:
        """Return the event categories documents are in."""
        return self.values[CATEGORY_FIELD]


Vocabulary = Mapping[str, Emitted]  # profile → what its documents can hold


def vocabulary(categories: Mapping[str, Category] = CATEGORIES) -> Vocabulary:
    """Return what documents of each profile can hold when auditproc produces ``categories``."""
    return {profile: _emitted(profile, categories) for profile in PROFILES}


def _emitted(profile: str, categories: Mapping[str, Category]) -> Emitted:
    fields = _COMMON_FIELDS | _PROFILE_FIELDS[profile] | frozenset().union(*(c.fields for c in categories.values()))
    closes = [
        (category.closed(profile), _COMMON_FIELDS | category.fields)
        for category in categories.values()
    ]
    # A field is closed where every category carrying it closes it: its values are theirs together.
    closed: dict[str, frozenset[str]] = {}
    for name in {name for values, _ in closes for name in values}:
        found = [values.get(name, frozenset() if not _carried(name, carried) else None) for values, carried in closes]
        if None not in found:
            closed[name] = frozenset().union(*found)
    return Emitted(profile, fields, {**_COMMON_VALUES, **closed, CATEGORY_FIELD: frozenset(c for c in categories if c)})  # "": uncategorised documents


def _carried(name: str, fields: frozenset[str]) -> bool:
    if name in fields:
        return True
    return any(name.startswith(prefix[:-1]) for prefix in fields if prefix.endswith(".*"))
