"""Exec events to ECS process documents, in the shape of Elastic's auditd_manager integration.

Parity core and additive fields follow ``shared/docs/ecs-mapping.md`` §5.1–5.2. The
document is a plain nested dict; absent facts are absent keys, never guessed values.
"""

from __future__ import annotations

import errno
import functools
import time
from dataclasses import dataclass

from auditproc.assemble import AuditEvent
from auditproc.parse import Record, decode_bytes, is_arg_key, unquote

ECS_VERSION = "8.17.0"
UNSET_ID = b"4294967295"  # (u32)-1: auid/ses never set (daemons, boot)
DEFAULT_MAX_ARGV_BYTES = 1 << 20  # laurel#101: one find -exec produced 3.5 MB of argv
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_OCTAL = frozenset("01234567")

ARCH_NAMES = {
    b"c000003e": "x86_64", b"40000003": "i386", b"c00000b7": "aarch64", b"40000028": "arm",
    b"c00000f3": "riscv64", b"80000015": "ppc64", b"c0000015": "ppc64le", b"00000014": "ppc",
    b"80000016": "s390x",
}
# (arch, syscall number) → name. Never decide from the number alone: 11 is execve on
# i386 but munmap on x86_64.
EXEC_SYSCALLS = {
    (b"c000003e", b"59"): "execve", (b"c000003e", b"322"): "execveat",
    (b"40000003", b"11"): "execve", (b"40000003", b"358"): "execveat",
    (b"c00000b7", b"221"): "execve", (b"c00000b7", b"281"): "execveat",
    (b"c00000f3", b"221"): "execve", (b"c00000f3", b"281"): "execveat",
    (b"40000028", b"11"): "execve", (b"40000028", b"387"): "execveat",
    (b"80000015", b"11"): "execve", (b"80000015", b"362"): "execveat",
    (b"c0000015", b"11"): "execve", (b"c0000015", b"362"): "execveat",
    (b"00000014", b"11"): "execve", (b"00000014", b"362"): "execveat",
    (b"80000016", b"11"): "execve", (b"80000016", b"354"): "execveat",
}
EXEC_NAMES = {b"execve": "execve", b"execveat": "execveat"}  # interpreted logs (ausearch -i)
# exit_group ends a whole process; the process tree forgets the pid so it is never lent to a
# later process that reuses it. (Only present when the audit rules log exit_group.)
EXIT_GROUP_SYSCALLS = frozenset({
    (b"c000003e", b"231"), (b"40000003", b"252"), (b"c00000b7", b"94"), (b"c00000f3", b"94"),
    (b"40000028", b"248"), (b"80000015", b"234"), (b"c0000015", b"234"), (b"00000014", b"234"),
    (b"80000016", b"248"),
})

# SYSCALL fields that become ECS fields rather than auditd.data leftovers.
_MAPPED = frozenset(
    ["arch", "syscall", "success", "items", "ppid", "pid", "auid", "uid", "gid", "euid", "suid", "fsuid", "egid", "sgid", "fsgid", "ses", "comm", "exe", "subj", "key"]
)
_ID_FIELDS = (  # (audit field, ENRICHED name)
    ("uid", "UID"), ("gid", "GID"), ("euid", "EUID"), ("egid", "EGID"), ("suid", "SUID"),
    ("sgid", "SGID"), ("fsuid", "FSUID"), ("fsgid", "FSGID"), ("auid", "AUID"),
)


@dataclass(frozen=True, slots=True)
class EcsSettings:
    """How documents are shaped: host name and the knobs that change rule outcomes."""

    host_name: str | None = None  # used when a record has no node= prefix
    dedup_effective: bool = True  # Auditbeat drops user.effective when it equals user
    max_argv_bytes: int = DEFAULT_MAX_ARGV_BYTES


def syscall_kind(rec: Record) -> str | None:
    """``"execve"``, ``"execveat"`` or ``"exit_group"`` for a SYSCALL record of one, else None."""
    arch, number = rec.arch_and_syscall()
    name = EXEC_NAMES.get(number) or EXEC_SYSCALLS.get((arch, number))
    if name is not None:
        return name
    return "exit_group" if number == b"exit_group" or (arch, number) in EXIT_GROUP_SYSCALLS else None


def is_process_syscall(rec: Record) -> bool:
    """True for the SYSCALL records the pipeline keeps: exec, and exit_group for the process tree."""
    return syscall_kind(rec) is not None


