"""Which rules can fire at all on auditproc's exec events, per ECS profile.

A rule "can fire" unless its query is false for every exec event we could emit. The query is
evaluated in three-valued logic: fields with a value fixed for every exec event (event.category,
event.type, event.action, host.os.type, auditd.data.syscall, …) take it, fields we never emit are
missing, and every other field we emit is unknown. Usage:

    python bench/rule_coverage.py [RULES_DIR]     (default ../shared/elastic-rules/linux)
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from auditproc.eql.ast import And, EventQuery, Field, Node, Not, Or
from auditproc.eql.interpreter import truth
from auditproc.rulefiles import load_rules

# What every exec document carries, whatever the event (normalize.process).
FIXED = {
    "event": {"kind": "event", "category": ["process"], "type": ["start"], "module": "auditd",
              "dataset": "auditproc.process"},
    "host": {"os": {"type": "linux"}},
    "auditd": {"message_type": "syscall", "data": {"syscall": "execve"}},
    "ecs": {"version": "8.17.0"},
    "service": {"type": "auditd"},
}
# Fields whose value varies per event but which we do emit (the prefixes cover their subfields).
EMITTED = (
    "@timestamp", "event.outcome", "event.sequence", "host.id", "host.name", "host.hostname", "host.architecture",
    "process.pid", "process.name", "process.executable", "process.args", "process.args_count",
    "process.command_line", "process.title", "process.working_directory",
    "process.parent.pid", "process.parent.name", "process.parent.executable", "process.parent.args",
    "process.parent.args_count", "process.parent.command_line", "process.parent.working_directory",
    "user.id", "user.name", "user.group.id", "user.group.name", "user.effective.", "related.user",
    "file.", "auditd.", "tags", "error.message",
)
ENDPOINT_EMITTED = (
    "process.user.", "process.group.", "process.real_user.", "process.real_group.", "process.saved_user.",
    "process.saved_group.", "process.interactive",
)


@dataclass(frozen=True)
class Profile:
    """A document shape: the fixed action and the fields emitted."""

    name: str
    action: str
    emitted: tuple[str, ...]


PROFILES = (Profile("auditd", "executed", EMITTED), Profile("endpoint", "exec", EMITTED + ENDPOINT_EMITTED))


def dotted(field: Field) -> str:
    """A field path as text (array indexes dropped)."""
    return ".".join(p for p in field.path if isinstance(p, str))


def fields_of(node: Node) -> set[str]:
    """Every field a (sub)query reads."""
    if isinstance(node, Field):
        return {dotted(node)}
    out: set[str] = set()
    for value in getattr(node, "__dataclass_fields__", {}):
        child = getattr(node, value)
        for item in child if isinstance(child, tuple) else (child,):
            if isinstance(item, Node):
                out |= fields_of(item)
    return out


def partial(node: Node, doc: dict, emitted: tuple[str, ...]) -> bool | None:
    """Kleene evaluation: None when the answer depends on an emitted, non-fixed field."""
    if isinstance(node, And):
        results = [partial(t, doc, emitted) for t in node.terms]
        return False if False in results else (None if None in results else True)
    if isinstance(node, Or):
        results = [partial(t, doc, emitted) for t in node.terms]
        return True if True in results else (None if None in results else False)
    if isinstance(node, Not):
        inner = partial(node.operand, doc, emitted)
        return None if inner is None else not inner
    if any(f == e or f.startswith(e) for f in fields_of(node) for e in emitted):
        return None
    return truth(node, doc) is True  # fixed or missing fields only: the real semantics decide


def can_fire(query: EventQuery, profile: Profile) -> bool:
    """Whether some exec document of this profile could match."""
    if query.category not in ("process", "any"):
        return False
    doc = {**FIXED, "event": {**FIXED["event"], "action": profile.action}}
    return partial(query.condition, doc, profile.emitted) is not False


def main(rules_dir: str) -> None:
    """Print, per profile, how many single-event rules can fire, and those using parent fields."""
    load = load_rules([rules_dir], all_rules=True)
    rules = [r for r in load.rules if not r.correlates]  # single-event rules (sequences: rules list)
    parent = [r for r in rules if any(f.startswith("process.parent.") and f != "process.parent.pid"
                                      for f in fields_of(r.compiled.ast.condition))]
    print(f"{len(rules)} single-event rules, {len(load.skipped)} set aside; {len(parent)} read parent fields\n")
    print("| profile | can fire | of which read process.parent.* |")
    print("|---|---:|---:|")
    for profile in PROFILES:
        firing = [r for r in rules if can_fire(r.compiled.ast, profile)]
        with_parent = [r for r in firing if r in parent]
        print(f"| {profile.name} | {len(firing)} | {len(with_parent)} |")
    kinds = Counter(s.kind for s in load.skipped)
    print(f"\nset aside: {dict(kinds)}")


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "shared" / "elastic-rules" / "linux"
    main(sys.argv[1] if len(sys.argv) > 1 else str(default))
