"""Per-event cost of rule matching as the rule set grows: 2 seed rules, Elastic's Linux rules, 1,000 rules.

    .venv/bin/python bench/bench_rules.py [--docs 1000] [--rounds 7] [--seed 1]

Builds about 1,000 synthetic ECS process-start documents (many process names, about 1 % hits),
then times ``RuleTable.match`` per document for (a) the two seed rules shipped with auditproc,
(b) every loadable Elastic Linux rule (``all_rules=True``; needs ``../shared``), (c) those
rules replicated to 1,000 distinct rules, and (d) the seed rules replicated to 1,000. Prints a
Markdown table: rules, indexed / scanned, rules that are candidates for every event, mean
candidates per event, µs per event to find candidates and to match (best of ``--rounds``), the
ratio to (a), and the cost of testing every rule instead. Then the per-event cost of the sequence
engine: ``Detector.process`` (rule table, matchers, alerts) with Elastic's single-event rules, and
with its 12 sequence and sample rules added.

Replicas keep each rule's structure and vary its literals: every string compared with a field
other than the shared data-source boilerplate (``host.os.type``, ``event.type``,
``event.category``, ``event.action``) gets a suffix, so a copy of a rule keyed on
``process.name`` looks for other tools, while a copy of a rule with no selective key stays a
candidate for every event, as its original is.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from auditproc.eql import compile_query
from auditproc.eql.ast import Comparison, EventQuery, Field, InSet, Literal, Node, StringMatch
from auditproc.rulefiles import Rule, default_rules_dir, load_rules
from auditproc.ruletable import RuleTable

REPO = Path(__file__).resolve().parents[1]
ELASTIC_LINUX = REPO.parent / "shared" / "elastic-rules" / "linux"
SEED_RULE_FILES = ("discovery_linux_hping_activity.toml", "discovery_linux_nping_activity.toml")
REPLICATED_RULES = 1000
DOCS = 1000
HIT_SHARE = 0.01  # documents whose process is one the seed rules look for
BOILERPLATE_FIELDS = frozenset({"host.os.type", "event.type", "event.category", "event.action"})

# (process name, argument sets) for a busy Linux server.
COMMON = {
    "bash": [["-c", "echo ok"], ["-l"], []],
    "sh": [["-c", "run-parts /etc/cron.hourly"], ["/usr/lib/update-notifier/apt-check"]],
    "sudo": [["-u", "postgres", "psql"], ["systemctl", "restart", "nginx"]],
    "systemctl": [["status", "nginx"], ["is-active", "ssh"]],
    "python3": [["/usr/bin/unattended-upgrade"], ["-m", "pip", "list"], ["manage.py", "migrate"]],
    "perl": [["-e", "print 1"]],
    "git": [["pull"], ["status"], ["log", "-1"]],
    "ls": [["-la"], ["/var/log"]],
    "cat": [["/etc/os-release"], ["/proc/meminfo"]],
    "grep": [["-r", "TODO", "."], ["-c", "error", "/var/log/syslog"]],
    "awk": [["{print $1}"]],
    "sed": [["-n", "1p"], ["-i", "s/a/b/", "f.txt"]],
    "curl": [["-s", "https://example.org/health"], ["-fsSL", "https://deb.example.org/key.gpg"]],
    "wget": [["-q", "https://example.org/file.tar.gz"]],
    "ssh": [["deploy@10.0.0.7"], ["-p", "2222", "git@example.org"]],
    "tar": [["-czf", "/backup/etc.tgz", "/etc"]],
    "gzip": [["-9", "access.log"]],
    "apt-get": [["update"], ["install", "-y", "jq"]],
    "dpkg": [["-l"]],
    "docker": [["ps"], ["logs", "web"]],
    "kubectl": [["get", "pods"], ["describe", "node", "n1"]],
    "java": [["-jar", "/opt/app/app.jar"]],
    "node": [["/srv/app/server.js"]],
    "make": [["-j4"]],
    "gcc": [["-O2", "-c", "main.c"]],
    "id": [["-u"], []],
    "whoami": [[]],
    "uname": [["-a"], ["-r"]],
    "ps": [["aux"], ["-ef"]],
    "find": [["/tmp", "-mtime", "+7", "-delete"], [".", "-name", "*.pyc"]],
    "xargs": [["rm", "-f"]],
    "chmod": [["644", "index.html"], ["+x", "deploy.sh"]],
    "chown": [["www-data:www-data", "/var/www/html"]],
    "mkdir": [["-p", "/tmp/build"]],
    "rm": [["-rf", "/tmp/build"]],
    "cp": [["a.conf", "b.conf"]],
    "env": [[]],
    "date": [["+%s"]],
    "sleep": [["5"]],
    "head": [["-n", "20", "app.log"]],
    "tail": [["-f", "/var/log/nginx/access.log"]],
    "sort": [["-u"]],
    "wc": [["-l"]],
    "nginx": [["-t"], ["-s", "reload"]],
    "php-fpm8.2": [["--nodaemonize"]],
    "psql": [["-c", "select 1"]],
    "journalctl": [["-u", "nginx", "--since", "today"]],
    "logger": [["-t", "backup", "done"]],
    "hostname": [["-f"]],
    "ip": [["addr"], ["route"]],
    "ss": [["-tlnp"]],
    "mount": [[]],
    "df": [["-h"]],
    "du": [["-sh", "/var"]],
    "free": [["-m"]],
    "crontab": [["-l"]],
    "rsync": [["-a", "/srv/", "backup:/srv/"]],
    "openssl": [["x509", "-in", "cert.pem", "-noout", "-dates"]],
}
HITS = {"hping3": [["-S", "-p", "80", "10.0.0.5"]], "nping": [["--tcp", "-p", "22", "10.0.0.0/24"]]}
PARENTS = ["bash", "sh", "cron", "systemd", "sshd", "python3", "make", "sudo"]


def synthetic_docs(count: int = DOCS, seed: int = 1) -> list[dict]:
    """Return ``count`` ECS process-start documents shaped like auditproc's exec events."""
    rng = random.Random(seed)
    tools = [f"tool{i:03d}" for i in range(200)]  # in-house scripts and binaries nobody has a rule for
    docs = []
    for serial in range(count):
        if rng.random() < HIT_SHARE:
            name = rng.choice(sorted(HITS))
            args = rng.choice(HITS[name])
        elif rng.random() < 0.8:
            name = rng.choice(sorted(COMMON))
            args = rng.choice(COMMON[name])
        else:
            name = rng.choice(tools)
            args = ["--run", str(serial)]
        parent = rng.choice(PARENTS)
        argv = [name, *args]
        docs.append(
            {
                "@timestamp": "2026-11-23T10:00:00.000Z",
                "event": {
                    "kind": "event",
                    "category": ["process"],
                    "type": ["start"],
                    "action": "executed",
                    "outcome": "success",
                    "module": "auditd",
                    "sequence": serial,
                },
                "host": {"name": "web-01", "os": {"type": "linux"}},
                "process": {
                    "pid": 10000 + serial,
                    "name": name,
                    "executable": f"/usr/bin/{name}",
                    "args": argv,
                    "args_count": len(argv),
                    "command_line": " ".join(argv),
                    "working_directory": "/root",
                    "parent": {"pid": 9000 + serial % 50, "name": parent, "executable": f"/usr/bin/{parent}"},
                },
                "user": {"id": "0", "name": "root"},
                "auditd": {"data": {"syscall": "execve", "tty": "pts0"}},
            }
        )
    return docs


