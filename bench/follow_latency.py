"""Alert latency of `auditproc follow` on a live log, its CPU use when idle, and the highest rate it keeps up with.

Latency mode (the default): a writer thread appends realistic events at a steady rate (one write
per event, as auditd flushes); a known fraction are hping3 execs, each of which the follower turns
into one alert. Latency = time the alert line is read from the follower's stdout − time the
event's last record was written. Then the log goes quiet and the follower's CPU use is read from
/proc/<pid>/stat.

    .venv/bin/python bench/follow_latency.py [--rate 2000] [--seconds 20] [--idle-seconds 5]
        [--alert-fraction 0.02] [--idle-flush 0.2] [--poll-interval 1.0]

``--sequence`` measures a sequence rule instead (two hping3 execs on one host within 10 s, so every
hping3 but the first completes one): latency from the write of the completing event to its
building-block alert. A sequence is decided once the assembler's window (``--window-ms``) has
passed after its last event, so that is its floor.

Keep-up mode (``--find-max alerts|events|both``): the writer appends ``gen_log.py --profile
dense`` events (35 % execs), one write per event, at rising rates until the follower falls
behind (its read offset, from /proc/<pid>/fdinfo, trails the writer by more than
``--max-lag`` seconds of writing when the writing stops), then repeats the highest rate that kept
up ``--rounds`` times and reports medians: latency of every output line (alert or document) from
the write of its event's last record, follower CPU per event, and ``replay -j 1`` CPU per event
on the same bytes (its start-up, measured on an empty log, taken off). ``alerts``: the shipped
rules, alerts only; ``events``: ``--events`` with the rules of ``--elastic-rules``.

    .venv/bin/python bench/follow_latency.py --find-max both [--seconds 5] [--start-rate 4000]
        [--step 1.25] [--rounds 3] [--max-lag 0.5] [--elastic-rules ../shared/elastic-rules]

Prints Markdown tables. Rules get max_signals raised: the shipped 100 alerts per 5 minutes would
otherwise summarise most of the measured alerts away.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
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
    ap.add_argument("--seconds", type=float, default=None, help="how long to write (default 20, keep-up: 5)")
    ap.add_argument("--idle-seconds", type=float, default=None, help="quiet time for the idle CPU figure "
                    "(default 5, keep-up: 3)")
    ap.add_argument("--alert-fraction", type=float, default=0.02, help="share of events that are hping3 execs")
    ap.add_argument("--exec-fraction", type=float, default=0.4, help="share that are other execs (no alert)")
    ap.add_argument("--idle-flush", type=float, default=None, help="passed to follow (default: its own, 0.2)")
    ap.add_argument("--poll-interval", type=float, default=None, help="passed to follow (default: its own)")
    ap.add_argument("--sequence", action="store_true", help="latency of a sequence rule's alerts (see above)")
    ap.add_argument("--window-ms", type=int, default=None, help="passed to follow (default: its own, 5000)")
    ap.add_argument("--find-max", choices=("alerts", "events", "both"), help="keep-up mode (see above)")
    ap.add_argument("--start-rate", type=int, default=4000, help="keep-up: first rate tried (events/s)")
    ap.add_argument("--step", type=float, default=1.25, help="keep-up: factor between rates tried")
    ap.add_argument("--rounds", type=int, default=3, help="keep-up: repeats at the highest rate kept up with")
    ap.add_argument("--max-lag", type=float, default=0.5, help="keep-up: most seconds of writing the reader "
                    "may trail by when the writing stops")
    ap.add_argument("--elastic-rules", type=Path, default=REPO.parent / "shared" / "elastic-rules",
                    help="keep-up: the rules of the events setup")
    args = ap.parse_args()
    if args.find_max:
        return find_max(args)
    args.seconds = 20.0 if args.seconds is None else args.seconds
    args.idle_seconds = 5.0 if args.idle_seconds is None else args.idle_seconds
    with tempfile.TemporaryDirectory(prefix="follow-bench-") as tmp:
        work = Path(tmp)
        rules = work / "rules"
        rules.mkdir()
        rule = unlimited(HPING_RULE_FILE.read_text())
        if args.sequence:
            rule = re.sub(r"(?s)query = ('{3}).*?\1", lambda m: f"query = {m[1]}{HPING_TWICE}{m[1]}", rule)
        (rules / "hping.toml").write_text(rule)
        with Follower(work, rules, follow_options(args)) as follower:
            return run(args, follower.proc, follower.log)


HPING_TWICE = (
    'sequence by host.id with maxspan=10s [process where process.name == "hping3"] '
    '[process where process.name == "hping3"]'
)


def unlimited(rule_text: str) -> str:
    """A rule file with max_signals raised so that no measured alert is summarised away."""
    if re.search(r"^max_signals\s*=", rule_text, re.M):
        return re.sub(r"^max_signals\s*=.*$", "max_signals = 100000000", rule_text, flags=re.M)
    return rule_text.replace("[rule]\n", "[rule]\nmax_signals = 100000000\n", 1)


def follow_options(args: argparse.Namespace) -> list[str]:
    options = []
    if args.idle_flush is not None:
        options += ["--idle-flush", str(args.idle_flush)]
    if args.poll_interval is not None:
        options += ["--poll-interval", str(args.poll_interval)]
    if getattr(args, "window_ms", None) is not None:
        options += ["--window-ms", str(args.window_ms)]
    return options


class Follower:
    """``auditproc follow --from-start`` on a new empty log in ``work``, started and ready; SIGTERM at exit."""

    def __init__(self, work: Path, rules: Path, options: list[str]) -> None:
        self.work, self.log, self.stderr = work, work / "audit.log", work / "stderr.txt"
        self.log.touch(mode=0o600)
        self.cmd = [sys.executable, "-m", "auditproc.cli", "follow", str(self.log), "--state",
                    str(work / "state.json"), "--from-start", "--host", "web-01", "--rules", str(rules), *options]

    def __enter__(self) -> Follower:
        self._err = open(self.stderr, "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(self.cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=self._err)
        deadline = time.monotonic() + 60
        while b"following " not in self.stderr.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise SystemExit(f"follow did not start:\n{self.stderr.read_text()}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()

    def read_offset(self) -> int:
        """Bytes the follower has read of the log: the file offset of its open descriptor."""
        for fd in os.listdir(f"/proc/{self.proc.pid}/fd"):
            try:
                if os.readlink(f"/proc/{self.proc.pid}/fd/{fd}") == str(self.log):
                    info = Path(f"/proc/{self.proc.pid}/fdinfo/{fd}").read_text()
                    return int(info.split("pos:", 1)[1].split()[0])
            except (OSError, IndexError):
                continue
        return 0


def run(args: argparse.Namespace, proc: subprocess.Popen, log: Path) -> int:
    written: dict[int, int] = {}  # pid of an hping3 exec → monotonic ns after its write returned
    received: dict[int, int] = {}  # pid → monotonic ns when its alert line was read
    import orjson

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            t = time.monotonic_ns()
            pid = orjson.loads(line).get("process", {}).get("pid")  # a sequence's shell alert has none
            if pid is not None:
                received.setdefault(pid, t)

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

    if args.sequence and written:  # the first hping3 completes no sequence: it waits for the second
        first = min(written)
        del written[first]
        received.pop(first, None)
    lat = [(received[p] - t) / 1e6 for p, t in written.items() if p in received]
    missing = len(written) - len(lat)
    extra = len(set(received) - set(written))
    if not lat:
        print("no alerts received", file=sys.stderr)
        return 1
    print(f"`auditproc follow` latency{' of a sequence rule' if args.sequence else ''}, {datetime.date.today()} on "
          f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; idle flush "
          f"{args.idle_flush or 'default (0.2)'} s, window {args.window_ms or 'default (5000)'} ms\n")
    print("| rate (events/s) | written | alerts | missing | p50 ms | p95 ms | p99 ms | max ms "
          "| CPU under load | CPU idle |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {n / elapsed:,.0f} | {n:,} | {len(lat):,} | {missing + extra} | {percentile(lat, 50):.0f} "
          f"| {percentile(lat, 95):.0f} | {percentile(lat, 99):.0f} | {max(lat):.0f} "
          f"| {load_cpu:.0%} | {idle_cpu:.2%} |")
    return 0 if missing == 0 and extra == 0 else 1



# --- keep-up mode ----------------------------------------------------------------------------------

SEQUENCE = re.compile(rb'"sequence":(\d+)')
SETUPS = {"alerts": "the shipped rules, alerts only", "events": "--events, Elastic's rules"}


class DensePool:
    """``gen_log.py --profile dense`` events, as writes: the consecutive lines of one event id."""

    def __init__(self) -> None:
        from gen_log import Generator  # bench/ is the script's directory, so on sys.path

        self._lines = Generator(1, False, None, "dense").lines(1 << 40)
        self._writes: list[tuple[int, bytes]] = []  # (serial, bytes)
        self._next: str | None = None

    def writes(self, events: int) -> list[tuple[int, bytes]]:
        """The first writes of the pool, holding records of at least ``events`` distinct events."""
        while not self._writes or self._writes[-1][0] - self._writes[0][0] < events:
            line = self._next or next(self._lines)
            ident = line[line.index("(") + 1:line.index(")")]
            chunk = [line]
            for line in self._lines:
                if line[line.index("(") + 1:line.index(")")] != ident:
                    self._next = line
                    break
                chunk.append(line)
            self._writes.append((int(ident.rsplit(":", 1)[1]), ("\n".join(chunk) + "\n").encode()))
        first = self._writes[0][0]
        return [w for w in self._writes if w[0] - first < events]


@dataclass
class Trial:
    """One run of the follower at one rate."""

    rate: float  # events per second actually written
    events: int
    lag_s: float  # how far the reader trailed when the writing stopped, in seconds of writing
    latencies_ms: list[float]
    cpu_us: float  # follower CPU per event, from the first write until everything was read and emitted
    idle: float = 0.0  # share of a core when quiet
    replay_us: float = 0.0  # replay -j 1 CPU per event on the same bytes, start-up taken off

    def kept_up(self, max_lag: float) -> bool:
        return self.lag_s <= max_lag

    def row(self, setup: str, max_lag: float) -> str:
        lat = self.latencies_ms or [float("nan")]
        replay, ratio = (f"{self.replay_us:.0f}", f"{self.cpu_us / self.replay_us:.2f}") if self.replay_us else ("", "")
        idle = f"{self.idle:.2%}" if self.replay_us else ""
        return (f"| {setup} | {self.rate:,.0f} | {self.events:,} | {self.lag_s:.2f} | "
                f"{'yes' if self.kept_up(max_lag) else 'no'} | {len(self.latencies_ms):,} | "
                f"{percentile(lat, 50):.0f} | {percentile(lat, 99):.0f} | {max(lat):.0f} | {self.cpu_us:.0f} | "
                f"{replay} | {ratio} | {idle} |")


HEADER = ("| setup | rate (events/s) | events | lag at end (s) | kept up | outputs | p50 ms | p99 ms | max ms "
          "| follow CPU µs/event | replay µs/event | ratio | CPU idle |\n"
          "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")


def find_max(args: argparse.Namespace) -> int:
    seconds = 5.0 if args.seconds is None else args.seconds
    idle_seconds = 3.0 if args.idle_seconds is None else args.idle_seconds
    setups = ["alerts", "events"] if args.find_max == "both" else [args.find_max]
    pool = DensePool()
    print(f"`auditproc follow` keep-up, {datetime.date.today()} on {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; dense mix (35 % execs), {seconds:g} s per trial, kept up = "
          f"reader ≤ {args.max_lag:g} s behind when the writing stops\n")
    print(HEADER, flush=True)
    summary = []
    with tempfile.TemporaryDirectory(prefix="follow-bench-") as tmp:
        root = Path(tmp)
        for setup in setups:
            rules = rule_copy(root / f"rules-{setup}", REPO / "rules" if setup == "alerts" else args.elastic_rules)
            options = follow_options(args) + (["--events"] if setup == "events" else [])
            sweep = Sweep(setup, rules, options, pool, root, seconds, idle_seconds, args.max_lag)
            best = sweep.highest(args.start_rate, args.step)
            rounds = [sweep.trial(best, confirm=True) for _ in range(args.rounds)]
            summary.append((setup, best, rounds))
    print("\nMedians of the rounds at the highest rate kept up with:\n")
    print("| setup | rate (events/s) | kept up | p99 ms | max ms | follow CPU µs/event | replay µs/event "
          "| ratio | CPU idle |\n|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for setup, rate, rounds in summary:
        kept = sum(t.kept_up(args.max_lag) for t in rounds)
        p99 = statistics.median(percentile(t.latencies_ms, 99) for t in rounds if t.latencies_ms)
        worst = statistics.median(max(t.latencies_ms) for t in rounds if t.latencies_ms)
        cpu = statistics.median(t.cpu_us for t in rounds)
        replay = statistics.median(t.replay_us for t in rounds)
        ratio = statistics.median(t.cpu_us / t.replay_us for t in rounds)
        idle = statistics.median(t.idle for t in rounds)
        print(f"| {SETUPS[setup]} | {rate:,.0f} | {kept}/{len(rounds)} | {p99:.0f} | {worst:.0f} | {cpu:.0f} "
              f"| {replay:.0f} | {ratio:.2f} | {idle:.2%} |")
    return 0


class Sweep:
    """Trials of one setup at rising (or, from a rate too high, falling) rates."""

    def __init__(self, setup: str, rules: Path, options: list[str], pool: DensePool, root: Path, seconds: float,
                 idle_seconds: float, max_lag: float) -> None:
        self.setup, self.rules, self.options, self.pool, self.root = setup, rules, options, pool, root
        self.seconds, self.idle_seconds, self.max_lag = seconds, idle_seconds, max_lag

    def trial(self, rate: float, confirm: bool = False) -> Trial:
        """One trial, printed as a row; ``confirm`` adds the idle CPU and replay's CPU on the same bytes."""
        with tempfile.TemporaryDirectory(dir=self.root) as work:
            t = run_trial(Path(work), self.rules, self.options, self.pool, rate, self.seconds,
                          self.idle_seconds if confirm else 0)
            if confirm:
                t.replay_us = replay_cpu_us(Path(work) / "audit.log", self.rules, t.events, self.root)
        print(t.row(self.setup, self.max_lag), flush=True)
        return t

    def highest(self, rate: float, step: float) -> float:
        """The highest rate of the series ``rate × step**k`` that the follower keeps up with."""
        if self.trial(rate).kept_up(self.max_lag):
            while self.trial(rate * step).kept_up(self.max_lag):
                rate *= step
            return rate
        while rate > 200:
            rate /= step
            if self.trial(rate).kept_up(self.max_lag):
                break
        return rate


