"""Peak memory of ``auditproc replay -j 1`` and ``-j 2`` over a ~1 GB audit log generated on the fly.

The log comes from ``gen_log.py``'s generator, streamed into a temporary file that is deleted at the
end. Peak RSS is each process's ``VmHWM`` (its own high-water mark, kept by the kernel) polled from
``/proc`` until it exits; with ``-j 2`` the figure is the sum over the reader and its worker, which
counts the pages they share after the fork twice, so the peak of their summed PSS (proportional set
size, sampled every 50 ms) is printed too.

    python bench/memory.py [--gb 1.0] [--jobs 1 2] [--profile sparse|dense] [--rules DIR] [--keep PATH]

``--rules DIR`` replays with every rule of DIR (``--all-rules``), such as Elastic's Linux rules, whose
sequences and samples hold documents (``--max-partials``) on top of what the pipeline keeps.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_log import PROFILES, Generator  # noqa: E402 - a sibling script, not a package

REPO = Path(__file__).resolve().parents[1]
AUDITPROC = Path(sys.executable).with_name("auditproc")
LIMIT_MB = 100
POLL_S = 0.05


def write(path: Path, size: int, profile: str, seed: int = 1) -> int:
    """Stream generated lines into ``path`` until it holds ``size`` bytes; return the line count."""
    lines = 0
    with path.open("w", encoding="utf-8", newline="\n", buffering=1 << 20) as out:
        batch: list[str] = []
        for line in Generator(seed, False, None, profile).lines(1 << 62):
            batch.append(line)
            if len(batch) == 4096:
                lines += len(batch)
                out.write("\n".join(batch) + "\n")
                batch.clear()
                if out.tell() >= size:
                    break
    return lines


def _hwm_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found += map(int, children.read().split())
    except OSError:
        pass
    return found


def peak_rss(argv: list[str]) -> tuple[float, dict[int, int], int, int]:
    """Run ``argv`` (output discarded); return (seconds, {pid: peak RSS in KiB}, peak summed PSS in KiB, exit code)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks: dict[int, int] = {}
    pss = 0
    while proc.poll() is None:
        pids = [proc.pid, *_children(proc.pid)]
        for pid in pids:
            hwm = _hwm_kib(pid)
            if hwm is not None:
                peaks[pid] = max(peaks.get(pid, 0), hwm)
        pss = max(pss, sum(map(_pss_kib, pids)))
        time.sleep(POLL_S)
    stderr = proc.stderr.read().decode("utf-8", "backslashreplace") if proc.stderr else ""
    if proc.returncode:
        print(stderr, file=sys.stderr)
    return time.monotonic() - start, peaks, pss, proc.returncode


def main(argv: list[str] | None = None) -> int:
    """Generate the log, replay it with each ``--jobs`` value, print the peaks; 1 if a process went over the limit."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=1.0, help="log size in GB (10^9 bytes)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--profile", choices=PROFILES, default="sparse", help="gen_log.py's profile (dense: 35 %% execs)")
    parser.add_argument("--rules", type=Path, help="replay with every rule of this directory (default: the shipped rules)")
    parser.add_argument("--keep", type=Path, help="write the log here and keep it (default: a temp file, deleted)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="auditproc-memory-") as tmp:
        log = args.keep or Path(tmp) / "audit.log"
        began = time.monotonic()
        lines = write(log, int(args.gb * 1e9), args.profile)
        size = log.stat().st_size
        rules = ["--all-rules", "--rules", str(args.rules)] if args.rules else []
        print(f"log ({args.profile}): {size / 1e9:.2f} GB, {lines:,} lines, generated in {time.monotonic() - began:.0f} s")
        over = False
        for jobs in args.jobs:
            seconds, peaks, pss, code = peak_rss([str(AUDITPROC), "replay", "-j", str(jobs), "--stats", *rules, str(log)])
            total = sum(peaks.values()) / 1024
            each = " + ".join(f"{kib / 1024:.1f}" for kib in peaks.values())
            print(f"replay -j {jobs}: peak RSS {total:.1f} MiB ({each}), peak PSS {pss / 1024:.1f} MiB, {seconds:.0f} s, "
                  f"{size / 1e6 / seconds:.0f} MB/s, exit {code}")
            over |= max(peaks.values(), default=0) / 1024 >= LIMIT_MB or code != 0  # the target is per process
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
