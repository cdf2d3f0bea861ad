"""Golden raw events of every category (fixtures/trail/) and what Elastic's vocabulary says each becomes.

One event per fixture, written the way auditd writes it on x86_64 (fixtures/trail/README.md). Each row
names the fields `auditproc events` must give for it and where the expected value comes from in Elastic's
own data: go-libaudit's aucoalesce goldens (`aucoalesce/testdata/*.json.golden`, the `test_name` quoted),
Auditbeat's expected documents (`auditbeat/module/auditd/testdata/*-expected.json`), the auditd_manager
ingest pipeline, or, where no golden covers the case, the row of go-libaudit's normalizations.yaml.

Lists (event.category, event.type) are compared as sets: go-libaudit appends the syscall's categorisation
to the record type's and keeps duplicates (ANOM_PROMISCUOUS gives type [info, change, info]).
ABSENT means the field must not be there: Elastic's data has nothing for it and nothing is invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from auditproc.cli import app
from tests.conftest import FIXTURES
from tests.test_witnesses import auparse_grouping, intended_events

TRAIL = FIXTURES / "trail"
ABSENT = object()
NOT_YET = pytest.mark.xfail(strict=True, reason="whole-trail normaliser not merged yet")

GOLIBAUDIT = "elastic/go-libaudit aucoalesce/testdata/"
BEATS = "elastic/beats auditbeat/module/auditd/testdata/"
YAML = "elastic/go-libaudit aucoalesce/normalizations.yaml"
PIPELINE = "elastic/integrations packages/auditd_manager/data_stream/auditd/elasticsearch/ingest_pipeline/default.yml"
COALESCE = "elastic/go-libaudit aucoalesce/coalesce.go"
AUDITBEAT = "elastic/beats auditbeat/module/auditd/audit_linux.go"


@dataclass(frozen=True)
class Expected:
    """The fields one fixture's document must carry, and the sources of those values."""

    fixture: str
    fields: dict[str, object]
    sources: tuple[str, ...] = field(default=())


