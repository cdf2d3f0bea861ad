"""Wall and CPU time of ``auditproc events|replay -j N`` for several N on one generated log.

    python bench/jobs_scaling.py [--lines 1000000] [--profile dense|sparse] [--jobs 1 2 4 8 16]
        [--rounds 3] [--command events|replay] [--log FILE] [-- EXTRA AUDITPROC ARGS]

Generates the log with gen_log.py into a temporary file (or takes --log), then runs each N once per
round, the order of the Ns reversed every other round, output read by this script, and prints a Markdown row
per N: median wall s, median CPU s (user + system of auditproc and its workers, from ``wait4``),
speed-up and CPU over ``-j 1`` (the first N), and the output's digest, which must be the same for
every N (exit status 1 if not). Ns above the usable cores are skipped (auditproc refuses them).
Run it on a quiet machine: on a shared one, trust the CPU column more than the wall column.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_log import PROFILES, write_log  # noqa: E402 - a sibling script, not a package

AUDITPROC = Path(sys.executable).with_name("auditproc")
CREATED = re.compile(rb'"created":"[^"]*"')


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_once(args: list[str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the command and its children, sha256 of its output) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(AUDITPROC), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    digest = hashlib.sha256()
    assert proc.stdout is not None
    for line in proc.stdout:
        digest.update(CREATED.sub(b"", line))  # alerts carry the wall-clock time of their detection
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"auditproc {' '.join(args)} failed: status {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime, digest.hexdigest()[:12]


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table; 1 if the output differs between Ns."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--profile", choices=PROFILES, default="dense")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--command", choices=["events", "replay"], default="events")
    parser.add_argument("--log", type=Path, help="an existing log instead of a generated one")
    parser.add_argument("extra", nargs="*", help="more auditproc arguments, after --")
    opts = parser.parse_args(argv)
    cores = usable_cores()
    jobs = [n for n in opts.jobs if n <= cores]
    if skipped := [n for n in opts.jobs if n > cores]:
        print(f"skipped -j {' '.join(map(str, skipped))}: {cores} usable cores", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        log = opts.log
        if log is None:
            log = Path(tmp) / "audit.log"
            write_log(log, opts.lines, profile=opts.profile)
        extra = ["-q", *opts.extra] if opts.command == "replay" else opts.extra
        runs: dict[int, list[tuple[float, float, str]]] = {n: [] for n in jobs}
        for round_no in range(opts.rounds):
            for n in jobs if round_no % 2 == 0 else reversed(jobs):
                runs[n].append(run_once([opts.command, "-j", str(n), "--host", "h", *extra, str(log)]))
        size = log.stat().st_size
    base_wall = statistics.median(r[0] for r in runs[jobs[0]])
    base_cpu = statistics.median(r[1] for r in runs[jobs[0]])
    print(f"{opts.command} on {size / 1e6:.1f} MB ({opts.profile if opts.log is None else opts.log}), {cores} usable "
          f"cores, medians of {opts.rounds} alternating rounds, output to a pipe")
    print()
    print(f"| -j | wall s | CPU s | speed-up over -j {jobs[0]} | CPU ÷ -j {jobs[0]} | output |")
    print("|---:|---:|---:|---:|---:|---|")
    digests = set()
    for n in jobs:
        wall = statistics.median(r[0] for r in runs[n])
        cpu = statistics.median(r[1] for r in runs[n])
        digests.update(r[2] for r in runs[n])
        print(f"| {n} | {wall:.2f} | {cpu:.2f} | {base_wall / wall:.2f}x | {cpu / base_cpu:.2f} | {runs[n][0][2]} |")
    if len(digests) > 1:
        print("the output differs between runs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
