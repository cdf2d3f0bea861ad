"""What every ECS document has, whatever its kind: time, host, the acting process and user, ``auditd.*``.

The shapes follow Elastic's auditd integrations (``docs/ecs-mapping.md``). Documents are plain
nested dicts; a fact the records do not carry is an absent key, never a guessed value.
"""

from __future__ import annotations

import errno
import functools
import time
from dataclasses import dataclass

from auditproc.assemble import AuditEvent
from auditproc.normalize.syscalls import ARCH_NAMES
from auditproc.parse import Record, unquote

ECS_VERSION = "8.17.0"
UNSET_ID = b"4294967295"  # (u32)-1: auid/ses never set (daemons, boot)
DEFAULT_MAX_ARGV_BYTES = 1 << 20  # laurel#101: one find -exec produced 3.5 MB of argv
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_OCTAL = frozenset("01234567")

# SYSCALL fields that become ECS fields rather than auditd.data leftovers.
_MAPPED = frozenset(
    ["arch", "syscall", "success", "items", "ppid", "pid", "auid", "uid", "gid", "euid", "suid", "fsuid", "egid", "sgid", "fsgid", "ses", "comm", "exe", "subj", "key"]
)
_ID_FIELDS = (  # (audit field, ENRICHED name)
    ("uid", "UID"), ("gid", "GID"), ("euid", "EUID"), ("egid", "EGID"), ("suid", "SUID"),
    ("sgid", "SGID"), ("fsuid", "FSUID"), ("fsgid", "FSGID"), ("auid", "AUID"),
)
_RESULTS = {"success": "success", "failure": "fail"}


@dataclass(frozen=True, slots=True)
class EcsSettings:
    """How documents are shaped: host identity and the knobs that change rule outcomes."""

    host_name: str | None = None  # used when a record has no node= prefix
    host_id: str | None = None  # --host-id: host.id of every document
    machine_id: str | None = None  # this host's /etc/machine-id, when following its own log
    dedup_effective: bool = True  # Auditbeat drops user.effective when it equals user
    max_argv_bytes: int = DEFAULT_MAX_ARGV_BYTES


@dataclass(slots=True)
class Actor:
    """Who acted, as the SYSCALL record says: audit ids by field, their names where resolved."""

    ids: dict[str, str]
    names: dict[str, str]

    @classmethod
    def of(cls, fields: dict[str, bytes], enriched: dict[str, str]) -> Actor:
        """The ids of a SYSCALL record (unset ones left out) and the names auditd resolved."""
        ids = {}
        names = {}
        for field, upper in _ID_FIELDS:
            value = fields.get(field)
            if value is not None and value != b"" and value != UNSET_ID:
                ids[field] = value.decode("ascii", "backslashreplace")
                label = enriched.get(upper)
                if label and label != "unset":
                    names[field] = label
        return cls(ids, names)

    def identity(self, uid: str, gid: str | None) -> dict:
        """ECS ``user``-shaped dict of one identity pair (``{"id", "name", "group": {…}}``)."""
        ids, names = self.ids, self.names
        out: dict = {}
        if uid in ids:
            out["id"] = ids[uid]
            if uid in names:
                out["name"] = names[uid]
        if gid is not None and gid in ids:
            group = {"id": ids[gid]}
            if gid in names:
                group["name"] = names[gid]
            out["group"] = group
        return out

    def user(self, dedup_effective: bool) -> dict:
        """ECS ``user``: the real identity, with ``effective`` where it differs (or always)."""
        user = self.identity("uid", "gid")
        effective = self.identity("euid", "egid")
        if effective and not (
            dedup_effective
            and (effective.get("id") == user.get("id") or (effective.get("name") and effective.get("name") == user.get("name")))
        ):
            user["effective"] = effective
        return user

    def name_summary_actor(self, actor: dict) -> None:
        """Name ``auditd.summary.actor`` where it is this record's audit user (primary) or user
        (secondary) and auditd resolved the id, as Elastic's data names it (go-libaudit resolves ids)."""
        for slot, field in (("primary", "auid"), ("secondary", "uid")):
            if field in self.names and slot in actor and actor[slot] == self.ids.get(field):
                actor[slot] = self.names[field]

    def related(self) -> list[str]:
        """``related.user``: the names of the real, effective and audit users, once each."""
        names = self.names
        return list(dict.fromkeys(n for n in (names.get("uid"), names.get("euid"), names.get("auid")) if n))

    def auditd_user(self, subj: bytes | None) -> dict:
        """``auditd.user``: the audit, saved and filesystem identities and the SELinux context."""
        user: dict = {}
        for label, uid, gid in (("audit", "auid", None), ("saved", "suid", "sgid"), ("filesystem", "fsuid", "fsgid")):
            ident = self.identity(uid, gid)
            if ident:
                user[label] = ident
        context = selinux(subj.decode("utf-8", "backslashreplace") if subj else None)
        if context:
            user["selinux"] = context
        return user


