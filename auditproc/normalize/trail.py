"""Every audit event other than an exec, as Elastic's auditd integrations shape it.

One builder for syscall events (file, network, driver, host, process activity) and for the
messages user space and the kernel write on their own (logins, account changes, MAC denials,
anomalies, audit configuration): the event's row of Elastic's vocabulary (``vocabulary.py``,
``summary.py``) gives ``event.action/category/type``, ``auditd.summary`` and the user entities;
the records give the rest (``docs/ecs-mapping.md``). Nothing is invented: a field the records do
not carry stays absent.
"""

from __future__ import annotations

from auditproc.assemble import AuditEvent
from auditproc.normalize.common import (
    Actor,
    EcsSettings,
    acting_process,
    auditd_block,
    decode_paths,
    event_header,
    finish,
    host,
    item_number,
    node_name,
    outcome_of,
    put_title_and_directory,
    syscall_data,
    tags,
)
from auditproc.normalize.sockaddr import SockAddr, decode_saddr, parse_enriched_saddr
from auditproc.normalize.summary import INCOMING_SYSCALLS, apply_entities, summarize
from auditproc.normalize.syscalls import syscall_name
from auditproc.normalize.vocabulary import KNOWN_RECORD_TYPES
from auditproc.parse import ENCODED_FIELDS, Record, unquote

# Records whose content has ECS fields of its own; the others' fields go to auditd.data.
_OWN_FIELDS = frozenset({"SYSCALL", "PATH", "CWD", "PROCTITLE", "SOCKADDR", "EXECVE", "EOE"})
# Fields of a user-space message that ECS fields (or the summary) take.
_MESSAGE_MAPPED = frozenset({"pid", "uid", "auid", "ses", "subj", "exe", "comm", "res", "msg", "_text"})
_NO_VALUE = frozenset({b"", b"?", b"(null)"})  # what user space writes for a field it has no value for
# res= of user-space messages → event.outcome
_RESULTS = {b"success": "success", b"yes": "success", b"1": "success",
            b"failed": "failure", b"fail": "failure", b"no": "failure", b"0": "failure"}
# Calls whose SOCKADDR is the far end (go-libaudit): the rest (bind, listen) name no direction.
_OUTGOING_SYSCALLS = frozenset({"connect", "send", "sendto", "sendmsg", "sendmmsg"})
# Auditbeat adds the login's result to USER_LOGIN's event.type (its userlogin expected documents).
_LOGIN_TYPES = {"success": "authentication_success", "failure": "authentication_failure"}
# An event Elastic's table has no row for (APPARMOR_DENIED): a document all the same, uncategorised.
_NO_ROW: dict = {"event": {"category": [], "type": []}, "auditd": {"summary": {}}, "entities": {}}


def trail_document(event: AuditEvent, settings: EcsSettings, dataset: str) -> dict | None:
    """The ECS document of a non-exec event (uncategorised where Elastic's table has no row for it)."""
    by_type: dict[str, Record] = {}
    paths: list[Record] = []
    for rec in event.records:
        if rec.type == "PATH":
            paths.append(rec)
        elif rec.type not in by_type:
            by_type[rec.type] = rec
    if not by_type:
        return None
    first = next(iter(by_type))
    syscall_rec = by_type.get("SYSCALL")
    # The event is its first record's type when the table names that type (an AVC before its
    # SYSCALL), else the syscall's.
    event_type = first if first in KNOWN_RECORD_TYPES or syscall_rec is None else "SYSCALL"
    own = syscall_rec or by_type[first]
    f = own.fields
    arch = f.get("arch", b"") if syscall_rec is not None else b""
    syscall = syscall_name(*syscall_rec.arch_and_syscall()) if syscall_rec is not None else None
    paths.sort(key=item_number)
    socket = _socket(by_type.get("SOCKADDR"))
    summary = summarize(
        event_type, {t: r.fields for t, r in by_type.items()}, syscall, [p.fields for p in paths],
        None if socket is None else _summary_socket(socket),
    )
    summary = summary or _NO_ROW
    node = node_name(event)
    # A user message's own res= is the event's result, even when the kernel added a SYSCALL (its
    # sendto to the audit socket succeeds whether or not useradd did).
    lead = by_type[first]
    if event_type != "SYSCALL" and "res" in lead.fields:
        outcome = _RESULTS.get(unquote(lead.fields["res"]), "unknown")
    else:
        outcome = outcome_of(f) if syscall_rec is not None else "unknown"
    ecs_event = summary["event"]
    types = ecs_event["type"]
    if event_type == "USER_LOGIN" and outcome in _LOGIN_TYPES:
        types = [*types, _LOGIN_TYPES[outcome]]
    doc = event_header(event, ecs_event["category"], types, ecs_event.get("action"), outcome, dataset)
    doc["host"] = host(node, settings, arch)
    process = _process(own, by_type)
    if process:
        doc["process"] = process
    actor = Actor.of(f, own.enriched)
    summary_actor = summary["auditd"]["summary"].get("actor")
    if summary_actor:
        actor.name_summary_actor(summary_actor)
    user = actor.user(settings.dedup_effective)
    if user:
        doc["user"] = user
    apply_entities(doc, summary["entities"])
    for key in ("source", "network"):
        if key in summary:
            doc[key] = summary[key]
    if socket is not None:
        _put_socket(doc, socket, syscall)
    related = actor.related()
    if related:
        doc["related"] = {"user": related}
    file_doc, path_docs = decode_paths(paths)
    if file_doc:
        _name_parts(file_doc)
        doc["file"] = file_doc

    data = syscall_data(f, syscall or _number(f), arch) if syscall_rec is not None else _message_data(own)
    for rtype, rec in by_type.items():
        if rtype not in _OWN_FIELDS and rec is not own:
            for key, value in _message_data(rec).items():
                data.setdefault(key, value)
    if "source" in summary:
        data.pop("addr", None)  # it is source.ip now, as in Elastic's documents
    if socket is not None:
        data["socket"] = _summary_socket(socket) | {"family": socket.family}
    if node is not None:
        data["node"] = node
    auditd = auditd_block(event_type.lower(), outcome, f.get("ses"), summary["auditd"]["summary"],
                          actor.auditd_user(f.get("subj")), data)
    if path_docs:
        auditd["paths"] = path_docs
    doc["auditd"] = auditd
    rule_keys = tags(own)
    if rule_keys:
        doc["tags"] = rule_keys
    return finish(doc, event, [])


