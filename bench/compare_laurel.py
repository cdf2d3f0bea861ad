"""auditproc against laurel (and ausearch / python auparse) on sparse and exec-dense logs.

    .venv/bin/python bench/compare_laurel.py [--lines 1000000] [--profile both|sparse|dense]
        [--log FILE] [--rounds 3] [--enriched] [--tool PREFIX ...]

Generates a log per profile with bench/gen_log.py (sparse: 7 % of events are execs; dense:
35 %, a host audited with ``-S execve``), or takes --log, then runs every tool once per round,
rounds alternating between the tools (every other round in reverse order), output thrown away:

* ``auditproc events --category all`` (every event normalised, as laurel transforms every event)
  with ``-j 1`` and ``-j 2``, ``auditproc events --category process -j 1`` (exec events only),
  ``auditproc replay -j 1`` with the shipped rules and with ``--all-rules --rules`` Elastic's Linux
  rules (skipped when that directory is absent);
* laurel 0.5 as a filter: audit lines on stdin, JSON on stdout, from a temporary config
  (laurel is an auditd plugin and has no file-input mode); with enrichment switched off (no
  /proc lookups: the fair baseline for a replayed log) and with its default enrichment;
* ``ausearch -if FILE --format raw`` and a python auparse loop, as reference points.

Prints a Markdown table per log: medians of wall and CPU seconds (user+sys of the process and
the children it waited for, from ``wait4``), lines/s and events/s by wall time, peak RSS (the
largest single process, also for ``-j 2``) and CPU relative to laurel with enrichment off; the
load average before and after, since a shared host's neighbours slow every tool. ``--tool``
keeps only the tools whose names start with one of the prefixes given (a short run).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from bench_rules import ELASTIC_LINUX
from gen_log import PROFILES, write_log

REPO = Path(__file__).resolve().parents[1]
DEFAULT_AUDITPROC = REPO / ".venv" / "bin" / "auditproc"
SYSTEM_PYTHON = "/usr/bin/python3"
BASELINE = "laurel (enrichment off)"
GNU_TIME = "/usr/bin/time"  # its %M is the tool's peak RSS; ours would be at least this process's size

AUPARSE_LOOP = """
import sys, auparse
au = auparse.AuParser(auparse.AUSOURCE_FILE, sys.argv[1])
records = 0
while au.parse_next_event():
    records += au.get_num_records()
print(records)
"""

# laurel writes where [auditlog] file says; "-" is stdout. No "user": it stays as the caller.
LAUREL_DEFAULT = """directory = "{dir}"
[auditlog]
file = "-"
"""
LAUREL_NO_ENRICH = LAUREL_DEFAULT + """[enrich]
pid = false
container = false
script = false
execve-env = []
"""


@dataclass
class Tool:
    """One command to time; ``stdin`` is the log path when the tool reads stdin."""

    name: str
    argv: list[str]
    stdin: Path | None = None
    ok_statuses: tuple[int, ...] = (0,)


class Run(NamedTuple):
    """One run of a tool: CPU is user+sys of it and the children it waited for; RSS of the largest one."""

    wall: float
    cpu: float
    max_rss_kb: int | None
    returncode: int
    stderr: bytes


@dataclass
class Result:
    """Every round's run of one tool."""

    tool: Tool
    runs: list[Run] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu for r in self.runs)

    @property
    def max_rss_mb(self) -> float | None:
        sizes = [r.max_rss_kb for r in self.runs if r.max_rss_kb is not None]
        return max(sizes) / 1024 if sizes else None


def run_once(tool: Tool) -> Run:
    """Time one run; stdout goes to /dev/null, stderr is kept for errors."""
    with (open(os.devnull, "wb") as sink, tempfile.TemporaryFile() as err,
          tempfile.NamedTemporaryFile("r") as rss):
        # A child forked from this process starts with its ru_maxrss: GNU time, small, forks the tool.
        argv = [GNU_TIME, "-f", "%M", "-o", rss.name, "--", *tool.argv] if Path(GNU_TIME).exists() else tool.argv
        stdin = tool.stdin.open("rb") if tool.stdin else subprocess.DEVNULL
        try:
            start = time.perf_counter()
            child = subprocess.Popen(argv, stdin=stdin, stdout=sink, stderr=err)
            _, status, usage = os.wait4(child.pid, 0)  # CPU of the whole tree it waited for
            wall = time.perf_counter() - start
            child.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if tool.stdin:
                stdin.close()
        err.seek(0)
        peak = rss.read().strip().splitlines()
        max_rss_kb = int(peak[-1]) if peak and peak[-1].isdigit() else None
        return Run(wall, usage.ru_utime + usage.ru_stime, max_rss_kb, child.returncode, err.read())


