"""One event through Elastic's vocabulary: ``auditd.summary``, ``event.action/category/type`` and the ECS entities.

The rules are those of Elastic's auditd normaliser (go-libaudit's aucoalesce, which Auditbeat and the
auditd_manager integration run), read from its table's comments and checked against the documents
Elastic's integrations publish (tests/test_vocabulary.py cites each one):

- the event's row is its syscall's for a SYSCALL event, else its first record type's; a non-SYSCALL
  event that carries a syscall also gets that syscall's categories and types (AVC + ``unlink``);
- the actor defaults to ``auid`` / ``uid`` and the how to ``exe`` (``comm`` for a script run by an
  interpreter); a row's field lists override them, the first field present winning;
- a file object is the PATH item the row names, skipping PARENT/UNKNOWN items; a socket object is the
  SOCKADDR address (or path) and port;
- a value that is empty, ``?`` or ``(null)`` counts as absent; an ``auid``, ``old-auid`` or ``ses`` of
  4294967295 or -1 reads ``unset``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from auditproc.normalize.vocabulary import Normalization, for_record_type, for_syscall
from auditproc.parse import ENCODED_FIELDS, decode_bytes

UNSET_ID_KEYS = frozenset(["auid", "old-auid", "ses"])
UNSET_VALUES = frozenset(["4294967295", "-1"])
ABSENT_VALUES = frozenset([b"", b"?", b"?,", b"(null)"])
INTERPRETER_PREFIXES = ("/usr/bin/python", "/usr/bin/sh", "/usr/bin/bash", "/usr/bin/perl")
NOT_OBJECT_NAMETYPES = frozenset([b"PARENT", b"UNKNOWN"])
INCOMING_SYSCALLS = frozenset(["recvfrom", "recvmsg", "accept", "accept4"])
# Records whose fields are not the event's data: their content has fields of its own in the document.
NOT_DATA_TYPES = frozenset(["PATH", "EXECVE", "SOCKADDR", "EOE"])


def field_text(key: str, raw: bytes) -> str | None:
    """A raw field value as Elastic's normaliser reads it: decoded, None when it carries nothing."""
    value = decode_bytes(raw, key in ENCODED_FIELDS)
    if value is None or value in ABSENT_VALUES:
        return None
    text = value.decode("utf-8", "backslashreplace")
    if key in UNSET_ID_KEYS and text in UNSET_VALUES:
        return "unset"
    return text


def avc_verdict(fields: Mapping[str, bytes]) -> dict[str, bytes]:
    """``seresult`` / ``seperms`` of an SELinux AVC (``avc:  denied  { read write } for …``), else nothing."""
    text = fields.get("_text", b"")
    if not text.startswith(b"avc:"):
        return {}
    words = text.split()
    if len(words) < 2 or b"{" not in words:
        return {}
    perms = words[words.index(b"{") + 1:words.index(b"}")] if b"}" in words else []
    return {"seresult": words[1], "seperms": b",".join(perms)}


class EventData:
    """The event's fields the way the table's field names address them: the first record that has one wins."""

    __slots__ = ("records", "own")

    def __init__(self, records: Mapping[str, Mapping[str, bytes]]) -> None:
        ordered = [records["SYSCALL"]] if "SYSCALL" in records else []
        for record_type, fields in records.items():
            if record_type == "AVC":
                verdict = avc_verdict(fields)
                fields = {**fields, **verdict} if verdict else fields
            if record_type != "SYSCALL" and record_type not in NOT_DATA_TYPES:
                ordered.append(fields)
        self.records = ordered
        # The ids (uid, gid, auid, …) come from the SYSCALL record, or the event's only record.
        self.own = ordered[0] if ordered else {}

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None  # type: ignore[arg-type]

    def get(self, key: str) -> str | None:
        """The first usable value of ``key``, or None."""
        for fields in self.records:
            raw = fields.get(key)
            if raw is not None:
                text = field_text(key, raw)
                if text is not None:
                    return text
        return None

    def own_id(self, key: str) -> str | None:
        """An id field of the event's own record (``uid.X`` in the table's mappings)."""
        raw = self.own.get(key)
        return None if raw is None else field_text(key, raw)

    def first(self, keys: Sequence[str]) -> str | None:
        """The value of the first of ``keys`` that is present."""
        for key in keys:
            value = self.get(key)
            if value is not None:
                return value
        return None


def normalization(event_type: str, data: EventData, syscall: str | None) -> Normalization | None:
    """The row for an event: its syscall's for SYSCALL events, else its record type's (None if the table has none)."""
    if event_type == "SYSCALL":
        return None if syscall is None else for_syscall(syscall)
    return for_record_type(event_type, data)


def entity(value: str) -> dict[str, str]:
    """An ECS user/group entity from a summary value: a number is an id, anything else a name, unset is empty."""
    if value in ("", "unset") or value in UNSET_VALUES:
        return {}
    return {"id": value} if value.isdigit() else {"name": value}


