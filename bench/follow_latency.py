"""Alert latency of `auditproc follow` on a live log, and its CPU use when idle.

A writer thread appends realistic events at a steady rate (one write per event, as auditd
flushes); a known fraction are hping3 execs, each of which the follower turns into one alert.
Latency = time the alert line is read from the follower's stdout − time the event's last record
was written. Then the log goes quiet and the follower's CPU use is read from /proc/<pid>/stat.

    .venv/bin/python bench/follow_latency.py [--rate 2000] [--seconds 20] [--idle-seconds 5]
        [--alert-fraction 0.02] [--idle-flush 0.2] [--poll-interval 1.0]

Prints a Markdown table. The rules are the shipped hping rule with max_signals raised: the
shipped 100 alerts per 5 minutes would otherwise summarise most of the measured alerts away.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HPING_RULE_FILE = REPO / "rules" / "discovery_linux_hping_activity.toml"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def exec_event(serial: int, pid: int, name: str, exe: str, args: list[str]) -> bytes:
    now = time.time()
    hdr = f"msg=audit({int(now)}.{int(now * 1000) % 1000:03d}:{serial}):"
    execve = " ".join(f'a{i}="{a}"' for i, a in enumerate(args))
    title = "00".join(a.encode().hex().upper() for a in args)
    return (
        f"type=SYSCALL {hdr} arch=c000003e syscall=59 success=yes exit=0 a0=55f1c2a3e0b0 a1=55f1c2a41c80 "
        f"a2=55f1c2a3f900 a3=8 items=2 ppid=3000 pid={pid} auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 "
        f'egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="{name}" exe="{exe}" subj=unconfined key="exec"\n'
        f"type=EXECVE {hdr} argc={len(args)} {execve}\n"
        f'type=CWD {hdr} cwd="/root"\n'
        f'type=PATH {hdr} item=0 name="{exe}" inode=1837 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 '
        "nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n"
        f"type=PROCTITLE {hdr} proctitle={title}\n"
    ).encode()


def other_event(serial: int, pid: int) -> bytes:
    """A non-exec syscall (openat), the bulk of a real log: parsed and dropped by the follower."""
    now = time.time()
    hdr = f"msg=audit({int(now)}.{int(now * 1000) % 1000:03d}:{serial}):"
    return (
        f"type=SYSCALL {hdr} arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd3c2a a2=0 a3=0 "
        f"items=1 ppid=3000 pid={pid} auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 "
        f'sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="cat" exe="/usr/bin/cat" subj=unconfined key="files"\n'
        f'type=PATH {hdr} item=0 name="/etc/hosts" inode=4242 dev=08:01 mode=0100644 ouid=0 ogid=0 '
        "rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n"
        f"type=PROCTITLE {hdr} proctitle=636174002F6574632F686F737473\n"
    ).encode()


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]  # nearest rank


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=2000, help="events per second written")
    ap.add_argument("--seconds", type=float, default=20.0, help="how long to write")
    ap.add_argument("--idle-seconds", type=float, default=5.0, help="quiet time for the idle CPU figure")
    ap.add_argument("--alert-fraction", type=float, default=0.02, help="share of events that are hping3 execs")
    ap.add_argument("--exec-fraction", type=float, default=0.4, help="share that are other execs (no alert)")
    ap.add_argument("--idle-flush", type=float, default=None, help="passed to follow (default: its own, 0.2)")
    ap.add_argument("--poll-interval", type=float, default=None, help="passed to follow (default: its own)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="follow-bench-") as tmp:
        work = Path(tmp)
        log, rules = work / "audit.log", work / "rules"
        rules.mkdir()
        text = HPING_RULE_FILE.read_text()
        (rules / "hping.toml").write_text(text.replace("[rule]\n", "[rule]\nmax_signals = 100000000\n", 1))
        log.touch(mode=0o600)
        cmd = [sys.executable, "-m", "auditproc.cli", "follow", str(log), "--state", str(work / "state.json"),
               "--from-start", "--host", "web-01", "--rules", str(rules)]
        if args.idle_flush is not None:
            cmd += ["--idle-flush", str(args.idle_flush)]
        if args.poll_interval is not None:
            cmd += ["--poll-interval", str(args.poll_interval)]
        err = open(work / "stderr.txt", "wb")  # noqa: SIM115 - closed at the end
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=err)
        try:
            return run(args, proc, log, work)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            err.close()


def run(args: argparse.Namespace, proc: subprocess.Popen, log: Path, work: Path) -> int:
    deadline = time.monotonic() + 20
    while b"following " not in (work / "stderr.txt").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.stderr.write((work / "stderr.txt").read_text())
            return 1
        time.sleep(0.02)

    written: dict[int, int] = {}  # pid of an hping3 exec → monotonic ns after its write returned
    received: dict[int, int] = {}  # pid → monotonic ns when its alert line was read
    import orjson

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            t = time.monotonic_ns()
            received.setdefault(orjson.loads(line)["process"]["pid"], t)

    threading.Thread(target=reader, daemon=True).start()

    rng = random.Random(1)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    serial, pid = 1000, 100000
    interval = 1.0 / args.rate
    t0 = time.monotonic()
    cpu0 = cpu_ticks(proc.pid)
    n = 0
    while (now := time.monotonic()) - t0 < args.seconds:
        due = int((now - t0) / interval) + 1
        while n < due:  # catch up in one go after a late wake-up, one write per event
            serial += 1
            pid += 1
            n += 1
            r = rng.random()
            if r < args.alert_fraction:
                os.write(fd, exec_event(serial, pid, "hping3", "/usr/sbin/hping3",
                                        ["hping3", "-S", "-p", "80", "-c", "1", f"10.0.{pid % 250}.1"]))
                written[pid] = time.monotonic_ns()
            elif r < args.alert_fraction + args.exec_fraction:
                os.write(fd, exec_event(serial, pid, "ls", "/usr/bin/ls", ["ls", "-la", f"/tmp/d{pid}"]))
            else:
                os.write(fd, other_event(serial, pid))
        time.sleep(max(0.0, t0 + n * interval - time.monotonic()))
    elapsed = time.monotonic() - t0
    load_cpu = (cpu_ticks(proc.pid) - cpu0) / CLK_TCK / elapsed
    os.close(fd)

    end = time.monotonic() + 5
    while len(received) < len(written) and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(1.0)  # let the follower settle before measuring it idle
    c0, w0 = cpu_ticks(proc.pid), time.monotonic()
    time.sleep(args.idle_seconds)
    idle_cpu = (cpu_ticks(proc.pid) - c0) / CLK_TCK / (time.monotonic() - w0)

    lat = [(received[p] - t) / 1e6 for p, t in written.items() if p in received]
    missing = len(written) - len(lat)
    extra = len(set(received) - set(written))
    if not lat:
        print("no alerts received", file=sys.stderr)
        return 1
    print(f"`auditproc follow` latency, {datetime.date.today()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}; idle flush "
          f"{args.idle_flush or 'default (0.2)'} s\n")
    print("| rate (events/s) | written | alerts | missing | p50 ms | p95 ms | p99 ms | max ms "
          "| CPU under load | CPU idle |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {n / elapsed:,.0f} | {n:,} | {len(lat):,} | {missing + extra} | {percentile(lat, 50):.0f} "
          f"| {percentile(lat, 95):.0f} | {percentile(lat, 99):.0f} | {max(lat):.0f} "
          f"| {load_cpu:.0%} | {idle_cpu:.2%} |")
    return 0 if missing == 0 and extra == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
