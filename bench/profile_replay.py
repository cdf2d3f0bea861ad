"""Where `auditproc replay -j 1` with Elastic's rules spends its time, sampled with py-spy.

    .venv/bin/python bench/profile_replay.py [--lines 1000000] [--profile dense] [--log FILE]
        [--rules DIR] [--rate 200] [--top 15] [--raw OUT.txt]

Generates a log with gen_log.py (default the exec-dense profile) or takes --log, runs
``auditproc replay -j 1 --all-rules --rules DIR`` on it under ``py-spy record --format raw``
(``pip install py-spy``), and prints two Markdown tables: the top functions by own time (the
innermost frame of each sample), and the samples by pipeline stage: the innermost auditproc
frame's module decides (a C function or library call counts for the stage that called it);
imports and rule loading are start-up. Sampling does not slow the profiled process much,
unlike cProfile, so small hot functions keep their real share.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench_rules import ELASTIC_LINUX
from gen_log import PROFILES, write_log

VENV_BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
START_UP = "start-up (imports, rule loading)"
# auditproc module → stage, in pipeline order (architecture.md).
STAGES = {
    "sources": "read", "tail": "read",
    "parse": "parse",
    "assemble": "assemble",
    "normalize": "ECS", "identity": "ECS", "proctree": "ECS",
    "eql": "rules", "rulefiles": "rules", "ruletable": "rules", "detect": "rules", "exceptions": "rules",
    "alerts": "output", "output": "output", "sinks": "output",
}
GLUE = "glue (pipeline, cli, jobs)"
OTHER = "outside auditproc"


def function_of(frame: str) -> str:
    """``func (file:line)`` without the line: samples of one function add up."""
    match = FRAME.match(frame)
    return f"{match['func']} ({match['file']})" if match else frame


def stage_of(frames: list[str]) -> str:
    """The pipeline stage one sample (outermost frame first) is spent in."""
    if any("load_rules (" in f or "importlib._bootstrap" in f for f in frames):
        return START_UP
    for frame in reversed(frames):
        match = FRAME.match(frame)
        if match and match["file"].startswith("auditproc/"):
            module = match["file"].removeprefix("auditproc/").split("/")[0].removesuffix(".py")
            return STAGES.get(module, GLUE)
    return OTHER


def read_raw(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw (collapsed) stacks: ``frame;frame;… COUNT`` per line."""
    stacks = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def report(stacks: list[tuple[list[str], int]], top: int) -> str:
    """The two Markdown tables."""
    total = sum(count for _, count in stacks)
    own: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    for frames, count in stacks:
        own[function_of(frames[-1])] += count
        stages[stage_of(frames)] += count
    lines = [f"{total:,} samples\n", "| function (own time) | samples | % |", "|---|---:|---:|"]
    lines += [f"| `{name}` | {n:,} | {100 * n / total:.1f} |" for name, n in own.most_common(top)]
    lines += ["", "| stage | samples | % |", "|---|---:|---:|"]
    lines += [f"| {name} | {n:,} | {100 * n / total:.1f} |" for name, n in stages.most_common()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, help="profile on this audit log instead of a generated one")
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines to generate (default 1000000)")
    parser.add_argument("--profile", choices=PROFILES, default="dense", help="gen_log.py profile (default dense)")
    parser.add_argument("--rules", type=Path, default=ELASTIC_LINUX, help="rules directory (default Elastic's Linux rules)")
    parser.add_argument("--rate", type=int, default=200, help="samples per second (default 200)")
    parser.add_argument("--top", type=int, default=15, help="functions to list (default 15)")
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw stacks here")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(VENV_BIN))
    if py_spy is None:
        print("py-spy not found: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    if not args.rules.is_dir():
        print(f"{args.rules} is not present", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="auditproc-profile-") as tmp:
        log = args.log
        if log is None:
            log = Path(tmp) / "audit.log"
            write_log(log, args.lines, profile=args.profile)
        raw = args.raw or Path(tmp) / "stacks.txt"
        command = [sys.executable, "-m", "auditproc.cli", "replay", "-j", "1", "--all-rules", "--rules",
                   str(args.rules), str(log)]
        done = subprocess.run([py_spy, "record", "-r", str(args.rate), "-f", "raw", "-o", str(raw), "--", *command],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if done.returncode:
            print(f"py-spy failed ({done.returncode}): {done.stderr.decode(errors='replace')[-500:]}", file=sys.stderr)
            return 1
        print(f"`{' '.join(['auditproc', *command[3:-1]])} {log.name}`"
              + ("" if args.log else f" on {args.lines:,} {args.profile} lines") + ", py-spy\n")
        print(report(read_raw(raw), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