def _suffixed(text: str, kind: str, suffix: str) -> str:
    """Return a literal that keeps its wildcard shape but names something else.

    The suffix goes after the pattern's first literal part, so its prefix, suffix or inner text
    (whichever the table keys on) changes too.
    """
    if kind in (":", "like"):
        match = re.search(r"[^*?]+", text)
        if match:
            return text[: match.end()] + suffix + text[match.end() :]
    return text + suffix


def _vary(node: Node, suffix: str) -> Node:
    """Return ``node`` with a suffix on every string compared with a non-boilerplate field."""
    subject = node.expr if isinstance(node, InSet | StringMatch) else None
    if isinstance(node, Comparison):
        subject = node.left if isinstance(node.left, Field) else node.right
    if isinstance(subject, Field) and ".".join(map(str, subject.path)) not in BOILERPLATE_FIELDS:
        kind = node.kind if isinstance(node, StringMatch) else "=="

        def vary_literal(value: Node) -> Node:
            if isinstance(value, Literal) and isinstance(value.value, str):
                return Literal(_suffixed(value.value, kind, suffix))
            return value

        if isinstance(node, InSet):
            return dataclasses.replace(node, values=tuple(map(vary_literal, node.values)))
        if isinstance(node, StringMatch):
            return dataclasses.replace(node, patterns=tuple(map(vary_literal, node.patterns)))
        return dataclasses.replace(node, left=vary_literal(node.left), right=vary_literal(node.right))
    changes = {}
    for item in dataclasses.fields(node):  # type: ignore[arg-type]
        value = getattr(node, item.name)
        if isinstance(value, Node):
            changes[item.name] = _vary(value, suffix)
        elif isinstance(value, tuple) and value and all(isinstance(v, Node) for v in value):
            changes[item.name] = tuple(_vary(v, suffix) for v in value)
    return dataclasses.replace(node, **changes) if changes else node  # type: ignore[type-var]


