"""Replay cost with every loadable Elastic Linux rule against a replay with one rule that never fires.

    .venv/bin/python bench/replay_rules.py [--lines 1000000] [--log FILE] [--runs 3] [--jobs 2]

Generates a log with gen_log.py (or takes ``--log``), then times the installed console script
``auditproc replay`` on it, output to /dev/null, with (a) one rule that no event matches and
(b) ``--rules ../shared/elastic-rules/linux --all-rules``. Runs alternate, best of ``--runs``.
The target of the rule-table issue: (b) takes at most 1.3× the time of (a). Prints one Markdown
table with wall and CPU seconds and the ratio; CPU counts both processes of ``--jobs 2``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench_rules import ELASTIC_LINUX
from compare_laurel import Tool, count_lines, run_once
from gen_log import write_log

AUDITPROC = Path(sys.executable).with_name("auditproc")
TARGET = 1.3

NEVER_RULE = """\
[metadata]
creation_date = "2026/11/23"
maturity = "production"
updated_date = "2026/11/23"

[rule]
author = ["auditproc"]
description = "Matches no event: the baseline of bench/replay_rules.py."
index = ["auditbeat-*"]
language = "eql"
license = "Apache-2.0"
name = "Never fires"
risk_score = 1
rule_id = "00000000-0000-4000-8000-000000000000"
severity = "low"
type = "eql"
query = '''
process where process.name == "no-such-tool-on-any-host"
'''
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if not ELASTIC_LINUX.is_dir():
        print(f"{ELASTIC_LINUX} is not present", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as tmp:
        log = args.log
        if log is None:
            log = Path(tmp) / "audit.log"
            write_log(log, args.lines)
        never = Path(tmp) / "never.toml"
        never.write_text(NEVER_RULE)
        replay = [str(AUDITPROC), "replay", "--jobs", str(args.jobs), str(log)]
        runs = {
            "(a) one rule that never fires": [*replay, "--rules", str(never)],
            "(b) every loadable Elastic Linux rule": [*replay, "--rules", str(ELASTIC_LINUX), "--all-rules"],
        }
        best = {label: (float("inf"), float("inf")) for label in runs}
        for _ in range(args.runs):
            for label, command in runs.items():
                run = run_once(Tool(label, command))
                if run.returncode:
                    sys.exit(f"{label}: exit status {run.returncode}\n{run.stderr.decode(errors='replace')}")
                best[label] = (min(best[label][0], run.wall), min(best[label][1], run.cpu))

    lines = count_lines(log) if args.log else args.lines
    base_wall, base_cpu = best["(a) one rule that never fires"]
    print(f"{lines:,} lines, --jobs {args.jobs}, best of {args.runs}, Python {sys.version.split()[0]}\n")
    print("| replay | wall s | CPU s | × (a) wall | × (a) CPU |")
    print("|---|---:|---:|---:|---:|")
    for label, (wall, cpu) in best.items():
        print(f"| {label} | {wall:.2f} | {cpu:.2f} | {wall / base_wall:.2f} | {cpu / base_cpu:.2f} |")
    ratio = best["(b) every loadable Elastic Linux rule"][0] / base_wall
    print(f"\ntarget: (b) at most {TARGET}× (a) wall: {'met' if ratio <= TARGET else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