def exit_group_pid(event: AuditEvent) -> int | None:
    """The pid of a process that ended (an exit_group event), else None."""
    for rec in event.records:
        if rec.type == "SYSCALL":
            return _to_int(rec.fields.get("pid")) if syscall_kind(rec) == "exit_group" else None
    return None


def to_ecs(event: AuditEvent, settings: EcsSettings) -> dict | None:
    """The ECS process document of an exec event, or None when the event is not an exec."""
    syscall = cwd = proctitle = None
    paths: list[Record] = []
    execves: list[Record] = []
    for rec in event.records:
        t = rec.type
        if t == "SYSCALL":
            if syscall is None:
                syscall = rec
        elif t == "EXECVE":
            execves.append(rec)
        elif t == "PATH":
            paths.append(rec)
        elif t == "CWD":
            cwd = cwd or rec
        elif t == "PROCTITLE":
            proctitle = proctitle or rec
    warnings: list[str] = []
    if syscall is not None:
        syscall_name = syscall_kind(syscall)
        if syscall_name is None or syscall_name == "exit_group":
            return None
        f, enriched = syscall.fields, syscall.enriched
        outcome = "success" if f.get("success") == b"yes" else "failure"
    elif execves:
        # Only EXECVE records only come from an exec; the SYSCALL was lost or cut off.
        # Keep what is known (argv) rather than drop a detection; invent nothing.
        syscall_name, f, enriched, outcome = "execve", {}, {}, "unknown"
        warnings.append("SYSCALL record missing: process identity unknown")
    else:
        return None
    arch = f.get("arch", b"")
    node = event.node.decode("utf-8", "backslashreplace") if event.node else None
    host_name = node or settings.host_name

    process: dict = {}
    _put_int(process, "pid", f.get("pid"))
    ppid = _to_int(f.get("ppid"))
    if ppid is not None:
        process["parent"] = {"pid": ppid}
    name = syscall.text("comm") if syscall is not None else None
    if name is not None:
        process["name"] = name
    exe = syscall.text("exe") if syscall is not None else None
    if exe is not None:
        process["executable"] = exe
    if execves:
        args, argc, truncated = execve_argv(execves, settings.max_argv_bytes)
        if truncated:
            warnings.append(truncated)
        process["args"] = args
        process["args_count"] = argc if argc is not None else len(args)
        process["command_line"] = " ".join(args)
    if proctitle is not None:
        title = proctitle.value("proctitle")
        if title is not None:
            process["title"] = title.replace(b"\x00", b" ").decode("utf-8", "backslashreplace")
    if cwd is not None:
        wd = cwd.text("cwd")
        if wd is not None:
            process["working_directory"] = wd

    ids = {}
    names = {}
    for field, upper in _ID_FIELDS:
        value = f.get(field)
        if value is not None and value != b"" and value != UNSET_ID:
            ids[field] = value.decode("ascii", "backslashreplace")
            label = enriched.get(upper)
            if label and label != "unset":
                names[field] = label

    user = _identity(ids, names, "uid", "gid")
    effective = _identity(ids, names, "euid", "egid")
    if effective and not (
        settings.dedup_effective
        and (effective.get("id") == user.get("id") or (effective.get("name") and effective.get("name") == user.get("name")))
    ):
        user["effective"] = effective

    doc: dict = {
        "@timestamp": format_timestamp(event.time_ms),
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "event",
            "category": ["process"],
            "type": ["start"],
            "action": "executed",
            "outcome": outcome,
            "module": "auditd",
            "dataset": "auditproc.process",
            "sequence": event.serial,
        },
        "host": _host(host_name, arch),
        "process": process,
    }
    if user:
        doc["user"] = user
    related = list(dict.fromkeys(n for n in (names.get("uid"), names.get("euid"), names.get("auid")) if n))
    if related:
        doc["related"] = {"user": related}

    file_doc, path_docs = _paths(paths)
    if file_doc:
        doc["file"] = file_doc

    auditd = _auditd(f, syscall_name, arch, ids, names, outcome, path_docs, file_doc, exe)
    if "args_count" in process:
        auditd["data"]["argc"] = process["args_count"]
    if node is not None:
        auditd["data"]["node"] = node
    doc["auditd"] = auditd
    tags = _tags(syscall) if syscall is not None else []
    if tags:
        doc["tags"] = tags
    doc["service"] = {"type": "auditd"}
    if event.dropped_records:
        warnings.append(f"{event.dropped_records} records beyond the per-event cap were dropped")
    if warnings:
        doc["error"] = {"message": "; ".join(warnings)}
    return doc


