"""`auditproc follow` across stops and restarts, signals, and its start options."""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
import time
from collections import defaultdict
from pathlib import Path

from tests.follow.conftest import HPING_RULE, NPING_RULE, REPO, Follower, wait_for

MIX = ["hping3", "ls", "nping", "ls", "hping3"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sigterm_then_restart_emits_what_was_written_meanwhile_once(writer, follower):
    writer.write(b"")
    follower.start()
    writer.burst(MIX)
    follower.wait_alerts(writer.expected)
    assert follower.stop(signal.SIGTERM) == 0
    assert _mode(follower.state) == 0o600
    writer.burst(MIX * 2)
    data, _ = writer.event("hping3")
    writer.write(data[:100])  # auditd stopped mid-flush: the rest comes after the restart
    follower.start()
    writer.write(data[100:])
    writer.burst(MIX)
    follower.wait_alerts(writer.expected)
    follower.assert_exactly(writer.expected)


def test_restart_after_two_rotations_while_stopped(writer, follower):
    writer.write(b"")
    follower.start()
    writer.burst(MIX)
    follower.wait_alerts(writer.expected)
    assert follower.stop() == 0
    writer.write(writer.events(MIX))  # the checkpointed file grows, then becomes audit.log.2
    writer.rotate_rename(generations=4)
    writer.write(writer.events(MIX))
    writer.rotate_rename(generations=4)
    writer.write(writer.events(["nping", "ls"]))
    assert writer.rotated(2).exists()
    follower.start()
    writer.burst(MIX)
    follower.wait_alerts(writer.expected)
    follower.assert_exactly(writer.expected)


def test_corrupt_state_file_says_so_and_starts_at_the_end(writer, follower):
    writer.write(writer.events(MIX))  # before the start: not to be alerted on
    before = list(writer.expected)
    follower.state.parent.mkdir(mode=0o700)
    follower.state.write_bytes(b'{"version": 1, "dev": 12, "ino"')
    follower.start()
    follower.wait_stderr("corrupt state")

    def state_rewritten() -> bool:
        try:
            return json.loads(follower.state.read_bytes())["offset"] > 0
        except ValueError:
            return False
    wait_for(state_rewritten, what="a new checkpoint")
    writer.burst(MIX)
    after = writer.expected[len(before):]
    follower.wait_alerts(after)
    follower.assert_exactly(after)
    assert follower.proc.poll() is None
    assert _mode(follower.state) == 0o600


def test_kill9_then_restart_loses_nothing(writer, follower):
    writer.write(b"")
    follower.start()
    stop = threading.Event()

    def keep_writing() -> None:
        # ~25 events/s in small partial bursts while the follower dies and comes back
        while not stop.is_set():
            writer.burst(["hping3", "ls", "nping"], pause=0.02)
            time.sleep(0.08)

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        time.sleep(0.8)
        follower.kill9()
        time.sleep(0.3)
        follower.start()
        time.sleep(0.6)
    finally:
        stop.set()
        thread.join()
    assert len(writer.expected) < 90  # under the rules' max_signals
    follower.wait_alerts(writer.expected)
    got = follower.alert_keys()
    assert set(got) == set(writer.expected)  # every one at least once, nothing else
    ids = defaultdict(set)
    for alert in follower.alerts():
        ids[(alert["process"]["pid"], alert["rule"]["id"])].add(alert["event"]["id"])
    assert all(len(v) == 1 for v in ids.values())  # a repeat is the same alert (same event.id)


def test_sigint_exits_0_and_writes_the_checkpoint(writer, follower, log):
    writer.write(writer.events(MIX))
    follower.start("--from-start", "--checkpoint-interval", "60", wait_ready=False)
    follower.wait_alerts(writer.expected)
    assert not follower.state.exists()  # no periodic checkpoint yet: only the one at exit
    assert follower.stop(signal.SIGINT) == 0
    saved = json.loads(follower.state.read_bytes())
    st = log.stat()
    assert (*saved["file"][:2], saved["offset"]) == (st.st_dev, st.st_ino, st.st_size)
    assert _mode(follower.state) == 0o600
    follower.start()
    writer.burst(["nping"])
    follower.wait_alerts(writer.expected)
    follower.assert_exactly(writer.expected)


def test_sighup_with_broken_rules_keeps_the_old_ones(writer, follower, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    shipped = REPO / "rules"
    (rules / "hping.toml").write_bytes((shipped / "discovery_linux_hping_activity.toml").read_bytes())
    nping = (shipped / "discovery_linux_nping_activity.toml").read_text()
    writer.write(b"")
    follower.start("--rules", str(rules))
    expect: list[tuple[int, str]] = []

    def write(name: str) -> None:
        _, pid = writer.event(name)
        writer.write(_)
        if name == "hping3" or (name == "nping" and nping_on):
            expect.append((pid, HPING_RULE if name == "hping3" else NPING_RULE))

    nping_on = False
    write("hping3")
    write("nping")
    follower.wait_alerts(expect)
    broken = nping.replace('process.name == "nping"', 'process.name == ("nping"')
    assert broken != nping
    (rules / "nping.toml").write_text(broken)
    follower.send(signal.SIGHUP)
    follower.wait_stderr("reload failed")
    assert "nping.toml" in follower.stderr()  # the message says which file is broken
    write("hping3")
    write("nping")
    follower.wait_alerts(expect)
    (rules / "nping.toml").write_text(nping)
    follower.send(signal.SIGHUP)
    follower.wait_stderr("rules reloaded")
    nping_on = True
    write("nping")
    write("hping3")
    follower.wait_alerts(expect)
    follower.assert_exactly(expect)
    assert follower.stop() == 0


def test_sighup_with_a_rule_nesting_too_deep_keeps_the_old_ones(writer, follower, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    hping = (REPO / "rules" / "discovery_linux_hping_activity.toml").read_text()
    (rules / "hping.toml").write_text(hping)
    writer.write(b"")
    follower.start("--rules", str(rules))
    expect: list[tuple[int, str]] = []

    def hping3() -> None:
        data, pid = writer.event("hping3")
        writer.write(data)
        expect.append((pid, HPING_RULE))
        follower.wait_alerts(expect)

    hping3()
    deep = hping.replace("process where ", "process where " + "not not " * 250, 1)  # issue 10: a RecursionError
    assert deep != hping
    (rules / "hping.toml").write_text(deep)
    follower.send(signal.SIGHUP)
    follower.wait_stderr("reload failed")
    assert "hping.toml" in follower.stderr() and "nests more than" in follower.stderr()
    hping3()
    assert follower.proc is not None and follower.proc.poll() is None
    follower.assert_exactly(expect)
    assert follower.stop() == 0


def test_default_start_is_the_end_of_the_file(writer, follower):
    writer.write(writer.events(MIX))
    old = len(writer.expected)
    follower.start()
    writer.burst(MIX)
    follower.wait_alerts(writer.expected[old:])
    follower.assert_exactly(writer.expected[old:])


def test_from_start_reads_the_whole_file(writer, follower):
    writer.write(writer.events(MIX))
    follower.start("--from-start", wait_ready=False)
    writer.burst(MIX)
    follower.wait_alerts(writer.expected)
    follower.assert_exactly(writer.expected)


def test_events_option_prints_every_process_event(writer, follower):
    writer.write(b"")
    follower.start("--events")
    first = writer.next_pid
    writer.burst(MIX * 2)
    follower.wait_alerts(writer.expected)
    events = [d for d in follower.docs() if d["event"]["kind"] == "event"]
    assert sorted(d["process"]["pid"] for d in events) == list(range(first, writer.next_pid))
    assert {d["process"]["name"] for d in events} == {"hping3", "nping", "ls"}
    follower.assert_exactly(writer.expected)


def test_state_file_is_private_even_with_a_lax_umask(writer, tmp_path, log):
    old = os.umask(0)
    try:
        f = Follower(tmp_path, log, tmp_path / "state.json")
        writer.write(b"")
        try:
            f.start()
            assert _mode(f.state) == 0o600
            assert f.stop() == 0
            assert _mode(f.state) == 0o600
        finally:
            f.cleanup()
    finally:
        os.umask(old)