def _name_parts(file_doc: dict) -> None:
    """``file.name`` and ``file.extension`` from the path (ECS: the extension without its dot)."""
    name = file_doc["path"].rpartition("/")[2]
    if name:
        file_doc["name"] = name
        stem, dot, extension = name.lstrip(".").rpartition(".")
        if dot and stem and extension:
            file_doc["extension"] = extension


def _process(own: Record, by_type: dict[str, Record]) -> dict:
    """ECS ``process`` of the acting process: pid, parent pid, name, executable, title, directory."""
    process = acting_process(own)
    for key in ("name", "executable"):  # user space writes exe=? for a process it cannot name
        if process.get(key) in ("", "?"):
            del process[key]
    put_title_and_directory(process, by_type.get("PROCTITLE"), by_type.get("CWD"))
    return process


def _socket(rec: Record | None) -> SockAddr | None:
    """The SOCKADDR record's address: auditd's own reading (``SADDR=``) when enriched, else the hex."""
    if rec is None:
        return None
    enriched = rec.enriched.get("SADDR")
    socket = parse_enriched_saddr(enriched) if enriched else None
    if socket is None:
        raw = rec.fields.get("saddr")
        socket = decode_saddr(raw) if raw is not None else None
    return socket


def _summary_socket(socket: SockAddr) -> dict:
    out: dict = {}
    if socket.address is not None:
        out["addr"] = socket.address
    if socket.port is not None:
        out["port"] = str(socket.port)
    if socket.path is not None:
        out["path"] = socket.path
    return out


def _put_socket(doc: dict, socket: SockAddr, syscall: str | None) -> None:
    """``destination.*`` for an outgoing call (connect, sendto …), ``source.*`` for an incoming one."""
    incoming = syscall in INCOMING_SYSCALLS
    if (socket.address is None and socket.path is None) or not (incoming or syscall in _OUTGOING_SYSCALLS):
        return
    end: dict = {}
    if socket.address is not None:
        end["ip"] = socket.address
        end["address"] = socket.address
    else:
        end["address"] = socket.path
    if socket.port is not None:
        end["port"] = socket.port
    doc["source" if incoming else "destination"] = end
    doc.setdefault("network", {})["direction"] = "ingress" if incoming else "egress"


def _message_data(rec: Record) -> dict:
    """``auditd.data`` of a record that is not the SYSCALL: its fields, decoded, bar those ECS takes."""
    data: dict = {}
    for key, raw in rec.fields.items():
        if key in _MESSAGE_MAPPED:
            continue
        value = rec.value(key) if key in ENCODED_FIELDS else unquote(raw)
        if value is not None and value not in _NO_VALUE:
            data[key] = value.decode("utf-8", "backslashreplace")
    return data


def _number(fields: dict[str, bytes]) -> str:
    """A syscall the tables do not name keeps its number, as the record wrote it."""
    return unquote(fields.get("syscall", b"")).decode("ascii", "backslashreplace")


# Elastic Defend names a connection by its direction where Elastic's auditd vocabulary names the syscall
# (Defend's network events: connection_attempted for an outgoing connect, connection_accepted for an
# accept): the endpoint profile's network documents say Defend's word (README, "Profiles").
ENDPOINT_ACTIONS = {"connected-to": "connection_attempted", "accepted-connection-from": "connection_accepted"}


def endpoint_trail_profile(doc: dict) -> dict:
    """Reshape a trail document to Elastic Defend's conventions where they differ: its network actions."""
    event = doc["event"]
    action = ENDPOINT_ACTIONS.get(event.get("action"))  # type: ignore[arg-type]
    if action is not None:
        event["action"] = action
    return doc