def format_timestamp(time_ms: int) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, e.g. ``2024-06-10T06:13:20.123Z``."""
    seconds, millis = divmod(time_ms, 1000)
    return f"{_second_prefix(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=256)  # events arrive many per second
def _second_prefix(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def node_name(event: AuditEvent) -> str | None:
    """The ``node=`` name the event's records carry, as text."""
    return event.node.decode("utf-8", "backslashreplace") if event.node else None


def host(node: str | None, settings: EcsSettings, arch: bytes = b"") -> dict:
    """ECS ``host``: the node's name (else the configured one) and an id rules can join on.

    ``host.id``: ``--host-id``, else the ``node=`` name, else this machine's id (following its
    own log), else the host name (README, "host.id"). Elastic's sequence rules join ``by host.id``
    and a missing key joins nothing.
    """
    name = node or settings.host_name
    out: dict = {}
    host_id = settings.host_id or node or settings.machine_id or name
    if host_id:
        out["id"] = host_id
    if name:
        out["name"] = name
        out["hostname"] = name
    arch_name = ARCH_NAMES.get(arch)
    if arch_name:
        out["architecture"] = arch_name
    out["os"] = {"type": "linux"}
    return out


def event_header(event: AuditEvent, category: list[str], types: list[str], action: str | None, outcome: str,
                 dataset: str) -> dict:
    """The fields every document starts with: time, ECS version and ``event.*`` (no action: absent)."""
    fields: dict = {"kind": "event"}
    if category:
        fields["category"] = category
    if types:
        fields["type"] = types
    if action:
        fields["action"] = action
    fields.update(outcome=outcome, module="auditd", dataset=dataset, sequence=event.serial)
    return {"@timestamp": format_timestamp(event.time_ms), "ecs": {"version": ECS_VERSION}, "event": fields}


def outcome_of(fields: dict[str, bytes]) -> str:
    """``event.outcome`` of a SYSCALL record: its ``success`` field."""
    return "success" if fields.get("success") == b"yes" else "failure"


def acting_process(rec: Record | None) -> dict:
    """ECS ``process`` of the record's process: pid, parent pid, name (comm), executable (exe)."""
    process: dict = {}
    if rec is None:
        return process
    f = rec.fields
    put_int(process, "pid", f.get("pid"))
    ppid = to_int(f.get("ppid"))
    if ppid is not None:
        process["parent"] = {"pid": ppid}
    for key, ecs_name in (("comm", "name"), ("exe", "executable")):
        value = rec.text(key)
        if value is not None:
            process[ecs_name] = value
    return process


def put_title_and_directory(process: dict, proctitle: Record | None, cwd: Record | None) -> None:
    """``process.title`` from PROCTITLE (NULs as spaces) and ``process.working_directory`` from CWD."""
    if proctitle is not None:
        title = proctitle.value("proctitle")
        if title is not None:
            process["title"] = title.replace(b"\x00", b" ").decode("utf-8", "backslashreplace")
    if cwd is not None:
        wd = cwd.text("cwd")
        if wd is not None:
            process["working_directory"] = wd


def decode_paths(paths: list[Record]) -> tuple[dict, list[dict]]:
    """(ECS ``file`` of the event's object path, ``auditd.paths``: every PATH record, in the order given,
    which is item order: ``paths`` sorted by ``item_number``).

    The object is the first item that names something other than a parent directory (nametype
    NORMAL, CREATE or DELETE; ``docs/auditd-format.md`` §7).
    """
    items = [(_path_item(rec), rec.enriched) for rec in paths]
    file_doc: dict = {}
    for doc, enriched in items:
        if doc.get("nametype", doc.get("objtype")) in ("PARENT", "UNKNOWN") or "name" not in doc:
            continue
        file_doc["path"] = doc["name"]
        for src, dst in (("inode", "inode"), ("dev", "device"), ("ouid", "uid"), ("ogid", "gid")):
            if src in doc:
                file_doc[dst] = doc[src]
        for upper, dst in (("OUID", "owner"), ("OGID", "group")):
            if enriched.get(upper):
                file_doc[dst] = enriched[upper]
        mode = doc.get("mode", "")
        if mode and _OCTAL.issuperset(mode):  # not isdigit(): "0100789" and "²" crashed int(mode, 8)
            file_doc["mode"] = f"{int(mode, 8) & 0o7777:04o}"
        break
    return file_doc, [doc for doc, _ in items]


