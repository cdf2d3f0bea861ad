"""Crash consistency of `auditproc follow`: SIGKILL at random moments while auditd writes and rotates.

A writer thread appends realistic events to a log at a steady rate (gen_log's events, with
more execs, some parents that are earlier execs, an event's tail now and then written after
the next one starts, and some writes cut mid-line) and rotates it as auditd does every
``--rotate-every`` seconds, keeping ``--keep`` old files (so the oldest is overwritten and,
on ext4, its inode handed to the new log at once). Meanwhile ``auditproc follow --events
--output OUT`` is killed with SIGKILL ``--kills`` times at random moments and restarted
0.2–1 s later; every run appends to OUT. At the end the writing stops, the follower is given
time to emit everything and is stopped with SIGTERM.

    .venv/bin/python bench/follow_soak.py [--kills 20] [--seconds 120] [--rate 300] [--keep 5] [--seed 1]

Checks, from OUT: every exec event written is emitted (lost = 0), a repeated document equals
its first copy except ``event.created`` (differing = 0), and every line is whole JSON (torn =
0). Prints a Markdown table and one JSON line; exit status 1 if a check fails (the work
directory is then kept for a post-mortem: the log files, OUT, the follower's stderr and the
state file as each run found it).

The log's bytes, the rotation points and the kill schedule depend on ``--seed`` only; where a
kill lands in the follower's work depends on timing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from gen_log import Generator

REPO = Path(__file__).resolve().parents[1]
FOLLOW_ARGS = ["--events", "--host", "soak", "--idle-flush", "0.1", "--poll-interval", "0.05",
               "--checkpoint-interval", "0.5"]
EXEC_SHARE, USER_SHARE = 0.35, 0.05  # the rest are non-exec syscalls the follower parses and drops
CHILD_SHARE = 0.5  # execs whose parent is an earlier exec: a repeat must get the same process.parent
INTERLEAVE_SHARE = 0.02  # an event's tail written after the next event's first record
SPLIT_SHARE = 0.05  # writes cut inside a line, the rest following a few ms later
SPLIT_PAUSE_S = (0.002, 0.02)  # the writer's pauses bound its rate (about 1,500 events/s here)
FIRST_PID = 100_000  # above this machine's pid_max: no generated parent is a live process in /proc
READY_S, SETTLE_S, STOP_S = 30.0, 60.0, 15.0
RESTART_DELAY_S = (0.2, 1.0)
PROBLEM = re.compile(r"never read|vanished|lost|gone|reuses its inode|shorter than|truncated|"
                     r"state|checkpoint|ignor|cannot|error", re.IGNORECASE)
STARTED = re.compile(r"(auditproc: )?following ")  # each run's start-up line


@dataclass(frozen=True, slots=True)
class Written:
    """Where an exec event's SYSCALL record went."""

    generation: int  # 0: the first audit.log; +1 at each rotation
    offset: int
    t: float  # seconds since the writing started


@dataclass(frozen=True, slots=True)
class Rotation:
    t: float
    generation: int  # the new live file's
    new_ino: int
    freed_ino: int | None  # the oldest file's inode, overwritten by the shift


@dataclass(slots=True)
class Run:
    index: int
    proc: subprocess.Popen
    start_t: float
    stderr_from: int
    end_t: float | None = None
    how: str = ""  # "SIGKILL", "SIGTERM rc=0", "exited rc=…"


