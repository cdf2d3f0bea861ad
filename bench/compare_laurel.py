"""auditproc against laurel (and ausearch / python auparse) on the same large audit log.

    .venv/bin/python bench/compare_laurel.py [--lines 1000000] [--log FILE] [--runs 3] [--profile 25]

Generates a log with bench/gen_log.py (or takes --log), then times, best of --runs, each
tool reading that file with its output thrown away:

* ``auditproc events FILE`` (the installed console script);
* laurel 0.5 as a filter: audit lines on stdin, JSON on stdout, from a temporary config
  (laurel is an auditd plugin and has no file-input mode); once with its default enrichment
  and once with enrichment switched off (no /proc lookups: the fairest for a foreign log);
* ``ausearch -if FILE --format raw`` and a python auparse loop, as reference points.

Prints a Markdown table: wall seconds, CPU seconds (user+sys of the child), lines/s, and the
ratio of auditproc's lines/s to laurel's. ``--profile N`` then runs auditproc once under
cProfile and prints the top N functions by own time.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gen_log import write_log

REPO = Path(__file__).resolve().parents[1]
DEFAULT_AUDITPROC = REPO / ".venv" / "bin" / "auditproc"
SYSTEM_PYTHON = "/usr/bin/python3"

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


@dataclass
class Result:
    """Best-of-N timings for one tool."""

    tool: Tool
    wall: float
    cpu: float
    note: str = ""


def run_once(tool: Tool) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall and child CPU seconds of one run; stdout goes to /dev/null."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.devnull, "wb") as sink:
        stdin = tool.stdin.open("rb") if tool.stdin else subprocess.DEVNULL
        try:
            start = time.perf_counter()
            done = subprocess.run(tool.argv, stdin=stdin, stdout=sink, stderr=subprocess.PIPE)
            wall = time.perf_counter() - start
        finally:
            if tool.stdin:
                stdin.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done


def measure(tool: Tool, runs: int) -> Result:
    """Best wall time (and the CPU time of that run) over ``runs`` runs."""
    best: tuple[float, float] | None = None
    note = ""
    for _ in range(runs):
        wall, cpu, done = run_once(tool)
        # ausearch exits 1 when nothing matched; anything else non-zero is a failed run.
        if done.returncode not in (0, 1) or (done.returncode == 1 and not tool.name.startswith("ausearch")):
            raise SystemExit(f"{tool.name} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-500:]}")
        if "laurel" in tool.name:
            note = laurel_summary(done.stderr.decode(errors="replace"))
        if best is None or wall < best[0]:
            best = (wall, cpu)
        print(f"  {tool.name}: {wall:.2f} s wall, {cpu:.2f} s CPU", file=sys.stderr)
    assert best is not None
    return Result(tool, best[0], best[1], note)


def laurel_summary(stderr: str) -> str:
    """laurel's own closing line ("processed N lines M events with E errors")."""
    for line in reversed(stderr.splitlines()):
        if "processed" in line:
            return line.split("laurel:", 1)[-1].strip()
    return ""


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


def build_tools(log: Path, workdir: Path, auditproc: Path) -> tuple[list[Tool], list[str]]:
    """The commands to compare, and notes about tools that are missing."""
    tools: list[Tool] = []
    missing: list[str] = []
    if auditproc.exists():
        tools.append(Tool("auditproc events", [str(auditproc), "events", str(log)]))
    else:
        missing.append(f"auditproc not found at {auditproc}")
    laurel = shutil.which("laurel") or ("/usr/sbin/laurel" if Path("/usr/sbin/laurel").exists() else None)
    if laurel:
        for name, template in (("laurel (default enrichment)", LAUREL_DEFAULT),
                               ("laurel (enrichment off)", LAUREL_NO_ENRICH)):
            config = workdir / (name.split("(")[1].split(")")[0].replace(" ", "-") + ".toml")
            config.write_text(template.format(dir=workdir))
            tools.append(Tool(name, [laurel, "--config", str(config)], stdin=log))
    else:
        missing.append("laurel not installed (apt-get install laurel)")
    ausearch = shutil.which("ausearch") or ("/usr/sbin/ausearch" if Path("/usr/sbin/ausearch").exists() else None)
    if ausearch:
        tools.append(Tool("ausearch --format raw", [ausearch, "-if", str(log), "--format", "raw"]))
    else:
        missing.append("ausearch not installed (apt-get install auditd)")
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import auparse"], capture_output=True) if Path(SYSTEM_PYTHON).exists() else None
    if probe is not None and probe.returncode == 0:
        tools.append(Tool("python auparse loop", [SYSTEM_PYTHON, "-c", AUPARSE_LOOP, str(log)]))
    else:
        missing.append("python3-audit not installed for /usr/bin/python3")
    return tools, missing