def summarize(
    event_type: str,
    records: Mapping[str, Mapping[str, bytes]],
    syscall: str | None = None,
    paths: Sequence[Mapping[str, bytes]] = (),
    socket: Mapping[str, str] | None = None,
) -> dict | None:
    """Elastic's summary of one event, or None when the table has no row for it.

    ``event_type`` is the record type that names the event (SYSCALL, or the first record's type);
    ``records`` maps each record type to its ``Record.fields``, in event order; ``syscall`` is the
    syscall's name; ``paths`` are the PATH records' fields in item order; ``socket`` is the decoded
    SOCKADDR (``addr``, ``port``, ``path``). The result holds ECS fragments: ``event`` (action,
    category, type), ``auditd.summary``, ``source.ip`` + ``network.direction`` where the row takes
    the source from a field, and ``entities``: ECS entity path → ``{"id"}``, ``{"name"}`` or ``{}``
    (unset), for ``apply_entities``.
    """
    data = EventData(records)
    row = normalization(event_type, data, syscall)
    if row is None:
        return None
    categories = list(row.categories)
    types = list(row.types)
    if event_type != "SYSCALL" and syscall is not None:
        extra = for_syscall(syscall)
        if extra is not row:
            categories.extend(c for c in extra.categories if c not in categories)
            types.extend(t for t in extra.types if t not in types)

    own = data.own
    actor = [_own_text(own, "auid"), _own_text(own, "uid")]
    how = _default_how(data)
    obj = {"type": row.object_what, "primary": None, "secondary": None}
    if row.object_what in ("file", "filesystem"):
        _file_object(obj, paths, row.object_path_index)
    elif row.object_what == "socket" and socket:
        obj["primary"] = socket.get("addr") or socket.get("path")
        obj["secondary"] = socket.get("port")
    for slot, keys in ((0, row.subject_primary), (1, row.subject_secondary)):
        value = data.first(keys)
        if value is not None:
            actor[slot] = value
    for slot, keys in (("primary", row.object_primary), ("secondary", row.object_secondary)):
        value = data.first(keys)
        if value is not None:
            obj[slot] = value
    # "syscall" names the syscall (Elastic's data holds its name there, the record its number).
    how = (syscall if row.how[:1] == ("syscall",) else data.first(row.how)) or how

    out: dict = {"event": {"category": categories, "type": types}}
    if row.action:
        out["event"]["action"] = row.action
    out["auditd"] = {"summary": _present({
        "actor": _present({"primary": actor[0], "secondary": actor[1]}),
        "object": _present(obj),
        "how": how,
    })}
    if row.source_ip and not (socket and syscall in INCOMING_SYSCALLS):
        ip = data.first(row.source_ip)
        if ip is not None:
            out["source"] = {"ip": ip}
            out["network"] = {"direction": "ingress"}
    summary_values = {
        "subject.primary": actor[0], "subject.secondary": actor[1],
        "object.primary": obj["primary"], "object.secondary": obj["secondary"],
    }
    entities: dict[str, dict[str, str]] = {}
    for source, target in row.mappings:
        if source in summary_values:
            value = summary_values[source]
        elif source.startswith("uid."):
            value = data.own_id(source[4:])
        else:
            value = data.get(source[5:])
        entities[target] = entity(value or "")
    out["entities"] = entities
    return out


def apply_entities(doc: dict, entities: Mapping[str, Mapping[str, str]]) -> None:
    """Write mapped entities into a document as Auditbeat does: each replaces that entity's id and name.

    An unset entity removes the id and name already there (a USER_LOGIN from an unset auid keeps no
    ``user.id``, though its record has ``uid=0``).
    """
    for path, values in entities.items():
        node = doc
        for part in path.split("."):
            node = node.setdefault(part, {})
        for key in ("id", "name"):
            if key in values:
                node[key] = values[key]
            else:
                node.pop(key, None)


def _own_text(fields: Mapping[str, bytes], key: str) -> str | None:
    raw = fields.get(key)
    return None if raw is None else field_text(key, raw)


def _default_how(data: EventData) -> str | None:
    exe = data.get("exe")
    if exe is None:
        return data.get("comm")
    if exe.startswith(INTERPRETER_PREFIXES):
        return data.get("comm") or exe
    return exe


def _file_object(obj: dict, paths: Sequence[Mapping[str, bytes]], index_hint: int) -> None:
    if not paths:
        return
    index = index_hint if len(paths) > index_hint else 0
    chosen = paths[index]
    for path in paths[index:]:
        if path.get("nametype") not in NOT_OBJECT_NAMETYPES:
            chosen = path
            break
    raw_name = chosen.get("name")
    if raw_name is not None:
        obj["primary"] = field_text("name", raw_name)
    mode = chosen.get("mode")
    if mode is not None:
        try:
            int(mode, 8)
        except ValueError:
            return
        # go-libaudit reads the raw st_mode as a Go FileMode, whose type bits lie elsewhere: any
        # parsable mode makes the object a "file", a directory or a mount point included.
        obj["type"] = "file"


def _present(values: dict) -> dict:
    return {k: v for k, v in values.items() if v}