class SoakWriter(threading.Thread):
    """Appends events at ``rate`` per second, one write per event, and rotates like auditd."""

    def __init__(self, log: Path, seed: int, rate: int, rotate_every_s: float, keep: int) -> None:
        super().__init__(name="soak-writer", daemon=True)
        self.log, self.rate, self.keep = log, rate, keep
        self.rotate_every = max(1, round(rate * rotate_every_s))
        self.gen = Generator(seed, enriched=False, node=None)
        self.gen.next_pid = FIRST_PID
        self.rng = random.Random(f"soak-writer-{seed}")
        self.execs: dict[int, Written] = {}
        self.rotations: list[Rotation] = []
        self.events = 0
        self.generation = 0
        self.error: BaseException | None = None
        self.halt = threading.Event()
        self.t0 = 0.0
        self.seconds = 0.0  # how long it wrote
        self._held: list[str] = []
        self._parents: deque[int] = deque(maxlen=64)
        self._fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = os.fstat(self._fd).st_size

    def begin(self) -> None:
        self.t0 = time.monotonic()
        self.start()

    def run(self) -> None:
        try:
            self._write_until_halted()
            if self._held:
                self._write(self._held)
            self.seconds = time.monotonic() - self.t0
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc
        finally:
            os.close(self._fd)

    def _write_until_halted(self) -> None:
        interval = 1.0 / self.rate
        while not self.halt.is_set():
            due = int((time.monotonic() - self.t0) / interval) + 1
            while self.events < due and not self.halt.is_set():  # catch up after a late wake-up
                self._write(self._next_event())
                self.events += 1
                if self.events % self.rotate_every == 0:
                    self._rotate()
            self.halt.wait(max(0.0, self.t0 + self.events * interval - time.monotonic()))

    def _next_event(self) -> list[str]:
        gen, rng = self.gen, self.rng
        gen.advance()
        roll = rng.random()
        if roll < EXEC_SHARE:
            lines = gen.exec_event()
            if self._parents and rng.random() < CHILD_SHARE:
                parent = rng.choice(self._parents)
                lines[0] = re.sub(r" ppid=\d+ ", f" ppid={parent} ", lines[0], count=1)
            pid = int(re.search(r" pid=(\d+) ", lines[0]).group(1))  # type: ignore[union-attr]
            self._parents.append(pid)
        elif roll < EXEC_SHARE + USER_SHARE:
            lines = gen.user_event()
        else:
            lines = gen.syscall_event()
        if self._held:  # as gen_log does: the held tail follows the next event's first record
            lines, self._held = lines[:1] + self._held + lines[1:], []
        elif len(lines) > 2 and rng.random() < INTERLEAVE_SHARE:
            keep = rng.randint(1, len(lines) - 1)
            lines, self._held = lines[:keep], lines[keep:]
        return lines

    def _write(self, lines: list[str]) -> None:
        data = ("\n".join(lines) + "\n").encode()
        offset = 0
        for line in lines:
            if " syscall=59 " in line and line.startswith("type=SYSCALL "):
                serial = int(line.split(":", 2)[1].split(")", 1)[0])
                self.execs[serial] = Written(self.generation, self._size + offset, time.monotonic() - self.t0)
            offset += len(line.encode()) + 1
        if len(data) > 2 and self.rng.random() < SPLIT_SHARE:
            cut = self.rng.randint(1, len(data) - 2)
            while data[cut - 1:cut] == b"\n":  # the first piece ends inside a line
                cut -= 1
            self._write_all(data[:cut])
            self.halt.wait(self.rng.uniform(*SPLIT_PAUSE_S))  # auditd's next flush
            data = data[cut:]
        self._write_all(data)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        self._size += len(data)

    def rotated(self, n: int) -> Path:
        return self.log.with_name(f"{self.log.name}.{n}")

    def _rotate(self) -> None:
        """auditd's rotation: read-only, close, shift .(n-1)→.n down to .1→.2, log→.1, new 0600 log."""
        oldest = self.rotated(self.keep)
        overwritten = oldest.exists() and (self.keep == 1 or self.rotated(self.keep - 1).exists())
        freed = os.stat(oldest).st_ino if overwritten else None
        os.fchmod(self._fd, 0o400)
        os.close(self._fd)
        for n in range(self.keep, 1, -1):
            if self.rotated(n - 1).exists():
                os.rename(self.rotated(n - 1), self.rotated(n))
        os.rename(self.log, self.rotated(1))
        self._fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = 0
        self.generation += 1
        self.rotations.append(Rotation(time.monotonic() - self.t0, self.generation,
                                       os.fstat(self._fd).st_ino, freed))