def execve_argv(records: list[Record], max_bytes: int) -> tuple[list[str], int | None, str]:
    """Rebuild argv from every EXECVE record of an event.

    Handles plain ``aN``, long arguments split into ``aN[i]`` chunks (each chunk decoded by
    its own form), arguments spread over several records, holes (empty arguments the
    kernel left out: audit-userspace#57) and ``argc`` disagreeing with what is present.
    Returns (args, argc as reported, truncation note or "").
    """
    argc: int | None = None
    plain: dict[int, bytes] = {}
    chunks: dict[int, dict[int, bytes]] = {}
    for rec in records:
        for key, value in rec.fields.items():
            if key == "argc":
                if argc is None:
                    argc = _to_int(value)
                continue
            if not is_arg_key(key):
                continue
            index, bracket, chunk = key[1:].partition("[")
            if not index.isdigit():
                continue
            if bracket:
                if chunk[:-1].isdigit():
                    chunks.setdefault(int(index), {}).setdefault(int(chunk[:-1]), value)
            else:
                plain.setdefault(int(index), value)
    # Holes between arguments are empty arguments the kernel left out (audit-userspace#57), but
    # nothing is invented past the last one present: a forged argc=4000000000 costs nothing.
    count = max(max(plain, default=-1) + 1, max(chunks, default=-1) + 1)
    args: list[str] = []
    budget = max_bytes
    note = ""
    bad_hex = 0
    for i in range(count):
        pieces = [plain[i]] if i in plain else [chunks[i][k] for k in sorted(chunks[i])] if i in chunks else []
        decoded = []
        for raw in pieces:
            piece = decode_bytes(raw, encoded=True) or b""
            if raw and piece is raw and raw[:1] != b'"':
                bad_hex += 1  # unquoted yet not hex: kept as written (interpreted or damaged input)
            decoded.append(piece)
        data = b"".join(decoded)
        budget -= len(data) + 1
        if budget < 0:
            dropped = count - i
            note = f"process.args truncated: {dropped} of {count} arguments beyond {max_bytes} bytes dropped"
            args.append(f"…[{dropped} more arguments truncated by auditproc]")
            break
        args.append(data.decode("utf-8", "backslashreplace"))
    if bad_hex:
        note = "; ".join(filter(None, (note, f"{bad_hex} argument values were neither quoted nor valid hex")))
    return args, argc, note