def _path_item(rec: Record) -> dict:
    """One ``auditd.paths`` item: the PATH record's fields as text, ``name`` decoded (hex or quoted)."""
    doc = {}
    for key, raw in rec.fields.items():
        if key == "name":
            value = rec.value(key)
            if value is None:  # (null)
                continue
        elif key == "_text":
            continue
        else:
            # unquote inlined: a dense log's PATH records have 600k fields, almost none quoted.
            value = unquote(raw) if raw[:1] == b'"' else raw
        doc[key] = value.decode("utf-8", "backslashreplace")
    return doc


def item_number(rec: Record) -> int:
    """A PATH record's ``item=`` as a number (0 when missing or unreadable): the key of item order."""
    raw = rec.fields.get("item")
    return (to_int(unquote(raw)) or 0) if raw is not None else 0


def syscall_data(fields: dict[str, bytes], syscall_name: str, arch: bytes) -> dict:
    """``auditd.data``: the SYSCALL fields ECS has no place for, the syscall by name, exit as errno."""
    data: dict = {}
    for key, raw in fields.items():
        if key in _MAPPED or key == "_text":
            continue
        data[key] = (unquote(raw) if raw[:1] == b'"' else raw).decode("utf-8", "backslashreplace")
    if arch:
        data["arch"] = ARCH_NAMES.get(arch, arch.decode("ascii", "backslashreplace"))
    data["syscall"] = syscall_name
    exit_code = to_int(fields.get("exit"))
    if exit_code is not None and exit_code < 0:
        data["exit"] = errno.errorcode.get(-exit_code, str(exit_code))
    return data


def auditd_block(message_type: str, outcome: str, session: bytes | None, summary: dict, user: dict,
                 data: dict) -> dict:
    """``auditd.*`` in the integration's order: message type, result, session, summary, user, data."""
    auditd: dict = {"message_type": message_type, "result": _RESULTS.get(outcome, "unknown")}
    if session and session != UNSET_ID:
        auditd["session"] = session.decode("ascii", "backslashreplace")
    if summary:
        auditd["summary"] = summary
    if user:
        auditd["user"] = user
    auditd["data"] = data
    return auditd


def selinux(subj: str | None) -> dict:
    """``auditd.user.selinux`` from a ``subj=user:role:type:level[:category]`` context."""
    if not subj:
        return {}
    parts = subj.split(":", 4)
    return dict(zip(("user", "role", "domain", "level", "category"), parts, strict=False))


def tags(rec: Record) -> list[str]:
    """The audit rule keys (``key=``) of a record, as ECS ``tags``."""
    key = rec.value("key")
    if not key:
        return []
    # Several rule keys are joined with byte 0x01 (then the whole value is hex).
    return [k.decode("utf-8", "backslashreplace") for k in key.split(b"\x01") if k]


def finish(doc: dict, event: AuditEvent, warnings: list[str]) -> dict:
    """The closing fields of every document: ``service``, and what went wrong in ``error.message``."""
    doc["service"] = {"type": "auditd"}
    if event.dropped_records:
        warnings.append(f"{event.dropped_records} records beyond the per-event cap were dropped")
    if warnings:
        doc["error"] = {"message": "; ".join(warnings)}
    return doc


def to_int(raw: bytes | None) -> int | None:
    """A decimal field as an int; None when absent, not a number, or beyond 64 bits."""
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if INT64_MIN <= value <= INT64_MAX else None  # orjson and Elasticsearch's long stop at 64 bits


def put_int(doc: dict, key: str, raw: bytes | None) -> None:
    """``doc[key] = to_int(raw)`` unless that is None."""
    value = to_int(raw)
    if value is not None:
        doc[key] = value
