"""`auditproc follow` with a sequence rule: a partial sequence survives a restart, and completes once."""

from __future__ import annotations

import io
import json
import signal
import time
from pathlib import Path

from auditproc import follow
from auditproc.checkpoint import Checkpoint, FileMark
from auditproc.pipeline import Reporter
from tests.follow.conftest import Follower, wait_for
from tests.hostile.test_rules import RULE

NPING_THEN_HPING = (
    "sequence by host.id with maxspan=1m "
    '[process where process.name == "nping"] by process.parent.pid '
    '[process where process.name == "hping3"] by process.parent.pid'
)


def _rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "seq.toml").write_text(RULE.format(rule_id="seq", name="nping then hping3", query=NPING_THEN_HPING))
    return folder


def _partials(state: Path) -> dict:
    return json.loads(state.read_bytes()).get("correlation", {}) if state.exists() else {}


def test_a_partial_sequence_survives_a_restart_and_completes_once(writer, follower: Follower, tmp_path: Path):
    # A short assembler window: the sequence waits that long (event time, then clock time) for
    # earlier events before it is decided.
    args = ("--rules", str(_rules(tmp_path)), "--window-ms", "200")
    writer.write(b"")
    follower.start(*args)
    writer.write(writer.event("nping")[0])
    wait_for(lambda: _partials(follower.state), what="the partial sequence in the checkpoint")
    assert follower.stop(signal.SIGTERM) == 0
    assert follower.alerts() == []  # stopping decides nothing: the checkpoint keeps it

    follower.start(*args)
    writer.write(writer.event("hping3")[0])
    wait_for(lambda: len(follower.alerts()) == 3, what="the shell alert and two building blocks")
    shell, *blocks = follower.alerts()
    assert [b["process"]["name"] for b in blocks] == ["nping", "hping3"]
    assert shell["auditproc"]["alert"]["size"] == 2
    assert follower.stop(signal.SIGTERM) == 0

    follower.start(*args)  # restarting after it completed repeats nothing
    writer.write(writer.event("hping3")[0])
    writer.write(writer.event("ls")[0])
    time.sleep(0.6)  # > window + idle flush: a repeat would have come
    assert follower.stop(signal.SIGTERM) == 0
    assert len(follower.alerts()) == 3


def test_a_sighup_reload_keeps_the_partial_sequences_of_unchanged_rules(writer, follower: Follower, tmp_path: Path):
    rules = _rules(tmp_path)
    writer.write(b"")
    follower.start("--rules", str(rules), "--window-ms", "200")
    writer.write(writer.event("nping")[0])
    wait_for(lambda: _partials(follower.state), what="the partial sequence in the checkpoint")
    follower.send(signal.SIGHUP)
    follower.wait_stderr("rules reloaded")
    writer.write(writer.event("hping3")[0])
    wait_for(lambda: len(follower.alerts()) == 3, what="the sequence, completed across the reload")
    # The checkpoint that still held the first partial must be gone, or the wait below ends at once on it
    # and the SIGHUP may come before the new partial is read (seen on a loaded 2-core box).
    wait_for(lambda: not _partials(follower.state).get("seq", {}).get("partials"), what="the completion checkpointed")
    # A rule whose query changed starts afresh: its partials are said and dropped.
    (rules / "seq.toml").write_text((rules / "seq.toml").read_text().replace("maxspan=1m", "maxspan=2m"))
    writer.write(writer.event("nping")[0])
    wait_for(lambda: _partials(follower.state).get("seq", {}).get("partials"), what="a new partial")
    follower.send(signal.SIGHUP)
    follower.wait_stderr("partial sequences not restored")
    writer.write(writer.event("hping3")[0])
    time.sleep(0.6)  # > window + idle flush: a sequence would have come
    assert follower.stop(signal.SIGTERM) == 0
    assert len(follower.alerts()) == 3


def test_kill9_around_a_sequence_loses_nothing_and_a_repeat_is_identical(writer, follower: Follower, tmp_path: Path):
    """kill -9 with the partial only in the checkpoint, then again right after the sequence's alert: the
    sequence is alerted, and if the second crash comes before the checkpoint moves, the repeat is the
    same alert (same ids, as single-event repeats are), never a different one."""
    args = ("--rules", str(_rules(tmp_path)), "--window-ms", "200")
    writer.write(b"")
    follower.start(*args)
    writer.write(writer.event("nping")[0])
    wait_for(lambda: _partials(follower.state), what="the partial sequence in the checkpoint")
    follower.kill9()
    follower.start(*args)
    writer.write(writer.event("hping3")[0])
    wait_for(lambda: len(follower.alerts()) >= 3, what="the sequence after a kill -9")
    follower.kill9()
    follower.start(*args)
    writer.write(writer.event("ls")[0])
    time.sleep(0.6)  # > window + idle flush: a repeat would have come
    assert follower.stop(signal.SIGTERM) == 0

    def identity(alert: dict) -> tuple:
        return alert["event"]["id"], alert["auditproc"]["alert"]["group"]["id"], alert.get("process", {}).get("pid")

    alerts = follower.alerts()
    groups = {a["auditproc"]["alert"]["group"]["id"] for a in alerts}
    assert len(groups) == 1 and len(alerts) in (3, 6)
    assert sorted(map(identity, alerts[:3])) == sorted(map(identity, alerts[3:])) or len(alerts) == 3


class _Partials:
    def __init__(self, state: dict) -> None:
        self.state = state

    def to_state(self) -> dict:
        return self.state


def test_partials_are_checkpointed_as_serialised_once_and_none_past_the_bound(tmp_path: Path, monkeypatch) -> None:
    said: list[str] = []
    reporter = Reporter(io.StringIO())
    monkeypatch.setattr(reporter, "say", said.append)
    state = {"seq": {"partials": [[1, 2, [{"process": {"name": "nping"}}], False]]}}
    saved = follow._correlation_state(_Partials(state), reporter)
    checkpoint = Checkpoint(FileMark(1, 2, 0, ""), 0, correlation=saved)
    checkpoint.save(tmp_path / "state")
    assert Checkpoint.load(tmp_path / "state").correlation == state and not said
    monkeypatch.setattr(follow, "MAX_CORRELATION_STATE_BYTES", 20)
    assert follow._correlation_state(_Partials(state), reporter) == {}
    assert said == ["partial sequences not checkpointed (0 MiB): a restart starts them afresh"]
    assert follow._correlation_state(_Partials({}), reporter) == {} and follow._correlation_state(None, reporter) == {}