@dataclass(slots=True)
class Soak:
    """The follower's runs against one writer, and what they left behind."""

    work: Path
    writer: SoakWriter
    runs: list[Run] = field(default_factory=list)
    unexpected_exits: list[str] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.work / "audit.log"

    @property
    def out(self) -> Path:
        return self.work / "out.ndjson"

    @property
    def err(self) -> Path:
        return self.work / "stderr.txt"

    @property
    def state(self) -> Path:
        return self.work / "state" / "state.json"

    def now(self) -> float:
        return time.monotonic() - self.writer.t0 if self.writer.t0 else 0.0

    def start(self) -> Run:
        if self.state.exists():  # what this run will resume from, for a post-mortem
            shutil.copyfile(self.state, self.work / "states" / f"before-run-{len(self.runs)}.json")
        cmd = [sys.executable, "-m", "auditproc.cli", "follow", str(self.log), "--state", str(self.state),
               "--output", str(self.out), *FOLLOW_ARGS]
        stderr_from = self.err.stat().st_size if self.err.exists() else 0
        with open(self.err, "ab") as err:
            # Own session: a Ctrl-C reaches only this script, which then kills the follower.
            proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
        run = Run(len(self.runs), proc, self.now(), stderr_from)
        self.runs.append(run)
        return run

    def end(self, run: Run, how: str) -> None:
        run.end_t, run.how = self.now(), how

    def wait_until(self, deadline: float, cond: Callable[[], bool] = lambda: False) -> bool:
        """Until ``cond()`` or the monotonic ``deadline``; notes a follower that exits on its own."""
        while True:
            self.check()
            if cond():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def check(self) -> None:
        if self.writer.error is not None:
            raise RuntimeError(f"writer failed: {self.writer.error!r}") from self.writer.error
        run = self.runs[-1] if self.runs else None
        if run is not None and run.end_t is None and run.proc.poll() is not None:
            said = self.err.read_bytes()[run.stderr_from:].decode(errors="replace")
            if not any(STARTED.match(line) for line in said.splitlines()):
                raise RuntimeError(f"the follower (run {run.index}) exited rc={run.proc.returncode} "
                                   f"before it started following:\n{said.strip()}")
            self.end(run, f"exited rc={run.proc.returncode}")
            self.unexpected_exits.append(f"run {run.index} exited on its own (rc {run.proc.returncode}) "
                                         f"at {run.end_t:.2f} s")
            self.start()  # keep going: what it missed must still come out

    def kill_all(self) -> None:
        for run in self.runs:
            if run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait()


class OutWatcher:
    """Exec serials seen in OUT so far, reading only lines that have their newline."""

    def __init__(self, out: Path) -> None:
        self.out, self.offset, self.seen = out, 0, set()

    def poll(self) -> set[int]:
        try:
            with open(self.out, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return self.seen
        whole = data[:data.rfind(b"\n") + 1]
        self.offset += len(whole)
        for line in whole.splitlines():
            try:
                event = orjson.loads(line).get("event", {})
            except orjson.JSONDecodeError:
                continue
            if event.get("kind") == "event":
                self.seen.add(event.get("sequence"))
        return self.seen


def drive(args: argparse.Namespace, s: Soak) -> None:
    """Start, kill and restart the follower while the writer writes; stop writing; let it finish."""
    writer = s.writer
    schedule = random.Random(f"soak-schedule-{args.seed}")
    mean = max(0.5, args.seconds / (args.kills + 1) - sum(RESTART_DELAY_S) / 2)  # lives and pauses fill it
    lives = [schedule.uniform(0.4, 1.6) * mean for _ in range(args.kills)]
    pauses = [schedule.uniform(*RESTART_DELAY_S) for _ in range(args.kills)]

    s.start()
    ready = s.wait_until(time.monotonic() + READY_S,
                         lambda: b"following " in s.err.read_bytes() and s.state.exists())
    if not ready:
        raise RuntimeError(f"the follower did not start within {READY_S:.0f} s:\n{s.err.read_text()}")
    writer.begin()
    started = time.monotonic()
    for life, pause in zip(lives, pauses, strict=True):
        s.wait_until(started + life)
        run = s.runs[-1]
        run.proc.kill()
        run.proc.wait(STOP_S)
        s.end(run, "SIGKILL")
        s.wait_until(time.monotonic() + pause)
        s.start()
        started = time.monotonic()
    s.wait_until(max(writer.t0 + args.seconds, time.monotonic() + 1.0))
    writer.halt.set()
    writer.join(STOP_S)

    watcher = OutWatcher(s.out)
    want = set(writer.execs)
    s.wait_until(time.monotonic() + SETTLE_S, lambda: want <= watcher.poll())
    run = s.runs[-1]
    run.proc.send_signal(signal.SIGTERM)
    try:
        run.proc.wait(STOP_S)
        s.end(run, f"SIGTERM rc={run.proc.returncode}")
    except subprocess.TimeoutExpired:
        run.proc.kill()
        run.proc.wait()
        s.end(run, "SIGTERM ignored, SIGKILL")
        s.unexpected_exits.append(f"run {run.index} did not stop within {STOP_S:.0f} s of SIGTERM")


# --- the verdict --------------------------------------------------------------------------------


@dataclass(slots=True)
class Verdict:
    exec_docs: int = 0
    alerts: int = 0
    serials: Counter = field(default_factory=Counter)
    copies: Counter = field(default_factory=Counter)  # ("event", serial) or ("alert", serial, rule) → copies
    differing: list[tuple[tuple, int, int, list[str]]] = field(default_factory=list)  # key, lines, diff keys
    torn: list[tuple[int, bytes]] = field(default_factory=list)
    unexpected: list[tuple[int, bytes]] = field(default_factory=list)


def _without_created(doc: dict) -> dict:
    event = doc.get("event")
    if isinstance(event, dict) and "created" in event:
        doc = {**doc, "event": {k: v for k, v in event.items() if k != "created"}}
    return doc


def _flat(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: value}


def diff_keys(a: dict, b: dict) -> list[str]:
    fa, fb = _flat(a), _flat(b)
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k, ...) != fb.get(k, ...))