def replicate(rules: Sequence[Rule], count: int) -> list[Rule]:
    """Return ``rules`` followed by varied copies, ``count`` distinct rules in all."""
    out = list(rules)
    copy = 0
    while len(out) < count:
        copy += 1
        for rule in rules[: count - len(out)]:
            ast = rule.compiled.ast
            query = str(EventQuery(ast.category, _vary(ast.condition, f"-c{copy}")))
            out.append(
                dataclasses.replace(
                    rule, rule_id=f"{rule.rule_id}-c{copy}", query=query, compiled=compile_query(query)
                )
            )
    return out


def seed_rules() -> list[Rule]:
    """Return the two seed rules shipped with auditproc (hping, nping)."""
    load = load_rules([default_rules_dir() / name for name in SEED_RULE_FILES])
    return load.rules


def elastic_rules(sequences: bool = False) -> list[Rule]:
    """Return every loadable Elastic Linux single-event rule (and sequence, when asked), or [] without ``../shared``."""
    if not ELASTIC_LINUX.is_dir():
        return []
    return [rule for rule in load_rules([ELASTIC_LINUX], all_rules=True).rules if sequences or not rule.correlates]


def detector_us(docs: Sequence[dict], rounds: int) -> tuple[float, float]:
    """Return µs per document of ``Detector.process`` with Elastic's single-event rules, and with its sequences too."""
    from auditproc.alerts import AlertSettings
    from auditproc.detect import Detector

    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for n, rules in enumerate((elastic_rules(), elastic_rules(sequences=True))):
            detector = Detector(RuleTable(rules), AlertSettings())  # fresh state: each round sees the same stream
            best[n] = min(best[n], per_event_us(detector.process, docs, 1))
    return best[0], best[1]


def rule_sets() -> dict[str, list[Rule]]:
    """Return the rule sets to compare, by label; the first is the baseline."""
    seeds = seed_rules()
    sets = {"(a) 2 seed rules": seeds}
    elastic = elastic_rules()
    if elastic:
        sets[f"(b) {len(elastic)} Elastic Linux rules, all_rules"] = elastic
        sets[f"(c) Elastic rules replicated to {REPLICATED_RULES}"] = replicate(elastic, REPLICATED_RULES)
    sets[f"(d) seed rules replicated to {REPLICATED_RULES}"] = replicate(seeds, REPLICATED_RULES)
    return sets


def per_event_us(run: Callable[[dict], object], docs: Sequence[dict], rounds: int) -> float:
    """Return the best-of-``rounds`` time of ``run`` per document, in microseconds."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for doc in docs:
            run(doc)
        best = min(best, time.perf_counter() - start)
    return best / len(docs) * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    """Print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=DOCS)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    docs = synthetic_docs(args.docs, args.seed)
    tables = {label: RuleTable(rules) for label, rules in rule_sets().items()}
    # Rounds alternate between the tables so that a busy machine slows all of them alike.
    lookup_us = dict.fromkeys(tables, float("inf"))
    match_us = dict.fromkeys(tables, float("inf"))
    for _ in range(args.rounds):
        for label, table in tables.items():
            lookup_us[label] = min(lookup_us[label], per_event_us(table.candidates, docs, 1))
            match_us[label] = min(match_us[label], per_event_us(table.match, docs, 1))
    baseline = match_us[next(iter(tables))]
    rows = []
    for label, table in tables.items():
        per_doc = [table.candidates(doc) for doc in docs]
        rules = table.rules
        every_us = per_event_us(
            lambda doc, rules=rules: [r for r in rules if r.compiled.matches(doc)], docs, 1
        )
        rows.append(
            (
                label,
                len(rules),
                len(rules) - len(table.scanned),
                len(table.scanned),
                len(set.intersection(*(set(map(id, c)) for c in per_doc))),
                sum(map(len, per_doc)) / len(docs),
                sum(len(table.match(doc)) for doc in docs),
                lookup_us[label],
                match_us[label],
                match_us[label] / baseline,
                every_us,
            )
        )

    print(f"{len(docs)} documents, best of {args.rounds} rounds, Python {sys.version.split()[0]}\n")
    print(
        "| rule set | rules | indexed | scanned | candidates for every event | candidates/event | hits "
        "| µs/event finding candidates | µs/event matching | × (a) | µs/event testing every rule |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (
        label,
        total,
        indexed,
        scanned,
        always,
        candidates,
        hits,
        lookup_us,
        table_us,
        ratio,
        every_us,
    ) in rows:
        print(
            f"| {label} | {total} | {indexed} | {scanned} | {always} | {candidates:.2f} | {hits} | "
            f"{lookup_us:.2f} | {table_us:.2f} | {ratio:.2f} | {every_us:.1f} |"
        )
    if ELASTIC_LINUX.is_dir():
        single, with_sequences = detector_us(docs, min(args.rounds, 5))
        print(f"\nDetector.process, µs/event: {single:.2f} with Elastic's single-event rules, {with_sequences:.2f} "
              f"with its sequences and samples too: the sequence engine costs {with_sequences - single:.2f} µs/event "
              f"({with_sequences / single:.2f}×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
