"""Sequence and sample rules in the detector: alerts as Kibana shapes them, exceptions, max_signals, state.

The engine's semantics are tested in tests/eql/; here, what a rule file with a sequence does in
``replay`` and in the Detector a follower runs: a shell alert and one building-block alert per matched
event sharing a group id, exceptions that remove an event from the sequences (Kibana sends a rule's
exceptions as the EQL request's filter: Elasticsearch never sees an excepted event), max_signals per
matched sequence, and partial sequences that survive a checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from auditproc.alerts import AlertSettings
from auditproc.cli import app
from auditproc.detect import Detector
from auditproc.eql import StreamLimits
from auditproc.ruletable import RuleTable
from tests.conftest import REPO, make_rule
from tests.hostile.test_rules import RULE

SESSION_LOG = REPO / "fixtures" / "alerts" / "discovery-session.log"
# The session runs `sh -c …` (pid 3001), which starts hping3: a shell and its child, joined on the pid.
SHELL_THEN_HPING = (
    "sequence by host.id with maxspan=1m\n"
    '  [process where process.name == "sh"] by process.pid\n'
    '  [process where process.name == "hping3"] by process.parent.pid'
)

BASH_THEN_NPING = (
    "sequence by host.id\n"
    '  [process where process.name == "bash"] by process.pid\n'
    '  [process where process.name == "nping"] by process.parent.pid'
)


def write_rule(folder: Path, query: str, rule_id: str = "seq-1", extra: str = "") -> Path:
    folder.mkdir(exist_ok=True)
    text = RULE.format(rule_id=rule_id, name=f"rule {rule_id}", query=query)
    (folder / f"{rule_id}.toml").write_text(text.replace('type = "eql"', 'type = "eql"' + extra))
    return folder


def replay(*args: str) -> list[dict]:
    result = CliRunner().invoke(app, ["replay", "-q", "--host", "web-01", "--host-id", "h-1", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_sequence_alerts_with_a_shell_and_a_building_block_per_event(tmp_path: Path) -> None:
    alerts = replay("--rules", str(write_rule(tmp_path / "r", SHELL_THEN_HPING)), str(SESSION_LOG))
    shell, *blocks = alerts
    assert [b["process"]["name"] for b in blocks] == ["sh", "hping3"]
    group = shell["event"]["id"]
    assert shell["auditproc"]["alert"] == {"group": {"id": group}, "size": 2}
    assert [b["auditproc"]["alert"] for b in blocks] == [
        {"group": {"id": group, "index": n}, "building_block_type": "default"} for n in range(2)
    ]
    # The shell: what every event shares (the join keys among it), at the last event's time.
    assert shell["host"]["id"] == "h-1"
    assert "name" not in shell.get("process", {})  # sh and hping3 differ: no process name is shared
    assert shell["@timestamp"] == blocks[-1]["@timestamp"] == shell["event"]["end"]
    assert shell["event"]["start"] == blocks[0]["@timestamp"]
    assert shell["event"]["kind"] == "alert" and shell["rule"]["id"] == "seq-1"
    assert "sequence of 2 events (process ×2) joined on host.id h-1, process.pid 3001" in shell["event"]["reason"]
    # Every id differs, and a replay repeats them.
    ids = [a["event"]["id"] for a in alerts]
    assert len(set(ids)) == 3
    again = replay("--rules", str(tmp_path / "r"), str(SESSION_LOG))
    assert [a["event"]["id"] for a in again] == ids


def test_kibana_compat_names_the_group_and_the_building_blocks(tmp_path: Path) -> None:
    alerts = replay("--kibana-compat", "--rules", str(write_rule(tmp_path / "r", SHELL_THEN_HPING)), str(SESSION_LOG))
    shell, *blocks = alerts
    group = shell["event"]["id"]
    assert shell["kibana"]["alert"]["group"] == {"id": group}
    assert shell["kibana"]["alert"]["reason"] == shell["event"]["reason"]
    for index, block in enumerate(blocks):
        assert block["kibana"]["alert"]["group"] == {"id": group, "index": index}
        assert block["kibana"]["alert"]["building_block_type"] == "default"


@pytest.mark.parametrize(
    ("query", "fires"),
    [
        (SHELL_THEN_HPING, True),
        (SHELL_THEN_HPING.replace("hping3", "nping"), False),  # nping is not sh's child
        (SHELL_THEN_HPING.replace("maxspan=1m", "maxspan=5ms"), False),  # 10 ms apart
        (SHELL_THEN_HPING.replace("by process.parent.pid", "by process.pid"), False),  # wrong join key
        (  # wrong order
            "sequence by host.id [process where process.name == \"hping3\"] [process where process.name == \"sh\"]",
            False,
        ),
        # bash (3000) then its child nping, 2 s later; sh, bash's child too, comes between
        (BASH_THEN_NPING, True),
        (BASH_THEN_NPING + '\nuntil [process where process.name == "sh"] by process.parent.pid', False),
        (BASH_THEN_NPING + '\nuntil [process where process.name == "vim"] by process.parent.pid', True),  # after
        ('sample by host.id [process where process.name == "hping3"] [process where process.name == "sh"]', True),
    ],
)
def test_replay_runs_sequence_and_sample_rules(tmp_path: Path, query: str, fires: bool) -> None:
    alerts = replay("--rules", str(write_rule(tmp_path / "r", query)), str(SESSION_LOG))
    assert len(alerts) == (3 if fires else 0)


def test_an_exception_on_one_event_removes_it_from_the_sequence(tmp_path: Path) -> None:
    rules = write_rule(tmp_path / "r", SHELL_THEN_HPING)
    exceptions = tmp_path / "exceptions.ndjson"
    lists = [
        {"list_id": "no-sh", "type": "detection", "namespace_type": "single", "name": "sh is fine"},
        {
            "list_id": "no-sh", "item_id": "i1", "name": "sh", "type": "simple", "namespace_type": "single",
            "entries": [{"field": "process.name", "operator": "included", "type": "match", "value": "sh"}],
        },
    ]
    exceptions.write_bytes(b"\n".join(orjson.dumps(item) for item in lists))
    toml = rules / "seq-1.toml"
    toml.write_text(toml.read_text().replace(
        "[rule]\n", '[rule]\nexceptions_list = [{id = "no-sh", list_id = "no-sh", namespace_type = "single", '
        'type = "detection"}]\n', 1))
    assert replay("--rules", str(rules), "--exceptions", str(exceptions), str(SESSION_LOG)) == []
    assert len(replay("--rules", str(rules), str(SESSION_LOG))) == 3


# --- the Detector a follower runs -----------------------------------------------------------------


def doc(serial: int, ms: int, name: str, pid: int, ppid: int) -> dict:
    return {
        "@timestamp": f"2026-12-05T10:00:{ms // 1000:02d}.{ms % 1000:03d}Z",
        "event": {"category": ["process"], "type": ["start"], "action": "executed", "sequence": serial},
        "host": {"name": "h", "id": "h-1"},
        "process": {"name": name, "pid": pid, "parent": {"pid": ppid}},
    }


STREAM = [doc(1, 0, "sh", 10, 1), doc(2, 500, "ls", 11, 1), doc(3, 1000, "hping3", 12, 10)]


def detector(query: str = SHELL_THEN_HPING, limits: StreamLimits | None = None, max_signals: int = 100) -> Detector:
    rule = make_rule(query)
    object.__setattr__(rule, "max_signals", max_signals)
    return Detector(RuleTable([rule]), AlertSettings(), limits=limits)


def test_the_reorder_window_holds_a_sequence_until_time_passes() -> None:
    found = detector(limits=StreamLimits(reorder_ms=2000))
    assert [a for d in STREAM for a in found.process(d)] == []  # the last event may still be preceded
    assert found.tick(found._newest_at + 1.0) == []  # 1 s later: still inside the window
    shell, *blocks = found.tick(found._newest_at + 2.5)
    assert [b["process"]["name"] for b in blocks] == ["sh", "hping3"]
    assert found.finish() == []  # released once only


def test_max_signals_counts_sequences() -> None:
    stream = []  # four shells, each starting hping3
    for n in range(4):
        stream += [doc(2 * n, 100 * n, "sh", 100 + n, 1), doc(2 * n + 1, 100 * n + 10, "hping3", 200 + n, 100 + n)]
    found = detector(limits=StreamLimits(reorder_ms=0), max_signals=2)
    alerts = [a for d in stream for a in found.process(d)] + found.finish()
    shells = [a for a in alerts if "size" in a["auditproc"].get("alert", {})]
    assert len(shells) == 2 and found.stats.suppressed_by_max_signals["test rule 0"] == 2
    assert any("suppressed" in a["auditproc"] for a in alerts)  # the overflow summary


def test_partial_sequences_survive_a_checkpoint_and_complete_once() -> None:
    before = detector()
    assert before.process(STREAM[0]) == []
    state = orjson.loads(orjson.dumps(before.to_state()))  # as the checkpoint file holds it
    assert before.finish(flush_sequences=False) == []  # a follower that stops keeps it for the next start
    after = detector()
    after.from_state(state, pytest.fail)
    alerts = [a for d in STREAM[1:] for a in after.process(d)] + after.finish()
    assert [a["process"]["name"] for a in alerts[1:]] == ["sh", "hping3"]


def test_a_state_for_another_query_is_said_and_ignored() -> None:
    first = detector()
    first.process(STREAM[0])
    state = first.to_state()
    said: list[str] = []
    changed = detector(SHELL_THEN_HPING.replace("1m", "2m"))
    changed.from_state(state, said.append)
    assert said and "not restored" in said[0]
    assert len([a for d in STREAM for a in changed.process(d)] + changed.finish()) == 3  # it starts afresh


def test_the_command_line_defaults_are_the_engines() -> None:
    from auditproc import cli
    from auditproc.eql.sequence import DEFAULT_HORIZON_MS, DEFAULT_MAX_PARTIALS

    assert cli.DEFAULT_MAX_PARTIALS == DEFAULT_MAX_PARTIALS
    assert cli._sequence_limits(DEFAULT_MAX_PARTIALS, cli.DEFAULT_HORIZON, 5000, None).horizon_ms == DEFAULT_HORIZON_MS


def test_a_hostile_stream_stays_within_the_cap_and_says_so(tmp_path: Path) -> None:
    """Shells that never start hping3: each opens a partial sequence; the cap holds and --stats counts."""
    lines = []
    for n in range(300):
        serial, pid = 1000 + n, 5000 + n
        hdr = f"msg=audit(1733390000.{n:03d}:{serial}):"
        lines += [
            f"type=SYSCALL {hdr} arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 "
            f'pid={pid} auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 '
            f'tty=pts0 ses=3 comm="sh" exe="/usr/bin/dash" key=(null)',
            f'type=EXECVE {hdr} argc=1 a0="sh"',
            f"type=PROCTITLE {hdr} proctitle=7368",
        ]
    log = tmp_path / "audit.log"
    log.write_text("\n".join(lines) + "\n")
    rules = write_rule(tmp_path / "r", SHELL_THEN_HPING)
    result = CliRunner().invoke(app, ["replay", "--stats", "--max-partials", "50", "--rules", str(rules), str(log)])
    assert result.exit_code == 0 and result.stdout == ""
    assert "sequences: 250 partial sequences evicted by the cap" in result.stderr