def measure(tools: list[Tool], rounds: int) -> list[Result]:
    """Every tool once per round, the order reversed every other round (drift hits all alike)."""
    results = [Result(tool) for tool in tools]
    for round_no in range(rounds):
        for result in (results if round_no % 2 == 0 else reversed(results)):
            tool = result.tool
            run = run_once(tool)
            if run.returncode not in tool.ok_statuses:
                raise SystemExit(f"{tool.name} failed ({run.returncode}): {run.stderr.decode(errors='replace')[-500:]}")
            result.runs.append(run)
            print(f"  round {round_no + 1}: {tool.name}: {run.wall:.2f} s wall, {run.cpu:.2f} s CPU, "
                  f"{run.max_rss_kb} kB", file=sys.stderr)
    return results


def tool_version(argv: list[str]) -> str:
    """First line a tool prints for its version, or "?"."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else "?"


def count_lines(path: Path) -> int:
    """Newline-terminated lines plus an unterminated last one."""
    n = 0
    last = b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def count_events(path: Path) -> tuple[int, int]:
    """(events, exec events): distinct ``audit(…)`` ids, and SYSCALL records of execve (59) or execveat (322)."""
    ids: set[bytes] = set()
    execs = 0
    with path.open("rb") as f:
        for line in f:
            at = line.find(b"audit(")
            if at >= 0:
                ids.add(line[at + 6:line.find(b")", at)])
            if b"type=SYSCALL" in line and (b" syscall=59 " in line or b" syscall=322 " in line):
                execs += 1
    return len(ids), execs


def build_tools(log: Path, workdir: Path, auditproc: Path, elastic_rules: Path) -> tuple[list[Tool], list[str]]:
    """The commands to compare, and notes about tools that are missing."""
    tools: list[Tool] = []
    missing: list[str] = []
    if auditproc.exists():
        ap = str(auditproc)
        tools += [Tool(f"auditproc events --category {category} -j {jobs}",
                       [ap, "events", "--category", category, "-j", jobs, str(log)])
                  for category, jobs in (("all", "1"), ("all", "2"), ("process", "1"))]
        tools.append(Tool("auditproc replay -j 1 (shipped rules)", [ap, "replay", "-j", "1", str(log)]))
        if elastic_rules.is_dir():
            tools.append(Tool("auditproc replay -j 1 --all-rules (Elastic's Linux rules)",
                              [ap, "replay", "-j", "1", "--all-rules", "--rules", str(elastic_rules), str(log)]))
        else:
            missing.append(f"replay with Elastic's rules: {elastic_rules} is not present")
    else:
        missing.append(f"auditproc not found at {auditproc}")
    laurel = shutil.which("laurel") or ("/usr/sbin/laurel" if Path("/usr/sbin/laurel").exists() else None)
    if laurel:
        for name, template in ((BASELINE, LAUREL_NO_ENRICH), ("laurel (default enrichment)", LAUREL_DEFAULT)):
            config = workdir / (name.split("(")[1].split(")")[0].replace(" ", "-") + ".toml")
            config.write_text(template.format(dir=workdir))
            tools.append(Tool(name, [laurel, "--config", str(config)], stdin=log))
    else:
        missing.append("laurel not installed (apt-get install laurel)")
    ausearch = shutil.which("ausearch") or ("/usr/sbin/ausearch" if Path("/usr/sbin/ausearch").exists() else None)
    if ausearch:
        # ausearch exits 1 when nothing matched.
        tools.append(Tool("ausearch --format raw", [ausearch, "-if", str(log), "--format", "raw"], ok_statuses=(0, 1)))
    else:
        missing.append("ausearch not installed (apt-get install auditd)")
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import auparse"], capture_output=True) if Path(SYSTEM_PYTHON).exists() else None
    if probe is not None and probe.returncode == 0:
        tools.append(Tool("python auparse loop", [SYSTEM_PYTHON, "-c", AUPARSE_LOOP, str(log)]))
    else:
        missing.append("python3-audit not installed for /usr/bin/python3")
    return tools, missing


def table(results: list[Result], lines: int, events: int, exec_events: int) -> str:
    """The Markdown table; CPU as well as wall time: on a shared host wall time also measures the neighbours."""
    baseline = next((r for r in results if r.tool.name == BASELINE), None)
    rows = [
        f"| tool | wall s | CPU s | lines/s | events/s | exec events/s | peak RSS MB | CPU ÷ {BASELINE} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = f"{r.cpu / baseline.cpu:.2f}" if baseline and baseline.cpu > 0 else "–"
        rss = f"{r.max_rss_mb:.0f}" if r.max_rss_mb is not None else "–"
        rows.append(f"| {r.tool.name} | {r.wall:.2f} | {r.cpu:.2f} | {lines / r.wall:,.0f} | "
                    f"{events / r.wall:,.0f} | {exec_events / r.wall:,.0f} | {rss} | {ratio} |")
    return "\n".join(rows)


def load() -> str:
    """The 1-minute load average, or "?" where the platform has none."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def compare(log: Path, described: str, args: argparse.Namespace, workdir: Path) -> None:
    """Time every tool on ``log`` and print the section for it."""
    lines, (events, exec_events) = count_lines(log), count_events(log)
    tools, missing = build_tools(log, workdir, args.auditproc, args.elastic_rules)
    if args.tool:
        tools = [t for t in tools if t.name.startswith(tuple(args.tool))]
    print(f"timing {len(tools)} tools on {described}, {args.rounds} rounds ...", file=sys.stderr)
    load_before = load()
    results = measure(tools, args.rounds)
    print(f"\n### {described}\n")
    print(f"- {lines:,} lines, {events:,} events of which {exec_events:,} execs, {log.stat().st_size / 1e6:.1f} MB; "
          f"medians of {args.rounds} alternating rounds, output to /dev/null; "
          f"load average {load_before} before, {load()} after\n")
    print(table(results, lines, events, exec_events))
    print()
    for note in missing:
        print(f"- skipped: {note}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, help="use this audit log instead of generating them")
    parser.add_argument("--profile", choices=(*PROFILES, "both"), default="both",
                        help="gen_log.py profile(s) to generate (default both)")
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines to generate per log (default 1000000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--enriched", action="store_true", help="generate log_format=ENRICHED with node=")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, medians kept (default 3)")
    parser.add_argument("--auditproc", type=Path, default=DEFAULT_AUDITPROC, help="auditproc console script")
    parser.add_argument("--elastic-rules", type=Path, default=ELASTIC_LINUX, help="Elastic's Linux rules directory")
    parser.add_argument("--tool", action="append", metavar="PREFIX",
                        help="only the tools whose names start with PREFIX (repeatable; default all)")
    args = parser.parse_args(argv)

    print(f"\n## auditproc vs laurel — measured on {datetime.date.today().isoformat()}\n")
    print(f"- host: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"laurel {tool_version(['laurel', '--version'])}")
    with tempfile.TemporaryDirectory(prefix="auditproc-bench-") as tmp:
        workdir = Path(tmp)
        if args.log:
            compare(args.log, args.log.name, args, workdir)
            return 0
        for profile in PROFILES if args.profile == "both" else (args.profile,):
            log = workdir / f"{profile}.log"
            print(f"generating {args.lines:,} {profile} lines into {log} ...", file=sys.stderr)
            write_log(log, args.lines, args.seed, args.enriched, "web01" if args.enriched else None, profile)
            described = f"{profile} log (gen_log.py --profile {profile} --seed {args.seed}{' --enriched' if args.enriched else ''})"
            compare(log, described, args, workdir)
            log.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