def table(results: list[Result], lines: int) -> str:
    """The Markdown table."""
    laurels = [r for r in results if r.tool.name.startswith("laurel")]
    fastest_laurel = min(laurels, key=lambda r: r.wall) if laurels else None
    rows = [
        "| tool | best wall s | lines/s (wall) | ÷ fastest laurel (wall) | CPU s | lines/s (CPU) | ÷ fastest laurel (CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        # CPU time as well as wall time: on a shared host, wall time also measures the neighbours.
        by_wall = f"{fastest_laurel.wall / r.wall:.2f}×" if fastest_laurel else "–"
        by_cpu = f"{fastest_laurel.cpu / r.cpu:.2f}×" if fastest_laurel and r.cpu > 0 else "–"
        cpu_rate = f"{lines / r.cpu:,.0f}" if r.cpu > 0 else "–"
        rows.append(f"| {r.tool.name} | {r.wall:.2f} | {lines / r.wall:,.0f} | {by_wall} | {r.cpu:.2f} | {cpu_rate} | {by_cpu} |")
    return "\n".join(rows)


def profile_auditproc(log: Path, top: int, workdir: Path) -> None:
    """Run ``auditproc events`` once under cProfile and print the top functions by own time."""
    import pstats

    out = workdir / "auditproc.prof"
    python = DEFAULT_AUDITPROC.parent / "python"
    with open(os.devnull, "wb") as sink:
        subprocess.run([str(python), "-m", "cProfile", "-o", str(out), "-m", "auditproc.cli", "events", str(log)],
                       stdout=sink, check=False)
    stats = pstats.Stats(str(out))
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"\n### cProfile of `auditproc events` (total {total:.2f} s, own time)\n")
    print("| function | calls | own s | own % | cumulative s |")
    print("|---|---:|---:|---:|---:|")
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    for (file, line, func), (_, calls, tottime, cumtime, _) in entries[:top]:
        where = f"{Path(file).name}:{line}({func})" if line else func
        print(f"| `{where}` | {calls:,} | {tottime:.2f} | {100 * tottime / total:.1f} | {cumtime:.2f} |")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, help="use this audit log instead of generating one")
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines to generate (default 1000000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--enriched", action="store_true", help="generate log_format=ENRICHED with node=")
    parser.add_argument("--runs", type=int, default=3, help="runs per tool, best kept (default 3)")
    parser.add_argument("--auditproc", type=Path, default=DEFAULT_AUDITPROC, help="auditproc console script")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="also print auditproc's top N functions")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="auditproc-bench-") as tmp:
        workdir = Path(tmp)
        if args.log:
            log = args.log
        else:
            log = workdir / "audit.log"
            print(f"generating {args.lines:,} lines into {log} ...", file=sys.stderr)
            write_log(log, args.lines, args.seed, args.enriched, "web01" if args.enriched else None)
        lines = count_lines(log)
        tools, missing = build_tools(log, workdir, args.auditproc)
        results = [measure(tool, args.runs) for tool in tools]

        print(f"\n## auditproc vs laurel — measured on {datetime.date.today().isoformat()}\n")
        print(f"- input: {log.name}, {lines:,} lines, {log.stat().st_size / 1e6:.1f} MB"
              + ("" if args.log else f" (gen_log.py seed {args.seed}{', enriched' if args.enriched else ''})"))
        print(f"- host: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
              f"laurel {tool_version(['laurel', '--version'])}; best of {args.runs}, output to /dev/null\n")
        print(table(results, lines))
        for r in results:
            if r.note:
                print(f"\n- {r.tool.name}: {r.note}")
        for note in missing:
            print(f"- skipped: {note}")
        if args.profile:
            profile_auditproc(log, args.profile, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
