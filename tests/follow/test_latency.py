"""How soon after its last record an event's alert is out (the --idle-flush contract)."""

from __future__ import annotations

import time

from tests.follow.conftest import wait_for

IDLE_S = 1.0  # large, so the follower's own scheduling dominates test-machine noise


def test_alert_comes_right_after_the_idle_flush_when_other_records_follow(writer, follower):
    """An hping3 exec, then 0.3 idle flushes later an unrelated event, then quiet. The alert
    is due one idle flush after the hping3 records: not whenever the loop's next wait ends
    (it waited half an idle flush, counted from the last wake-up: 1.3 idle flushes here)."""
    writer.write(b"")
    # the default safety-net poll (1 s): a short one would hide how long the loop sleeps
    follower.start("--idle-flush", str(IDLE_S), "--poll-interval", "1.0")
    latencies = []
    for n in range(3):
        writer.write(writer.events(["hping3"]))
        written = time.monotonic()
        time.sleep(0.3 * IDLE_S)
        writer.write(writer.events(["ls"]))
        wait_for(lambda n=n: len(follower.alerts()) > n, timeout=5, what=f"alert {n + 1}")
        latencies.append(time.monotonic() - written)
    assert min(latencies) >= IDLE_S - 0.05, latencies  # not before its idle time
    assert max(latencies) <= IDLE_S * 1.2, latencies
    follower.assert_exactly(writer.expected)
