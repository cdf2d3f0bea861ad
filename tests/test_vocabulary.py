"""Elastic's audit vocabulary: the generated table against its source, and summaries of realistic events.

Expected summaries come from Elastic's own outputs where one exists (cited per case: go-libaudit's
aucoalesce golden files at the table's commit bc9ea45, Auditbeat's testdata goldens, the
auditd_manager integration's pipeline test expectations); elsewhere from the table's row. Elastic
resolves ids to names (``resolve_ids``); these summaries keep the ids the records carry.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from auditproc.normalize import vocabulary_table
from auditproc.normalize.summary import apply_entities, summarize
from auditproc.normalize.vocabulary import CATCH_ALL, KNOWN_RECORD_TYPES, for_record_type, for_syscall
from auditproc.parse import parse_line
from tests.conftest import REPO, shared_path

TABLE = ("reference", "go-libaudit", "normalizations.yaml")


def render(table_text: str) -> str:
    """tools/gen_vocabulary.py's rendering of a table (the tool lives outside the package: it reads YAML)."""
    pytest.importorskip("yaml")
    spec = importlib.util.spec_from_file_location("gen_vocabulary", REPO / "tools" / "gen_vocabulary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render(table_text)


def table_rows() -> list[dict]:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(shared_path(*TABLE).read_text(encoding="utf-8"))["normalizations"]


def as_tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def test_generated_module_is_what_the_generator_makes_of_the_table() -> None:
    generated = render(shared_path(*TABLE).read_text(encoding="utf-8"))
    assert generated == Path(vocabulary_table.__file__).read_text(encoding="utf-8"), (
        "vocabulary_table.py is stale: python tools/gen_vocabulary.py ../shared/reference/go-libaudit/normalizations.yaml"
    )


def test_every_row_maps_to_the_action_and_categories_our_table_gives() -> None:
    checked = 0
    for row in table_rows():
        ecs = row.get("ecs") or {}
        want = (row.get("action", ""), as_tuple(ecs.get("category")), as_tuple(ecs.get("type")), ecs.get("kind", ""))
        for name in as_tuple(row.get("syscalls")):
            norm = CATCH_ALL if name == "*" else for_syscall(name)
            assert (norm.action, norm.categories, norm.types, norm.kind) == want, name
            checked += 1
        for record_type in as_tuple(row.get("record_types")):
            norm = for_record_type(record_type, as_tuple(row.get("has_fields")))
            assert norm is not None, record_type
            assert (norm.action, norm.categories, norm.types, norm.kind) == want, record_type
            assert record_type in KNOWN_RECORD_TYPES
            checked += 1
    assert checked == 212  # syscall names and record types the table lists, '*' included


def test_every_row_keeps_its_actor_object_how_and_mappings() -> None:
    for row in table_rows():
        mappings = tuple((m["from"], m["to"]) for m in (row.get("ecs") or {}).get("mappings") or ())
        want = (
            row.get("object_what", ""), as_tuple(row.get("subject_primary")), as_tuple(row.get("subject_secondary")),
            as_tuple(row.get("object_primary")), as_tuple(row.get("object_secondary")),
            row.get("object_path_index", 0), as_tuple(row.get("how")), as_tuple(row.get("source_ip")), mappings,
        )
        names = [for_syscall(s) for s in as_tuple(row.get("syscalls")) if s != "*"]
        names += [for_record_type(t, as_tuple(row.get("has_fields"))) for t in as_tuple(row.get("record_types"))]
        for norm in names:
            assert norm is not None
            got = (
                norm.object_what, norm.subject_primary, norm.subject_secondary, norm.object_primary,
                norm.object_secondary, norm.object_path_index, norm.how, norm.source_ip, norm.mappings,
            )
            assert got == want, row.get("action")


@pytest.mark.parametrize(
    ("bad_row", "complaint"),
    [
        ("  - action: x\n    syscalls: [a]\n    colour: red\n", "unknown keys"),
        ("  - action: x\n    syscalls: [a]\n    ecs: {category: file, mappings: [{from: subject.primary, to: host}]}\n", "unknown entity"),
        ("  - action: x\n    syscalls: [a]\n  - action: y\n    syscalls: [a]\n", "two rows for syscall"),
        ("  - action: x\n    record_types: [A]\n  - action: y\n    record_types: [A]\n", "two rows for record type"),
    ],
)
def test_generator_refuses_what_it_does_not_understand(bad_row: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        render("normalizations:\n  - syscalls: ['*']\n" + bad_row)


def test_lookups_without_the_table() -> None:
    assert for_syscall("openat").action == "opened-file"
    assert for_syscall("no_such_syscall") is CATCH_ALL
    assert (CATCH_ALL.action, CATCH_ALL.categories, CATCH_ALL.types) == ("", ("process",), ("info",))
    assert for_record_type("SYSCALL") is None
    assert for_record_type("AVC") is None  # neither seresult nor apparmor: go-libaudit finds no row either
    assert for_record_type("AVC", {"apparmor"}).action == "violated-apparmor-policy"
    assert for_record_type("AVC", {"seresult"}).action == "violated-selinux-policy"
    # A syscall and the record type its row also names share one row (no double categories).
    assert for_record_type("KERN_MODULE") is for_syscall("finit_module")
    assert {"USER_LOGIN", "ADD_USER", "SERVICE_START", "ANOM_PROMISCUOUS"} <= KNOWN_RECORD_TYPES


def summary_of(lines: str, syscall: str | None = None, socket: dict | None = None) -> dict | None:
    records = [parse_line(line.encode()) for line in lines.strip().splitlines()]
    by_type: dict[str, dict[str, bytes]] = {}
    for record in records:
        if record.type != "PATH":
            by_type.setdefault(record.type, record.fields)
    paths = [r.fields for r in records if r.type == "PATH"]
    return summarize(records[0].type, by_type, syscall, paths, socket)


# (name, raw lines, syscall name, decoded SOCKADDR, action, categories, types, auditd.summary, entities)
CASES = [
    (
        # Table row only: opened-file stays "info" whatever the flags.
        "openat",
        """type=SYSCALL msg=audit(1700000000.100:100): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd1 a2=0 a3=0 items=1 ppid=900 pid=901 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=7 comm="cat" exe="/usr/bin/cat" key="shadow"
type=CWD msg=audit(1700000000.100:100): cwd="/root"
type=PATH msg=audit(1700000000.100:100): item=0 name="/etc/shadow" inode=131 dev=fd:00 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL""",
        "openat", None, "opened-file", ["file"], ["info"],
        {"actor": {"primary": "1000", "secondary": "0"}, "object": {"type": "file", "primary": "/etc/shadow"}, "how": "/usr/bin/cat"},
        {},
    ),
    (
        # O_CREAT: the PARENT item is skipped, the CREATE item is the object; the type is still "info".
        "openat-creat",
        """type=SYSCALL msg=audit(1700000000.200:101): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd1 a2=241 a3=1b6 items=2 ppid=900 pid=902 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts1 ses=7 comm="touch" exe="/usr/bin/touch" key=(null)
type=PATH msg=audit(1700000000.200:101): item=0 name="/tmp/" inode=2 dev=fd:00 mode=041777 ouid=0 ogid=0 rdev=00:00 nametype=PARENT
type=PATH msg=audit(1700000000.200:101): item=1 name="/tmp/new" inode=77 dev=fd:00 mode=0100644 ouid=1000 ogid=1000 rdev=00:00 nametype=CREATE""",
        "openat", None, "opened-file", ["file"], ["info"],
        {"actor": {"primary": "1000", "secondary": "1000"}, "object": {"type": "file", "primary": "/tmp/new"}, "how": "/usr/bin/touch"},
        {},
    ),
    (
        # go-libaudit aucoalesce/testdata/ubuntu-16.10-linux-4.8.0 "connect syscall": an interpreter's exe
        # gives way to comm as the how.
        "connect",
        """type=SYSCALL msg=audit(1492753107.096:9004): arch=c000003e syscall=42 success=no exit=-115 a0=5 a1=7ffc12ac3ab0 a2=10 a3=4 items=0 ppid=1 pid=1648 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="google_ip_forwa" exe="/usr/bin/python3.5" key="key=net"
type=SOCKADDR msg=audit(1492753107.096:9004): saddr=02000050A9FEA9FE0000000000000000
type=PROCTITLE msg=audit(1492753107.096:9004): proctitle="(g_daemon)\"""",
        "connect", {"family": "ipv4", "addr": "169.254.169.254", "port": "80"}, "connected-to", ["network"], ["connection", "start"],
        {"actor": {"primary": "unset", "secondary": "0"}, "object": {"type": "socket", "primary": "169.254.169.254", "secondary": "80"}, "how": "google_ip_forwa"},
        {},
    ),
    (
        # Table row (no Elastic golden): finit_module and KERN_MODULE share the row, object is the module name.
        "finit_module",
        """type=SYSCALL msg=audit(1581371984.206:579397): arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=41a15c a2=0 a3=0 items=0 ppid=390 pid=391 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=2 comm="insmod" exe="/usr/bin/kmod" key="modules"
type=KERN_MODULE msg=audit(1581371984.206:579397): name="mymodule"
type=PROCTITLE msg=audit(1581371984.206:579397): proctitle=696E736D6F64006D796D6F64756C652E6B6F""",
        "finit_module", None, "loaded-kernel-module", ["driver"], ["start"],
        {"actor": {"primary": "1000", "secondary": "0"}, "object": {"type": "file", "primary": "mymodule"}, "how": "/usr/bin/kmod"},
        {},
    ),
    (
        # go-libaudit ubuntu-16.10-linux-4.8.0 "EXECVE".
        "execve",
        """type=SYSCALL msg=audit(1492752522.985:8972): arch=c000003e syscall=59 success=yes exit=0 a0=10812c8 a1=1070208 a2=1152008 a3=59a items=2 ppid=10027 pid=10043 auid=1001 uid=1001 gid=1002 euid=1001 suid=1001 fsuid=1001 egid=1002 sgid=1002 fsgid=1002 tty=pts0 ses=11 comm="uname" exe="/bin/uname" key="key=user_commands"
type=EXECVE msg=audit(1492752522.985:8972): argc=2 a0="uname" a1="-a"
type=CWD msg=audit(1492752522.985:8972): cwd="/home/andrew_kroh"
type=PATH msg=audit(1492752522.985:8972): item=0 name="/bin/uname" inode=155 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL
type=PATH msg=audit(1492752522.985:8972): item=1 name="/lib64/ld-linux-x86-64.so.2" inode=1923 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL""",
        "execve", None, "executed", ["process"], ["start"],
        {"actor": {"primary": "1001", "secondary": "1001"}, "object": {"type": "file", "primary": "/bin/uname"}, "how": "/bin/uname"},
        {},
    ),
    (
        # auditd_manager _dev/test/pipeline/test-userlogin-events.json-expected.json (and Auditbeat
        # testdata/userlogin.log): the unset auid leaves no user.id at all, though uid=0. Auditbeat's
        # older golden adds "authentication_failure" to event.type; the integration's "start" wins.
        "user_login-failure",
        """type=USER_LOGIN msg=audit(1553501549.148:110544844): user pid=374 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct="(unknown)" exe="/usr/sbin/sshd" hostname=localhost addr=1.128.3.4 terminal=ssh res=failed'""",
        None, None, "logged-in", ["authentication"], ["start"],
        {"actor": {"primary": "unset", "secondary": "(unknown)"}, "object": {"type": "user-session", "primary": "ssh", "secondary": "1.128.3.4"}, "how": "/usr/sbin/sshd"},
        {"user": {}, "user.effective": {"name": "(unknown)"}},
    ),
    (
        # Same source, second event: the secondary actor is id=700 (acct absent).
        "user_login-success",
        """type=USER_LOGIN msg=audit(1553452002.231:110276965): user pid=10318 uid=0 auid=700 ses=5388 msg='op=login id=700 exe="/usr/sbin/sshd" hostname=1.128.3.4 addr=1.128.3.4 terminal=/dev/pts/0 res=success'""",
        None, None, "logged-in", ["authentication"], ["start"],
        {"actor": {"primary": "700", "secondary": "700"}, "object": {"type": "user-session", "primary": "/dev/pts/0", "secondary": "1.128.3.4"}, "how": "/usr/sbin/sshd"},
        {"user": {"id": "700"}, "user.effective": {"id": "700"}},
    ),
    (
        # auditd_manager _dev/test/pipeline/test-useradd-events.json-expected.json (ADD_USER, seq 591).
        "add_user",
        """type=ADD_USER msg=audit(1610903553.730:591): pid=2945 uid=0 auid=1000 ses=14 msg='op=adding user id=1004 exe="/usr/sbin/useradd" hostname=ubuntu-bionic addr=127.0.0.1 terminal=pts/2 res=success'""",
        None, None, "added-user-account", ["iam"], ["user", "creation"],
        {"actor": {"primary": "1000", "secondary": "0"}, "object": {"type": "account", "primary": "1004"}, "how": "/usr/sbin/useradd"},
        {"user": {"id": "1000"}, "user.effective": {"id": "0"}, "user.target": {"id": "1004"}},
    ),
    (
        # Same source, USER_CHAUTHTOK seq 594: the target is the acct, the effective user the record's uid.
        "user_chauthtok",
        """type=USER_CHAUTHTOK msg=audit(1610903558.174:594): pid=2953 uid=0 auid=1000 ses=14 msg='op=PAM:chauthtok acct="charlie" exe="/usr/bin/passwd" hostname=ubuntu-bionic addr=127.0.0.1 terminal=pts/2 res=success'""",
        None, None, "changed-password", ["iam"], ["user", "change"],
        {"actor": {"primary": "1000", "secondary": "charlie"}, "object": {"type": "user-session", "primary": "pts/2", "secondary": "127.0.0.1"}, "how": "/usr/bin/passwd"},
        {"user": {"id": "1000"}, "user.target": {"name": "charlie"}, "user.effective": {"id": "0"}},
    ),
    (
        # auditd_manager test-auditlogin-events.json-expected.json (LOGIN seq 1414).
        "login",
        """type=LOGIN msg=audit(1611244872.857:1414): pid=27681 uid=0 old-auid=4294967295 auid=1000 tty=(none) old-ses=4294967295 ses=58 res=1""",
        None, None, "changed-login-id-to", ["authentication"], ["start"],
        {"actor": {"primary": "unset", "secondary": "0"}, "object": {"type": "user-session", "primary": "1000"}},
        {"user": {}, "user.effective": {"id": "1000"}},
    ),
    (
        # go-libaudit ubuntu-16.10-linux-4.8.0 "CONFIG_CHANGE remove rule": key= is a tag, never the object.
        "config_change",
        """type=CONFIG_CHANGE msg=audit(1492732670.795:12517): auid=1001 ses=67 op="remove_rule" key="key=container-create" list=4 res=1""",
        None, None, "changed-audit-configuration", ["process", "configuration"], ["change"],
        {"actor": {"primary": "1001"}, "object": {"type": "audit-config", "primary": "remove_rule"}},
        {},
    ),
    (
        # go-libaudit ubuntu-16.04-linux-4.13.0 "AVC_AppArmor_unlink": the AVC row has no categories of
        # its own, the unlink syscall's are added.
        "avc-apparmor",
        """type=AVC msg=audit(1524849206.224:162937): apparmor="AUDIT" operation="unlink" profile="docker-nginx" name="/var/lib/apt/lists/partial/.apt-acquire-privs-test.zW4jyj" pid=26024 comm="apt-get" requested_mask="d" fsuid=100 ouid=100
type=SYSCALL msg=audit(1524849206.224:162937): arch=c000003e syscall=87 success=yes exit=0 a0=5611cb79a690 a1=7efee76cc723 a2=9 a3=0 items=3 ppid=25963 pid=26024 auid=4294967295 uid=0 gid=0 euid=100 suid=0 fsuid=100 egid=65534 sgid=0 fsgid=65534 tty=pts0 ses=4294967295 comm="apt-get" exe="/usr/bin/apt-get" key=(null)
type=PATH msg=audit(1524849206.224:162937): item=0 name="/var/lib/apt/lists/partial/" inode=116 dev=00:2e mode=040755 ouid=100 ogid=0 rdev=00:00 nametype=PARENT
type=PATH msg=audit(1524849206.224:162937): item=1 name="/var/lib/apt/lists/partial/.apt-acquire-privs-test.zW4jyj" inode=585781 dev=08:01 mode=0100600 ouid=100 ogid=65534 rdev=00:00 nametype=DELETE""",
        "unlink", None, "violated-apparmor-policy", ["file"], ["deletion"],
        {"actor": {"primary": "unset", "secondary": "0"}, "object": {"type": "policy", "primary": "unlink", "secondary": "d"}, "how": "/usr/bin/apt-get"},
        {},
    ),
    (
        # Table row (SELinux AVC from audit-userspace's test log): seresult comes from "avc:  denied".
        "avc-selinux",
        """type=AVC msg=audit(1158584779.745:708): avc:  denied  { dac_read_search } for  pid=8132 comm="sh" capability=2 scontext=user_u:system_r:vpnc_t:s0 tcontext=user_u:system_r:vpnc_t:s0 tclass=capability""",
        None, None, "violated-selinux-policy", [], [],
        {"actor": {"primary": "user_u:system_r:vpnc_t:s0"}, "object": {"primary": "user_u:system_r:vpnc_t:s0", "secondary": "capability"}, "how": "sh"},
        {},
    ),
    (
        # go-libaudit ubuntu-16.10-linux-4.8.0 "ANOM_PROMISCUOUS". That golden repeats "info" in
        # event.type (the record's and the syscall's lists concatenated); we list each value once,
        # as Elastic's Auditd Logs integration does in its coalesce pipeline.
        "anom_promiscuous",
        """type=ANOM_PROMISCUOUS msg=audit(1492734742.981:753): dev=ens4 prom=0 old_prom=256 auid=1001 uid=0 gid=0 ses=1
type=SYSCALL msg=audit(1492734742.981:753): arch=c000003e syscall=16 success=yes exit=0 a0=4 a1=8914 a2=7ffdaff944b0 a3=0 items=0 ppid=1852 pid=1926 auid=1001 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="ifconfig" exe="/sbin/ifconfig" key=(null)""",
        "ioctl", None, "changed-promiscuous-mode-on-device", ["intrusion_detection", "process"], ["info", "change"],
        {"actor": {"primary": "1001", "secondary": "0"}, "object": {"type": "network-device", "primary": "ens4"}, "how": "/sbin/ifconfig"},
        {},
    ),
    (
        # go-libaudit ubuntu-16.10-linux-4.8.0 "SERVICE_START": "?" values count as absent.
        "service_start",
        """type=SERVICE_START msg=audit(1492625990.183:4083): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='unit=rsyslog comm="systemd" exe="/lib/systemd/systemd" hostname=? addr=? terminal=? res=success'""",
        None, None, "started-service", ["process"], ["start"],
        {"actor": {"primary": "unset", "secondary": "0"}, "object": {"type": "service", "primary": "rsyslog"}, "how": "/lib/systemd/systemd"},
        {},
    ),
    (
        # go-libaudit ubuntu-17.04-linux-4.10.0 "rename syscall": object_path_index 2 names the DELETE item.
        "rename",
        """type=SYSCALL msg=audit(1493125524.089:126): arch=c000003e syscall=82 success=yes exit=0 a0=55942f993060 a1=55942fb79090 a2=fffffffffffffeb0 a3=55942fb79090 items=4 ppid=3207 pid=3231 auid=1001 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=5 comm="vim" exe="/usr/bin/vim.basic" key="auditconfig"
type=PATH msg=audit(1493125524.089:126): item=0 name="/etc/audit/rules.d/" inode=271071 dev=08:01 mode=040750 ouid=0 ogid=0 rdev=00:00 nametype=PARENT
type=PATH msg=audit(1493125524.089:126): item=1 name="/etc/audit/rules.d/" inode=271071 dev=08:01 mode=040750 ouid=0 ogid=0 rdev=00:00 nametype=PARENT
type=PATH msg=audit(1493125524.089:126): item=2 name="/etc/audit/rules.d/audit.rules" inode=271112 dev=08:01 mode=0100640 ouid=0 ogid=0 rdev=00:00 nametype=DELETE
type=PATH msg=audit(1493125524.089:126): item=3 name="/etc/audit/rules.d/audit.rules~" inode=271112 dev=08:01 mode=0100640 ouid=0 ogid=0 rdev=00:00 nametype=CREATE""",
        "rename", None, "renamed", ["file"], ["change"],
        {"actor": {"primary": "1001", "secondary": "0"}, "object": {"type": "file", "primary": "/etc/audit/rules.d/audit.rules"}, "how": "/usr/bin/vim.basic"},
        {},
    ),
]


@pytest.mark.parametrize(
    ("lines", "syscall", "socket", "action", "categories", "types", "summary", "entities"),
    [case[1:] for case in CASES], ids=[case[0] for case in CASES],
)
def test_summary_of_realistic_events(
    lines: str, syscall: str | None, socket: dict | None, action: str, categories: list, types: list,
    summary: dict, entities: dict,
) -> None:
    got = summary_of(lines, syscall, socket)
    assert got is not None
    assert got["event"] == {"action": action, "category": categories, "type": types}
    assert got["auditd"]["summary"] == summary
    assert got["entities"] == entities


def test_source_ip_from_the_record_when_the_row_says_so() -> None:
    got = summary_of(CASES[5][1])
    assert (got["source"], got["network"]) == ({"ip": "1.128.3.4"}, {"direction": "ingress"})
    assert "source" not in summary_of(CASES[7][1])  # ADD_USER's row takes no source


def test_no_row_no_summary() -> None:
    assert summary_of("type=PROCTITLE msg=audit(1.000:1): proctitle=6C73") is None
    assert summary_of(CASES[12][1].replace("avc:  denied", "no verdict")) is None


def test_apply_entities_replaces_and_removes_as_auditbeat_does() -> None:
    # auditd_manager test-userlogin-events.json-expected.json: the failed login keeps no user.id.
    doc = {"user": {"id": "0", "name": "root", "effective": {"id": "0"}}}
    apply_entities(doc, {"user": {}, "user.effective": {"name": "(unknown)"}})
    assert doc == {"user": {"effective": {"name": "(unknown)"}}}
    doc = {"user": {"id": "0"}}
    apply_entities(doc, {"user": {"id": "1000"}, "group": {"id": "1004"}})
    assert doc == {"user": {"id": "1000"}, "group": {"id": "1004"}}
