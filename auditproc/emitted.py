"""What auditproc's documents can hold, per ECS profile: every field, and the values of closed fields.

The one declaration of the shape the normaliser (``auditproc.normalize``), the enrich stage and
``normalize.endpoint_profile`` produce; ``rules list`` reads it to tell which rules can fire, and a test checks it against
documents built from the fixtures both ways (every field here appears, every field there is here).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from auditproc.normalize.common import ECS_VERSION
from auditproc.normalize.syscalls import ARCH_NAMES

PROFILES = ("auditd", "endpoint")
CATEGORY_FIELD = "event.category"

_IDENTITY = ("id", "name", "group.id", "group.name")
# Leaf fields of every profile; a name ending in ".*" stands for any field below it (the SYSCALL
# and PATH record fields auditproc does not map keep their audit names there).
_FIELDS = frozenset({
    "@timestamp", "ecs.version", "tags", "related.user", "service.type", "error.message",
    *(f"event.{name}" for name in ("kind", "category", "type", "action", "outcome", "module", "dataset", "sequence")),
    "host.id", "host.name", "host.hostname", "host.architecture", "host.os.type",
    *(f"process.{name}" for name in ("pid", "name", "executable", "args", "args_count", "command_line", "title",
                                     "working_directory")),
    # from the process table, when the parent's exec was seen earlier
    *(f"process.parent.{name}" for name in ("pid", "name", "executable", "args", "args_count", "command_line",
                                            "working_directory")),
    *(f"user.{name}" for name in _IDENTITY),
    *(f"file.{name}" for name in ("path", "inode", "device", "uid", "gid", "owner", "group", "mode")),
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
# Fields whose every value is one of these (as keyword text); the rest hold what the log says.
_VALUES: dict[str, frozenset[str]] = {
    "ecs.version": frozenset({ECS_VERSION}),
    "event.kind": frozenset({"event"}),
    CATEGORY_FIELD: frozenset({"process"}),
    "event.type": frozenset({"start"}),
    "event.outcome": frozenset({"success", "failure", "unknown"}),
    "event.module": frozenset({"auditd"}),
    "event.dataset": frozenset({"auditproc.process"}),
    "host.os.type": frozenset({"linux"}),
    "host.architecture": frozenset(ARCH_NAMES.values()),
    "service.type": frozenset({"auditd"}),
    "auditd.message_type": frozenset({"syscall"}),
    "auditd.result": frozenset({"success", "fail", "unknown"}),
    "auditd.summary.object.type": frozenset({"file"}),
    "auditd.data.syscall": frozenset({"execve", "execveat"}),
}
_PROFILE_VALUES = {
    "auditd": {"event.action": frozenset({"executed"})},
    "endpoint": {"event.action": frozenset({"exec"})},
}


@dataclass(frozen=True, slots=True)
class Emitted:
    """The fields documents of one profile can carry, and the values of the closed ones."""

    profile: str
    fields: frozenset[str]
    values: Mapping[str, frozenset[str]]

    def has(self, name: str) -> bool:
        """Return whether some document can carry the field ``name`` (a dotted leaf path)."""
        if name in self.fields:
            return True
        return any(name.startswith(prefix[:-1]) for prefix in self.fields if prefix.endswith(".*"))

    @property
    def categories(self) -> frozenset[str]:
        """Return the event categories documents are in."""
        return self.values[CATEGORY_FIELD]


@functools.cache  # a few profiles, asked once per rule
def emitted(profile: str) -> Emitted:
    """Return what documents of ``profile`` (``auditd`` or ``endpoint``) can hold."""
    return Emitted(profile, _FIELDS | _PROFILE_FIELDS[profile], {**_VALUES, **_PROFILE_VALUES[profile]})