ROWS = [
    Expected("openat-read", {
        "event.action": "opened-file", "event.category": ["file"], "event.type": ["info"],
        "event.outcome": "success", "file.path": "/etc/passwd", "process.name": "cat",
        "auditd.data.syscall": "openat",
    }, (f"{YAML}: open/openat row, ecs-file type info", f"{COALESCE}: setFileObject, PATH name → file.path")),
    Expected("openat-creat", {
        # O_CREAT changes nothing: open/openat are `info` whatever their flags (issue 13: parity).
        "event.action": "opened-file", "event.category": ["file"], "event.type": ["info"],
        "file.path": "/home/ann/out.txt",
    }, (f"{YAML}: open/openat row", f"{COALESCE}: setFileObject skips PARENT items")),
    Expected("open-creat-legacy", {
        "event.action": "opened-file", "event.category": ["file"], "event.type": ["info"],
        "file.path": "/home/ann/todo.txt", "auditd.data.syscall": "open",
    }, (f"{YAML}: open/openat row",)),
    Expected("creat", {
        "event.action": "opened-file", "event.category": ["file"], "event.type": ["creation"],
        "file.path": "/opt/app/log/app.log",
    }, (f"{YAML}: creat row, type creation",)),
    Expected("unlinkat", {
        "event.action": "deleted", "event.category": ["file"], "event.type": ["deletion"],
        "file.path": "/etc/audit/rules.d/.audit.rules.swp",
    }, (f"{GOLIBAUDIT}ubuntu-17.04-linux-4.10.0.json.golden 'unlink syscall'",)),
    Expected("rename", {
        # object_path_index 2: the old name (the DELETE item), not the new one.
        "event.action": "renamed", "event.category": ["file"], "event.type": ["change"],
        "file.path": "/etc/audit/rules.d/audit.rules",
    }, (f"{GOLIBAUDIT}ubuntu-17.04-linux-4.10.0.json.golden 'rename syscall'", f"{YAML}: rename row")),
    Expected("fchmodat", {
        "event.action": "changed-file-permissions-of", "event.category": ["file"], "event.type": ["change"],
        "file.path": "/home/ann/run.sh",
    }, (f"{YAML}: chmod/fchmod/fchmodat row",)),
    Expected("fchownat", {
        # The name as written, relative: Elastic does not join it to the CWD.
        "event.action": "changed-file-ownership-of", "event.category": ["file"], "event.type": ["change"],
        "event.outcome": "success", "file.path": "notes.txt", "process.working_directory": "/home/ann",
    }, (f"{BEATS}chown.log-expected.json",)),
    Expected("mount", {
        "event.action": "mounted", "event.category": ["file"], "event.type": ["creation"],
        "file.path": "/run/user/1000",
    }, (f"{GOLIBAUDIT}rhel-7-linux-3.10.0.json.golden 'mount syscall'", f"{YAML}: mount row, path index 1")),
    Expected("connect-inet", {
        # EINPROGRESS: a failed connect is still connected-to, with outcome failure.
        "event.action": "connected-to", "event.category": ["network"], "event.type": ["connection", "start"],
        "event.outcome": "failure", "destination.ip": "169.254.169.254", "destination.port": 80,
        "network.direction": "egress", "source.ip": ABSENT,
    }, (f"{GOLIBAUDIT}ubuntu-16.10-linux-4.8.0.json.golden 'connect syscall'", f"{PIPELINE}: fail → failure",
        f"{COALESCE}: addSockaddrRecord, connect → destination, egress")),
    Expected("connect-inet6", {
        "event.action": "connected-to", "event.category": ["network"], "event.type": ["connection", "start"],
        "event.outcome": "success", "destination.ip": "2001:db8::10", "destination.port": 443,
        "network.direction": "egress",
    }, (f"{YAML}: connect row", f"{COALESCE}: addSockaddrRecord")),
    Expected("connect-unix", {
        # Auditbeat's destination.path becomes destination.address in the integration's pipeline.
        "event.action": "connected-to", "event.category": ["network"], "event.type": ["connection", "start"],
        "destination.address": "/run/systemd/journal/dev-log", "destination.ip": ABSENT,
        "network.direction": "egress",
    }, (f"{COALESCE}: addAddress path", f"{PIPELINE}: rename destination.path → destination.address")),
    Expected("bind-inet", {
        # bind has no clear source or destination in Elastic's normaliser.
        "event.action": "bound-socket", "event.category": ["network"], "event.type": ["start"],
        "source.ip": ABSENT, "destination.ip": ABSENT, "network.direction": ABSENT,
    }, (f"{YAML}: bind row", f"{COALESCE}: addSockaddrRecord default case")),
    Expected("accept-inet", {
        "event.action": "accepted-connection-from", "event.category": ["network"],
        "event.type": ["connection", "start"], "source.ip": "72.83.230.100", "source.port": 58140,
        "network.direction": "ingress",
    }, (f"{GOLIBAUDIT}ubuntu-16.10-linux-4.8.0.json.golden 'accept syscall'",)),
    Expected("accept4-inet6", {
        "event.action": "accepted-connection-from", "event.category": ["network"],
        "event.type": ["connection", "start"], "source.ip": "2001:db8::77", "source.port": 51515,
        "network.direction": "ingress", "auditd.data.syscall": "accept4",
    }, (f"{YAML}: accept/accept4 row", f"{COALESCE}: addSockaddrRecord, accept4 → source, ingress")),
    Expected("init_module", {
        "event.action": "loaded-kernel-module", "event.category": ["driver"], "event.type": ["start"],
        "auditd.data.syscall": "init_module", "auditd.summary.object.primary": "hello",
    }, (f"{YAML}: init_module/finit_module/KERN_MODULE row, object_primary name",)),
    Expected("finit_module", {
        "event.action": "loaded-kernel-module", "event.category": ["driver"], "event.type": ["start"],
        "auditd.data.syscall": "finit_module", "auditd.summary.object.primary": "xt_nat", "user.id": "0",
    }, (f"{YAML}: init_module/finit_module/KERN_MODULE row",)),
    Expected("delete_module", {
        "event.action": "unloaded-kernel-module", "event.category": ["driver"], "event.type": ["end"],
        "auditd.data.syscall": "delete_module",
    }, (f"{YAML}: delete_module row",)),
    Expected("ptrace", {
        # ptrace is in the table's "currently unhandled" list: only the catch-all '*' row applies.
        "event.action": ABSENT, "event.category": ["process"], "event.type": ["info"],
        "auditd.data.syscall": "ptrace",
    }, (f"{YAML}: '*' row; ptrace listed as unhandled",)),
    Expected("setuid", {
        "event.action": "changed-identity-of", "event.category": ["process"], "event.type": ["change"],
        "user.id": "1000", "user.effective.id": "0", "process.name": "setuids",
        "process.executable": "/tmp/setuids", "auditd.summary.how": "setuid",
    }, (f"{BEATS}setuid.log-expected.json (syscall 105)", f"{YAML}: 'how: syscall', the syscall's name")),
    Expected("exit_group", {
        "event.action": "end", "event.category": ["process"], "event.type": ["end"],
        "auditd.data.syscall": "exit_group", "auditd.summary.how": "exit_group", "process.pid": 700,
    }, (f"{YAML}: exit_group row, ecs-process type end, how: syscall",)),
    Expected("kill", {
        "event.action": "killed-pid", "event.category": ["process"], "event.type": ["end"],
        "auditd.data.syscall": "kill", "auditd.data.a1": "f",
    }, (f"{YAML}: kill/tkill/tgkill row",)),
    Expected("user_login-success", {
        "event.action": "logged-in", "event.category": ["authentication"],
        "event.type": ["start", "authentication_success"], "event.outcome": "success",
        "source.ip": "203.0.113.9", "user.id": "1000", "network.direction": "ingress",
        "process.executable": "/usr/sbin/sshd", "process.pid": 10318,
    }, (f"{BEATS}userlogin.log-expected.json (op=login id=700 … res=success)",)),
    Expected("user_login-failure", {
        "event.action": "logged-in", "event.category": ["authentication"],
        "event.type": ["start", "authentication_failure"], "event.outcome": "failure",
        "source.ip": "198.51.100.23", "user.effective.name": "(unknown)", "network.direction": "ingress",
    }, (f"{BEATS}userlogin.log-expected.json (acct=\"(unknown)\" … res=failed)",)),
    Expected("add_user", {
        "event.action": "added-user-account", "event.category": ["iam"], "event.type": ["user", "creation"],
        "event.outcome": "success", "auditd.result": "success", "user.id": "1000",
        "user.target.name": "testuser", "process.executable": "/usr/sbin/useradd",
        "process.name": ABSENT,  # no comm in a shadow-utils record, and no SYSCALL beside it here
    }, (f"{BEATS}useradd.log-expected.json (ADD_USER)", f"{YAML}: ADD_USER row, object.primary → user.target")),
    Expected("add_group", {
        # The kernel's sendto SYSCALL beside it adds network to the categories and gives process.name.
        "event.action": "added-group-account-to", "event.category": ["iam", "network"],
        "event.outcome": "success", "group.name": "wheel2", "process.name": "groupadd",
    }, (f"{YAML}: ADD_GROUP row, object.primary → group",)),
    Expected("user_chauthtok", {
        "event.action": "changed-password", "event.category": ["iam"], "event.type": ["user", "change"],
        "event.outcome": "success", "user.id": "1002", "user.target.name": "bob",
    }, (f"{BEATS}passwd.log-expected.json (op=PAM:chauthtok acct=\"bob\")",)),
    Expected("config_change", {
        "event.action": "changed-audit-configuration", "event.category": ["process", "configuration"],
        "event.type": ["change"], "event.outcome": "success", "auditd.summary.object.primary": "remove_rule",
    }, (f"{GOLIBAUDIT}ubuntu-16.10-linux-4.8.0.json.golden 'CONFIG_CHANGE remove rule'",)),
    Expected("avc-apparmor", {
        # The AVC row has no ecs of its own: category and type are the syscall's (openat: file, info).
        "event.action": "violated-apparmor-policy", "event.category": ["file"], "event.type": ["info"],
        "event.outcome": "failure", "auditd.summary.object.primary": "open",
    }, (f"{GOLIBAUDIT}ubuntu-16.04-linux-4.13.0.json.golden 'AVC_AppArmor', 'AVC_AppArmor_unlink'",
        f"{COALESCE}: applyNormalization appends the syscall's categorisation")),
    Expected("avc-selinux", {
        "event.action": "violated-selinux-policy", "event.category": ["file"], "event.type": ["info"],
        "auditd.summary.object.primary": "unconfined_u:object_r:user_home_t:s0",
    }, (f"{YAML}: AVC row with has_fields seresult, object_primary tcontext",
        f"{COALESCE}: applyNormalization appends the syscall's categorisation")),
    Expected("apparmor_denied", {
        # APPARMOR_* rows are commented out in the table: no action and no ECS categorisation. (Auditbeat
        # leaves its own non-ECS category word there, e.g. "mac-decision"; not asserted.)
        "event.action": ABSENT,
    }, (f"{YAML}: AUDIT_APPARMOR_DENIED listed, no row", f"{COALESCE}: applyNormalization, no normalization found",
        f"{AUDITBEAT}: buildMetricbeatEvent")),
    Expected("anom_promiscuous", {
        # The table and go-libaudit's golden say kind "alert"; Auditbeat writes "event" for every document
        # (normalizeEventFields), and the integration's documents win (issue 13).
        "event.action": "changed-promiscuous-mode-on-device", "event.kind": "event",
        "event.category": ["intrusion_detection", "process"], "event.type": ["info", "change"],
        "auditd.summary.object.primary": "eth0", "process.name": "ip",
    }, (f"{GOLIBAUDIT}ubuntu-16.10-linux-4.8.0.json.golden 'ANOM_PROMISCUOUS'",
        f"{AUDITBEAT}: normalizeEventFields sets event.kind event")),
    Expected("service_start", {
        "event.action": "started-service", "event.category": ["process"], "event.type": ["start"],
        "event.outcome": "success", "auditd.summary.object.primary": "rsyslog", "process.name": "systemd",
    }, (f"{GOLIBAUDIT}ubuntu-16.10-linux-4.8.0.json.golden 'SERVICE_START'",)),
]


