"""Replay cost with every loadable Elastic Linux rule against a replay with one rule that never fires.

    .venv/bin/python bench/replay_rules.py [--lines 1000000] [--profile sparse|dense] [--log FILE]
        [--runs 3] [--jobs 2]

Generates a log with gen_log.py (or takes ``--log``), then times the installed console script
``auditproc replay`` on it, output to /dev/null, with (a) one rule that no event matches,
(b) ``--rules ../shared/elastic-rules/linux --all-rules``, and (c) the same without its sequence and
sample rules. Runs alternate, best of ``--runs``. Targets: (b) takes at most 1.3× the time of (a)
(the rule-table issue), and at most 1.15× the time of (c) (the sequences issue). Prints one
Markdown table with wall and CPU seconds and the ratios; CPU counts every process of ``--jobs N``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench_rules import ELASTIC_LINUX
from compare_laurel import Tool, count_lines, run_once
from gen_log import write_log

from auditproc.rulefiles import load_rules

AUDITPROC = Path(sys.executable).with_name("auditproc")
TARGET = 1.3
SEQUENCES_TARGET = 1.15
NEVER, EVERY, SINGLE = "(a) one rule that never fires", "(b) every loadable Elastic Linux rule", "(c) (b) but sequences"

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
    parser.add_argument("--profile", choices=("sparse", "dense"), default="sparse")
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
            write_log(log, args.lines, profile=args.profile)
        never = Path(tmp) / "never.toml"
        never.write_text(NEVER_RULE)
        single = Path(tmp) / "single"
        single.mkdir()
        for rule in load_rules([ELASTIC_LINUX], all_rules=True).rules:
            if not rule.correlates:
                (single / rule.path.name).write_bytes(rule.path.read_bytes())
        replay = [str(AUDITPROC), "replay", "--jobs", str(args.jobs), str(log)]
        runs = {
            NEVER: [*replay, "--rules", str(never)],
            EVERY: [*replay, "--rules", str(ELASTIC_LINUX), "--all-rules"],
            SINGLE: [*replay, "--rules", str(single), "--all-rules"],
        }
        best = {label: (float("inf"), float("inf")) for label in runs}
        for _ in range(args.runs):
            for label, command in runs.items():
                run = run_once(Tool(label, command))
                if run.returncode:
                    sys.exit(f"{label}: exit status {run.returncode}\n{run.stderr.decode(errors='replace')}")
                best[label] = (min(best[label][0], run.wall), min(best[label][1], run.cpu))

    lines = count_lines(log) if args.log else args.lines
    base_wall, base_cpu = best[NEVER]
    print(f"{lines:,} lines ({args.profile if not args.log else args.log}), --jobs {args.jobs}, best of {args.runs}, "
          f"Python {sys.version.split()[0]}\n")
    print("| replay | wall s | CPU s | × (a) wall | × (a) CPU |")
    print("|---|---:|---:|---:|---:|")
    for label, (wall, cpu) in best.items():
        print(f"| {label} | {wall:.2f} | {cpu:.2f} | {wall / base_wall:.2f} | {cpu / base_cpu:.2f} |")
    ratio = best[EVERY][0] / base_wall
    print(f"\ntarget: (b) at most {TARGET}× (a) wall: {'met' if ratio <= TARGET else 'missed'}")
    sequences = best[EVERY][1] / best[SINGLE][1]
    print(f"target: (b) at most {SEQUENCES_TARGET}× (c) CPU: {sequences:.2f}, "
          f"{'met' if sequences <= SEQUENCES_TARGET else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