def judge(out: Path, written: dict[int, Written]) -> Verdict:
    v = Verdict()
    first: dict[tuple, tuple[int, dict]] = {}
    data = out.read_bytes() if out.exists() else b""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline after the last line
    for number, line in enumerate(lines, 1):
        try:
            doc = orjson.loads(line)
            event = doc["event"]
            kind, sequence = event["kind"], event["sequence"]
        except orjson.JSONDecodeError:
            v.torn.append((number, line[:200]))
            continue
        except (KeyError, TypeError):
            v.unexpected.append((number, line[:200]))
            continue
        if kind == "event" and sequence in written:
            v.exec_docs += 1
            v.serials[sequence] += 1
            key: tuple = ("event", sequence)
        elif kind == "alert":
            v.alerts += 1
            key = ("alert", sequence, doc.get("rule", {}).get("id"))
        else:
            v.unexpected.append((number, line[:200]))
            continue
        v.copies[key] += 1
        doc = _without_created(doc)
        if key not in first:
            first[key] = (number, doc)
        elif doc != first[key][1] and len(v.differing) < 1000:
            v.differing.append((key, first[key][0], number, diff_keys(first[key][1], doc)))
    return v


def stderr_problems(s: Soak) -> list[tuple[int, str]]:
    """(run, line) for every stderr line but the start-up one that names a loss or a state problem."""
    data = s.err.read_bytes() if s.err.exists() else b""
    bounds = [r.stderr_from for r in s.runs[1:]] + [len(data)]
    found = []
    for run, (start, end) in enumerate(zip([0, *bounds[:-1]], bounds, strict=True)):
        for line in data[start:end].decode(errors="replace").splitlines():
            if STARTED.match(line) or not PROBLEM.search(line):
                continue
            found.append((run, line))
    return found


def explain_lost(s: Soak, lost: list[int], most: int = 5) -> list[str]:
    """Lost serials as runs of consecutive log files, each with the follower runs and rotations around it."""
    w = s.writer
    gaps: list[list[int]] = []
    for serial in lost:
        if gaps and w.execs[serial].generation - w.execs[gaps[-1][-1]].generation <= 1:
            gaps[-1].append(serial)
        else:
            gaps.append([serial])
    notes = []
    for serials in gaps[:most]:
        first, last = w.execs[serials[0]], w.execs[serials[-1]]
        gens = sorted({w.execs[n].generation for n in serials})
        notes.append(f"{len(serials)} lost in log generation(s) {gens[0]}…{gens[-1]}: serials {serials[0]}…"
                     f"{serials[-1]}, written {first.t:.2f}…{last.t:.2f} s (generation {first.generation} "
                     f"offset {first.offset} … generation {last.generation} offset {last.offset})")
        for run in s.runs:
            end = run.end_t if run.end_t is not None else float("inf")
            if run.start_t <= last.t + 2 and end >= first.t - 2:
                notes.append(f"    follower run {run.index}: {run.start_t:.2f} s → {end:.2f} s ({run.how})")
        near = [r for r in w.rotations if first.t - 0.5 <= r.t <= last.t + 0.5]
        for r in near[:8]:
            reuse = " = the inode it freed" if r.new_ino == r.freed_ino else ""
            notes.append(f"    rotation to generation {r.generation} at {r.t:.2f} s: new audit.log inode "
                         f"{r.new_ino}{reuse}, freed {r.freed_ino}")
        if len(near) > 8:
            notes.append(f"    … {len(near) - 8} more rotations")
    if len(gaps) > most:
        notes.append(f"… and {len(gaps) - most} more stretches of loss")
    return notes