def rule_copy(dest: Path, source: Path) -> Path:
    """The rule files under ``source``, with max_signals raised, in ``dest``."""
    for f in sorted(source.rglob("*.toml")):
        target = dest / f.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(unlimited(f.read_text()))
    if not any(dest.rglob("*.toml")):
        raise SystemExit(f"no rule files under {source}")
    return dest


def run_trial(work: Path, rules: Path, options: list[str], pool: DensePool, rate: float, seconds: float,
              idle_seconds: float) -> Trial:
    writes = pool.writes(int(rate * seconds))
    written: dict[int, int] = {}  # event serial → monotonic ns after its last write returned
    received: dict[int, int] = {}  # serial → monotonic ns when its first output line was read
    with Follower(work, rules, options) as follower:
        proc = follower.proc

        def reader() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                t = time.monotonic_ns()
                m = SEQUENCE.search(line)
                if m:
                    received.setdefault(int(m[1]), t)

        threading.Thread(target=reader, daemon=True).start()
        fd = os.open(follower.log, os.O_WRONLY | os.O_APPEND)
        interval = 1.0 / rate
        first_serial = writes[0][0]
        total = n = 0
        t0 = time.monotonic()
        cpu0 = cpu_ticks(proc.pid)
        while n < len(writes):
            due = int((time.monotonic() - t0) / interval) + 1
            while n < len(writes) and writes[n][0] - first_serial < due:  # catch up after a late wake-up
                serial, data = writes[n]
                total += os.write(fd, data)
                written[serial] = time.monotonic_ns()
                n += 1
            time.sleep(max(0.0, t0 + (writes[n - 1][0] - first_serial + 1) * interval - time.monotonic()))
        elapsed = time.monotonic() - t0
        lag_s = (total - follower.read_offset()) / (total / elapsed)
        os.close(fd)
        # Drained: everything read and no output for a while (the last events wait for their idle flush).
        deadline, quiet_since, seen = time.monotonic() + 120, time.monotonic(), len(received)
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if len(received) != seen or follower.read_offset() < total:
                quiet_since, seen = time.monotonic(), len(received)
            elif time.monotonic() - quiet_since > 0.5:
                break
        cpu_us = (cpu_ticks(proc.pid) - cpu0) / CLK_TCK / len(written) * 1e6
        idle = 0.0
        if idle_seconds:
            time.sleep(0.5)
            c0, w0 = cpu_ticks(proc.pid), time.monotonic()
            time.sleep(idle_seconds)
            idle = (cpu_ticks(proc.pid) - c0) / CLK_TCK / (time.monotonic() - w0)
    lat = [(received[s] - t) / 1e6 for s, t in written.items() if s in received]
    return Trial(len(written) / elapsed, len(written), lag_s, lat, cpu_us, idle)


_replay_base: dict[Path, float] = {}


def replay_cpu_us(log: Path, rules: Path, events: int, root: Path) -> float:
    """CPU per event of ``replay -j 1`` over ``log`` (user + sys), less its CPU on an empty log."""
    if rules not in _replay_base:
        empty = root / "empty.log"
        empty.touch()
        _replay_base[rules] = statistics.median(replay_cpu(empty, rules) for _ in range(3))
    return max(0.0, replay_cpu(log, rules) - _replay_base[rules]) / events * 1e6


def replay_cpu(log: Path, rules: Path) -> float:
    proc = subprocess.Popen([sys.executable, "-m", "auditproc.cli", "replay", "-j", "1", "-q", "--host", "web-01",
                             "--rules", str(rules), str(log)], cwd=REPO, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"replay failed ({proc.returncode}) on {log}")
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