def format_timestamp(time_ms: int) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, e.g. ``2024-06-10T06:13:20.123Z``."""
    seconds, millis = divmod(time_ms, 1000)
    return f"{_second_prefix(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=256)  # events arrive many per second
def _second_prefix(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _host(name: str | None, arch: bytes) -> dict:
    host: dict = {}
    if name:
        host["name"] = name
        host["hostname"] = name
    arch_name = ARCH_NAMES.get(arch)
    if arch_name:
        host["architecture"] = arch_name
    host["os"] = {"type": "linux"}
    return host


def _identity(ids: dict[str, str], names: dict[str, str], uid: str, gid: str | None) -> dict:
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


def _paths(paths: list[Record]) -> tuple[dict, list[dict]]:
    docs = []
    for rec in paths:
        doc = {}
        for key, raw in rec.fields.items():
            if key == "_text":
                continue
            value = rec.value(key) if key == "name" else unquote(raw)
            if value is not None:
                doc[key] = value.decode("utf-8", "backslashreplace")
        for upper, key in (("OUID", "ouid_name"), ("OGID", "ogid_name")):
            if rec.enriched.get(upper):
                doc[key] = rec.enriched[upper]
        docs.append(doc)
    docs.sort(key=lambda d: _to_int(d.get("item", "").encode()) or 0)
    file_doc: dict = {}
    for doc in docs:
        if doc.get("nametype", doc.get("objtype")) in ("PARENT", "UNKNOWN") or "name" not in doc:
            continue
        file_doc["path"] = doc["name"]
        for src, dst in (("inode", "inode"), ("dev", "device"), ("ouid", "uid"), ("ogid", "gid"),
                         ("ouid_name", "owner"), ("ogid_name", "group")):
            if src in doc:
                file_doc[dst] = doc[src]
        mode = doc.get("mode", "")
        if mode and _OCTAL.issuperset(mode):  # not isdigit(): "0100789" and "²" crashed int(mode, 8)
            file_doc["mode"] = f"{int(mode, 8) & 0o7777:04o}"
        break
    for doc in docs:
        doc.pop("ouid_name", None)
        doc.pop("ogid_name", None)
    return file_doc, docs


def _auditd(f: dict[str, bytes], syscall_name: str, arch: bytes, ids: dict[str, str], names: dict[str, str],
            outcome: str, path_docs: list[dict], file_doc: dict, exe: str | None) -> dict:
    data: dict = {}
    for key, raw in f.items():
        if key in _MAPPED or key == "_text":
            continue
        data[key] = unquote(raw).decode("utf-8", "backslashreplace")
    if arch:
        data["arch"] = ARCH_NAMES.get(arch, arch.decode("ascii", "backslashreplace"))
    data["syscall"] = syscall_name
    exit_code = _to_int(f.get("exit"))
    if exit_code is not None and exit_code < 0:
        data["exit"] = errno.errorcode.get(-exit_code, str(exit_code))
    auditd: dict = {
        "message_type": "syscall",
        "result": {"success": "success", "failure": "fail"}.get(outcome, "unknown"),
    }
    ses = f.get("ses")
    if ses and ses != UNSET_ID:
        auditd["session"] = ses.decode("ascii", "backslashreplace")
    summary: dict = {}
    if ids:
        summary["actor"] = {"primary": names.get("auid", ids.get("auid", "unset"))}
        if "uid" in ids:
            summary["actor"]["secondary"] = names.get("uid", ids["uid"])
    if file_doc.get("path"):
        summary["object"] = {"type": "file", "primary": file_doc["path"]}
    if exe:
        summary["how"] = exe
    if summary:
        auditd["summary"] = summary
    user: dict = {}
    for label, uid, gid in (("audit", "auid", None), ("saved", "suid", "sgid"), ("filesystem", "fsuid", "fsgid")):
        ident = _identity(ids, names, uid, gid)
        if ident:
            user[label] = ident
    subj = f.get("subj")
    selinux = _selinux(subj.decode("utf-8", "backslashreplace") if subj else None)
    if selinux:
        user["selinux"] = selinux
    if user:
        auditd["user"] = user
    auditd["data"] = data
    if path_docs:
        auditd["paths"] = path_docs
    return auditd


def _selinux(subj: str | None) -> dict:
    if not subj:
        return {}
    parts = subj.split(":", 4)
    return dict(zip(("user", "role", "domain", "level", "category"), parts, strict=False))


def _tags(syscall: Record) -> list[str]:
    key = syscall.value("key")
    if not key:
        return []
    # Several rule keys are joined with byte 0x01 (then the whole value is hex).
    return [k.decode("utf-8", "backslashreplace") for k in key.split(b"\x01") if k]


def _to_int(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if INT64_MIN <= value <= INT64_MAX else None  # orjson and Elasticsearch's long stop at 64 bits


def _put_int(doc: dict, key: str, raw: bytes | None) -> None:
    value = _to_int(raw)
    if value is not None:
        doc[key] = value


def endpoint_profile(doc: dict) -> dict:
    """Reshape a document to Elastic Defend's conventions where they differ (README, "Profiles").

    ``event.action "exec"``; ``user.*`` is the effective identity (Defend/RFC 0030) with the real
    one in ``process.real_user``; ECS Linux identity fields ``process.{user,group,real_user,
    real_group,saved_user,saved_group}``; ``process.interactive`` from the tty.
    """
    doc["event"]["action"] = "exec"
    process = doc.setdefault("process", {})
    user = doc.get("user", {})
    effective = user.pop("effective", None)
    saved = doc.get("auditd", {}).get("user", {}).get("saved")
    real = {k: v for k, v in user.items() if k in ("id", "name")}
    real_group = user.get("group")
    if real:
        process["real_user"] = dict(real)
    if real_group:
        process["real_group"] = dict(real_group)
    if effective:
        user = {k: v for k, v in effective.items()}
        doc["user"] = user
    if user.get("id") is not None:
        process["user"] = {k: v for k, v in user.items() if k in ("id", "name")}
    if user.get("group"):
        process["group"] = dict(user["group"])
    if saved:
        process["saved_user"] = {k: v for k, v in saved.items() if k in ("id", "name")}
        if saved.get("group"):
            process["saved_group"] = dict(saved["group"])
    tty = doc.get("auditd", {}).get("data", {}).get("tty")
    if tty is not None:
        process["interactive"] = tty != "(none)"
    return doc