def report(args: argparse.Namespace, s: Soak, v: Verdict) -> bool:
    w = s.writer
    lost = sorted(set(w.execs) - set(v.serials))
    repeats = {k: n for k, n in v.copies.items() if k[0] == "event" and n > 1}
    problems = stderr_problems(s)
    kills = sum(r.how == "SIGKILL" for r in s.runs)
    reuses = sum(r.new_ino == r.freed_ino for r in w.rotations)
    ok = not lost and not v.differing and not v.torn and not s.unexpected_exits
    print(f"`auditproc follow` soak, {datetime.date.today()} on {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; seed {args.seed}, {w.events / w.seconds:,.0f} events/s "
          f"(asked {args.rate:,}) for {w.seconds:.0f} s, "
          f"rotation every {args.rotate_every} s keeping {args.keep}\n")
    rows = [
        ("events written (all kinds)", w.events),
        ("exec events written", len(w.execs)),
        ("exec documents emitted", v.exec_docs),
        ("**lost** (written, never emitted)", len(lost)),
        ("exec events emitted more than once", len(repeats)),
        ("extra copies", sum(n - 1 for n in repeats.values())),
        ("**differing repeats** (all but event.created)", len(v.differing)),
        ("**torn lines** (not whole JSON)", len(v.torn)),
        ("other unexpected lines", len(v.unexpected)),
        ("alerts (distinct / emitted)", f"{sum(k[0] == 'alert' for k in v.copies):,} / {v.alerts:,}"),
        ("kills (SIGKILL)", kills),
        ("follower exits on its own", len(s.unexpected_exits)),
        ("rotations (new log on the freed inode)", f"{len(w.rotations)} ({reuses})"),
        ("stderr lines about loss or state", len(problems)),
    ]
    print("| measure | value |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value:,} |" if isinstance(value, int) else f"| {name} | {value} |")
    if lost:
        print(f"\nLost serials (first 20): {lost[:20]}")
        for note in explain_lost(s, lost):
            print(note)
    for key, a, b, keys in v.differing[:1]:
        print(f"\nFirst differing repeat: {key} at OUT lines {a} and {b}; differing keys: {keys}")
    for number, text in v.torn[:3]:
        print(f"\nTorn line {number}: {text!r}")
    for number, text in v.unexpected[:3]:
        print(f"\nUnexpected line {number}: {text!r}")
    for line in s.unexpected_exits:
        print(f"\n{line}")
    if problems:
        print("\nFollower stderr about loss or state, the first 8 (run: message):")
        for run, line in problems[:8]:
            print(f"  run {run}: {line}")
        print("by kind (numbers as N):")
        for kind, n in Counter(re.sub(r"\d+", "N", line) for _, line in problems).most_common(10):
            print(f"  {n}× {kind}")
    print()
    print(orjson.dumps({
        "bench": "follow_soak", "seed": args.seed, "rate": args.rate, "seconds": round(w.seconds, 1),
        "events_written": w.events, "exec_written": len(w.execs), "exec_docs": v.exec_docs, "lost": len(lost),
        "lost_serials": lost[:100], "repeated": len(repeats), "extra_copies": sum(n - 1 for n in repeats.values()),
        "differing": len(v.differing), "torn": len(v.torn), "unexpected_lines": len(v.unexpected),
        "alerts": v.alerts, "kills": kills, "unexpected_exits": len(s.unexpected_exits),
        "rotations": len(w.rotations), "inode_reuses": reuses, "stderr_problems": len(problems), "ok": ok,
    }).decode())
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="SIGKILLs, at random moments")
    ap.add_argument("--seconds", type=float, default=120.0, help="how long to write (the kills are spread over it)")
    ap.add_argument("--rate", type=int, default=300, help="events per second written (all kinds)")
    ap.add_argument("--keep", type=int, default=5, help="rotated files kept: audit.log.1 … audit.log.KEEP")
    ap.add_argument("--rotate-every", type=float, default=1.0, help="seconds of writing between rotations")
    ap.add_argument("--seed", type=int, default=1, help="same seed, same log bytes and kill schedule")
    ap.add_argument("--workdir", type=Path, help="work here (a new directory) and keep it; default: a temporary one")
    args = ap.parse_args()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="follow-soak-"))
    keep_work = args.workdir is not None
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # cleaned up below like a Ctrl-C
    (work / "states").mkdir()
    s = Soak(work, SoakWriter(work / "audit.log", args.seed, args.rate, args.rotate_every, args.keep))
    try:
        drive(args, s)
        ok = report(args, s, judge(s.out, s.writer.execs))
        if not ok:
            keep_work = True
        return 0 if ok else 1
    except RuntimeError as exc:
        print(f"follow_soak: {exc}", file=sys.stderr)
        keep_work = True
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        s.writer.halt.set()
        s.kill_all()
        if keep_work:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