def dotted(doc: dict, path: str) -> object:
    """The value at a dotted path of a document, ABSENT where any step is missing."""
    value: object = doc
    for step in path.split("."):
        if not isinstance(value, dict) or step not in value:
            return ABSENT
        value = value[step]
    return value


def test_every_fixture_has_a_row() -> None:
    assert sorted(p.stem for p in TRAIL.glob("*.log")) == sorted(row.fixture for row in ROWS)
    assert all(row.sources for row in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.fixture)
def test_trail_event_in_elastic_vocabulary(row: Expected) -> None:
    result = CliRunner().invoke(app, ["events", "-j", "1", "--host", "trail-host", str(TRAIL / f"{row.fixture}.log")])
    assert result.exit_code == 0, result.output
    docs = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(docs) == 1, docs
    for path, expected in row.fields.items():
        got = dotted(docs[0], path)
        if isinstance(expected, list) and isinstance(got, list):
            assert set(got) == set(expected), path
        else:
            assert got == expected, path


# Where auparse disagrees, on purpose (tests/test_witnesses.py has the same case): auditproc keeps one event.
AUPARSE_SPLITS = {"add_group": [("ADD_GROUP",), ("SYSCALL", "SOCKADDR")]}


@pytest.fixture(scope="module")
def auparse_trail() -> dict[Path, list[dict]]:
    """auparse's grouping of every trail fixture."""
    return auparse_grouping(sorted(TRAIL.glob("*.log")))


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.fixture)
def test_trail_fixture_is_one_event_for_auparse(row: Expected, auparse_trail: dict[Path, list[dict]]) -> None:
    log = TRAIL / f"{row.fixture}.log"
    got = [(int(e["id"].rsplit(":", 1)[1]), tuple(e["types"])) for e in auparse_trail[log]]
    if row.fixture in AUPARSE_SPLITS:  # auparse splits a user record from the sendto SYSCALL of its serial
        assert [types for _, types in got] == AUPARSE_SPLITS[row.fixture]
        return
    assert got == intended_events(log)
    assert len(got) == 1
