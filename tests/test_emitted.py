"""The table of what documents hold (auditproc/emitted.py) against documents built from the fixtures."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditproc.emitted import PROFILES, vocabulary
from auditproc.normalize import EcsSettings
from auditproc.pipeline import PipelineSettings, Reporter, RunStats, enriched_documents
from tests.conftest import FIXTURES

# No fixture has a full SELinux context; its parts are fields of their own.
SELINUX_LOG = (
    b'type=SYSCALL msg=audit(1718000000.000:1): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=2 uid=0 '
    b'comm="x" exe="/x" subj=system_u:system_r:sshd_t:s0-s0:c0.c1023\n'
    b'type=EXECVE msg=audit(1718000000.000:1): argc=1 a0="x"\n'
)


@functools.cache
def fixture_documents(profile: str, extra: Path | None = None) -> tuple[dict, ...]:
    """Every document of the fixture logs, enriched and shaped by ``profile``."""
    logs = sorted(map(str, [*FIXTURES.glob("*.log"), *(FIXTURES / "alerts").glob("*.log"),
                            *(FIXTURES / "trail").glob("*.log")]))
    settings = PipelineSettings(ecs=EcsSettings(host_name="h"), profile=profile, kinds=None)
    quiet = Reporter(stream=open("/dev/null", "w"))  # noqa: SIM115 - garbage.log's lines are its point
    return tuple(enriched_documents([*logs, *([str(extra)] if extra else [])], settings, RunStats(), quiet))


def leaves(doc: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(dotted field, value) for every leaf; an array of objects is one object per element, as EQL reads it."""
    for key, value in doc.items():
        name = prefix + key
        if isinstance(value, dict):
            yield from leaves(value, name + ".")
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for item in value:
                yield from leaves(item, name + ".")
        else:
            yield name, value


@pytest.mark.parametrize("profile", PROFILES)
def test_table_is_what_documents_hold(profile: str, tmp_path: Path) -> None:
    log = tmp_path / "selinux.log"
    log.write_bytes(SELINUX_LOG)
    shape = vocabulary()[profile]
    seen: dict[str, set] = {}
    for doc in fixture_documents(profile, log):
        for name, value in leaves(doc):
            seen.setdefault(name, set()).update(value if isinstance(value, list) else [value])
    assert sorted(name for name in seen if not shape.has(name)) == []  # every field produced is declared
    exact = {name for name in shape.fields if not name.endswith(".*")}
    assert sorted(exact - seen.keys()) == []  # every field declared is produced
    for prefix in shape.fields - exact:
        assert any(name.startswith(prefix[:-1]) for name in seen), prefix
    for name, values in shape.values.items():
        assert seen[name] <= values, name  # closed fields hold nothing else


def test_profiles_differ_where_the_readme_says() -> None:
    auditd, endpoint = vocabulary()["auditd"], vocabulary()["endpoint"]
    assert "executed" in auditd.values["event.action"] and "exec" not in auditd.values["event.action"]
    assert "exec" in endpoint.values["event.action"] and "executed" not in endpoint.values["event.action"]
    assert auditd.has("user.effective.id")  # endpoint reshapes exec documents only: the trail keeps it too
    assert endpoint.has("process.real_user.id") and not auditd.has("process.real_user.id")
    assert not auditd.has("process.env_vars") and not endpoint.has("process.Ext.token.integrity_level_name")
    assert auditd.has("auditd.data.a0") and {"process", "file", "network", "iam"} <= auditd.categories
    # a connection in Defend's words: connection_attempted / connection_accepted for connected-to / accepted-connection-from
    assert {"connection_attempted", "connection_accepted"} <= endpoint.values["event.action"]
    assert not {"connected-to", "accepted-connection-from"} & endpoint.values["event.action"]
    assert {"connected-to", "accepted-connection-from"} <= auditd.values["event.action"]
    assert not {"connection_attempted", "connection_accepted"} & auditd.values["event.action"]
