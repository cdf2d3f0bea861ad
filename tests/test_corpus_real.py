"""The real-log corpus (``<repo>/../shared/corpus/real``): no crash, valid JSON, and grouping
that agrees with audit-userspace's auparse except where the difference is documented below.

Events are grouped as ``replay`` groups them with every event kind selected (``--category all``):
every record of every type, not only exec events. auparse runs under the system Python
(python3-audit), once for all files, in a subprocess.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from auditproc.assemble import AuditEvent
from auditproc.pipeline import ExecPipeline, PipelineSettings, Reporter, RunStats, feed_inputs, iter_documents

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "real"
AUPARSE_SCRIPT = REPO / "tests" / "reference" / "auparse_events.py"
SYSTEM_PYTHON = "/usr/bin/python3"

if not CORPUS.is_dir():
    pytest.skip(f"real-log corpus not found at {CORPUS}", allow_module_level=True)

FILES = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*") if p.is_file() and p.name != "SOURCES.md")

# An event as compared: (node, id, record types in arrival order). EOE is left out on both
# sides: our assembler consumes it as a terminator, auparse keeps it in the event it closes.
Key = tuple[str | None, str | None, tuple[str, ...]]


@dataclass(frozen=True)
class Split:
    """auparse splits one of our events (same node and id) into ``parts``; ``relayed``: records of
    ours from syslog-relayed lines, which auparse does not read."""

    id: str
    ours: tuple[str, ...]
    parts: tuple[tuple[str, ...], ...]
    relayed: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuparseOnly:
    """An event auparse reports and we do not (a line our parser rejects)."""

    id: str | None
    types: tuple[str, ...]


@dataclass(frozen=True)
class OursOnly:
    """An event we read and auparse does not (a syslog-relayed line, ``kernel: audit: type=1400 audit(…)``)."""

    id: str
    types: tuple[str, ...]


_OVERTAKEN = (
    "a record arrives after events seconds newer than its own: auparse's 2 s rule has closed its "
    "event, ours waits until the event is both older than the window and overtaken by 16 newer "
    "events, so the record joins it"
)

_LOGIN_SPLIT = (
    "auparse treats every record type below 1300 as a complete one-record event, so a LOGIN "
    "sharing its serial with the SYSCALL of the same syscall becomes a separate event (format §4.2)"
)

# Every known disagreement with auparse: file → (reason, expected differences). Each entry is
# checked exactly; a file not listed here must agree record for record.
EXPLAINED: dict[str, tuple[str, list[Split | AuparseOnly | OursOnly]]] = {
    "audit-userspace/auparse/test/test.log": (
        _LOGIN_SPLIT,
        [Split("1170021601.343:296", ("LOGIN", "SYSCALL", "PROCTITLE"), (("LOGIN",), ("SYSCALL", "PROCTITLE")))],
    ),
    "audit-userspace/auparse/test/test2.log": (
        _LOGIN_SPLIT,
        [Split("1170021601.343:286", ("LOGIN", "SYSCALL", "PROCTITLE"), (("LOGIN",), ("SYSCALL", "PROCTITLE")))],
    ),
    "plaso/test_data/audit_enriched.log": (
        _LOGIN_SPLIT,
        [Split("1783414613.166:447", ("LOGIN", "SYSCALL", "PROCTITLE"), (("LOGIN",), ("SYSCALL", "PROCTITLE")))],
    ),
    "laurel/src/testdata/record-login.txt": (
        _LOGIN_SPLIT,
        [Split("1640027821.949:151316", ("LOGIN", "SYSCALL"), (("LOGIN",), ("SYSCALL",)))],
    ),
    "laurel/src/testdata/record-service-start.txt": (
        "SERVICE_START (1130, user space) shares its serial with the SYSCALL that sent it; "
        "auparse completes it alone (type < 1300)",
        [
            Split(
                "1661853391.646:4486226",
                ("SERVICE_START", "SYSCALL", "SOCKADDR", "UNKNOWN[1420]"),
                (("SERVICE_START",), ("SYSCALL", "SOCKADDR", "UNKNOWN[1420]")),
            )
        ],
    ),
    "laurel/src/testdata/record-syscall-nullkey.txt": (
        "PROCTITLE comes first in event :225; auparse assumes PROCTITLE is last and closes the "
        "event on it, so the later PATH and SYSCALL become a second event (format §4.4)",
        [Split("1678283440.683:225", ("PROCTITLE", "PATH", "SYSCALL"), (("PROCTITLE",), ("PATH", "SYSCALL")))],
    ),
    "go-libaudit/testdata/out_of_order.log": (
        _OVERTAKEN,
        [Split("1492037291.038:60", ("SYSCALL", "EXECVE", "CWD", "PATH", "PATH"),
               (("SYSCALL", "EXECVE", "CWD", "PATH"), ("PATH",)))],
    ),
    "selinux/python/sepolgen/tests/test_data/httpd.log": (
        _OVERTAKEN,
        [Split("1163794368.125:14482", ("AVC", "SYSCALL"), (("AVC",), ("SYSCALL",)))],
    ),
    "go-libaudit/auparse/testdata/audit-rhel7.log": (
        "lines are sorted by type name, not time; " + _OVERTAKEN,
        [Split("1481076984.827:17", ("NETFILTER_CFG", "SYSCALL"), (("NETFILTER_CFG",), ("SYSCALL",))),
         Split("1481077231.371:479", ("CWD", "EXECVE", "PATH"), (("CWD",), ("EXECVE", "PATH")))],
    ),
    "laurel/src/testdata/fork-sleep-exec.txt": (
        "a '#' comment line holding C source is not a record; auparse turns it into a bogus "
        "event without timestamp, our parser rejects it",
        [AuparseOnly(None, ("?",))],
    ),
    "plaso/test_data/selinux.log": (
        "'msg=audit(1337845201)' has no milliseconds and no serial: auparse invents .000:0, our "
        "parser rejects the line (BAD_EVENT_ID); 'type= msg=audit(…)' has an empty type, which "
        "the file itself says should be skipped: we reject it (BAD_HEADER), auparse keeps it",
        [AuparseOnly("1337845201", ("WRONGDATE",)), AuparseOnly("1337845333.174:94984", ("",))],
    ),
    "apparmor.d/tests/testdata/logs/audit.log": (
        "anonymised: most lines share the id 1111111111.111:1111, which is one event for us; auparse "
        "splits it where a user-space USER_AVC (type < 1300) completes an event. We also read the 12 "
        "syslog/kernel-ring relay lines ('kernel: audit: type=1400 audit(…)') that auparse skips: 3 "
        "join the shared id, 9 are events of their own",
        [
            Split(
                "1111111111.111:1111",
                ("BPF", *("AVC",) * 8, "BPF", "AVC", *("BPF",) * 2, *("AVC",) * 4, *("BPF",) * 2, *("AVC",) * 2,
                 "BPF", *("AVC",) * 4, "BPF", "AVC", "USER_AVC", "AVC", *("USER_AVC",) * 2, *("AVC",) * 2,
                 *("UNKNOWN[1107]",) * 2, *("AVC",) * 8),
                (("BPF", *("AVC",) * 8, "BPF", "AVC", *("BPF",) * 2, *("AVC",) * 4, *("BPF",) * 2, *("AVC",) * 2,
                  "BPF", *("AVC",) * 4, "BPF", "AVC", "USER_AVC"),
                 ("USER_AVC",), ("AVC", "USER_AVC"), ("AVC",) * 4, ("AVC",) * 5),
                relayed=("UNKNOWN[1107]", "UNKNOWN[1107]", "AVC"),
            ),
            *(OursOnly(id, ("AVC",)) for id in (
                "11111111111.111:111", "1689714302.008:1693", "1689714302.008:1694", "1689714302.008:1695",
                "1689714302.008:1696", "1689779263.198:3384", "1689779263.198:3385", "1689779263.106:3379",
                "1689779263.106:3380")),
        ],
    ),
}


def replay_events(path: Path) -> list[tuple[AuditEvent, dict | None]]:
    """Every event ``replay`` completes from a file with every kind selected (its assembler filter,
    its parser's skipping), each with its document before enrichment (None: it makes none)."""
    pipe = ExecPipeline(PipelineSettings(kinds=None), RunStats(), Reporter(io.StringIO()), enrich=False)
    build = pipe.normalizer.document
    seen: list[tuple[AuditEvent, dict | None]] = []

    def document(event: AuditEvent) -> dict | None:
        doc = build(event)
        seen.append((event, doc))
        return doc

    pipe.normalizer.document = document  # type: ignore[method-assign]
    for _ in feed_inputs(pipe, [str(path)]):
        pass
    return seen


def replay_grouping(path: Path) -> list[AuditEvent]:
    """The events of ``replay_events``, without their documents."""
    return [event for event, _ in replay_events(path)]


def our_keys(events: list[AuditEvent]) -> Counter[Key]:
    """Our events as a multiset of comparison keys."""
    return Counter(
        (
            e.node.decode("utf-8", "backslashreplace") if e.node is not None else None,
            e.id.decode("ascii", "backslashreplace"),
            tuple(r.type for r in e.records if r.type != "EOE"),
        )
        for e in events
    )


def auparse_keys(events: list[dict]) -> Counter[Key]:
    """auparse's events (from tests/reference/auparse_events.py) as comparison keys."""
    return Counter((e["node"], e["id"], tuple(t for t in e["types"] if t != "EOE")) for e in events)


@pytest.fixture(scope="module")
def auparse_events() -> dict[str, list[dict]]:
    """auparse's view of every corpus file, from one subprocess."""
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import auparse"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("python3-audit (auparse) is not installed for /usr/bin/python3")
    done = subprocess.run(
        [SYSTEM_PYTHON, str(AUPARSE_SCRIPT), "--each", *(str(CORPUS / f) for f in FILES)],
        capture_output=True, check=True, timeout=120,
    )
    raw = json.loads(done.stdout)
    return {Path(p).relative_to(CORPUS).as_posix(): v for p, v in raw.items()}


def _sources_facts() -> dict[str, tuple[int, int, int]]:
    """SOURCES.md per file: (lines, auparse events, events with EXECVE records)."""
    facts: dict[str, tuple[int, int, int]] = {}
    directory = ""
    for line in (CORPUS / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        heading = re.match(r"## `([^`]+)/`", line)
        if heading:
            directory = heading.group(1)
            continue
        row = re.match(r"\| `([^`]+)` \| (\d+) \| (\d+) \| \d+ \| (no|yes: (\d+) event)", line)
        if row and directory:
            name = row.group(1).split(" ← ")[0]  # "member.log ← zip member of …"
            execs = int(row.group(5)) if row.group(5) else 0
            facts[f"{directory}/{name}"] = (int(row.group(2)), int(row.group(3)), execs)
    return facts


SOURCES = _sources_facts()


@pytest.mark.parametrize("name", FILES)
def test_pipeline_reads_file_and_emits_valid_json(name: str) -> None:
    """`auditproc events --category all` machinery: no exception, every line counted, every doc JSON-safe."""
    stats = RunStats()
    docs = list(iter_documents([str(CORPUS / name)], PipelineSettings(kinds=None), stats, Reporter(io.StringIO())))
    for doc in docs:
        assert orjson.loads(orjson.dumps(doc)) == doc
    assert stats.input_errors == 0
    if name in SOURCES:
        assert stats.lines == SOURCES[name][0]


@pytest.mark.parametrize("name", FILES)
def test_exec_events_match_sources(name: str) -> None:
    """Documents built from EXECVE records: as many as SOURCES.md counts EXECVE-bearing events."""
    if name not in SOURCES:
        pytest.skip("file not described in SOURCES.md")
    docs = iter_documents([str(CORPUS / name)], PipelineSettings(), RunStats(), Reporter(io.StringIO()))
    with_argv = sum(1 for d in docs if "args" in d["process"])
    assert with_argv == SOURCES[name][2]


def test_sources_describes_every_file() -> None:
    """SOURCES.md and the files on disk agree (so the per-file facts above are not silently skipped)."""
    assert sorted(SOURCES) == FILES


def test_explained_table_names_existing_files() -> None:
    """A stale entry in EXPLAINED would hide nothing, but it would mislead the reader."""
    assert set(EXPLAINED) <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_grouping_agrees_with_auparse(name: str, auparse_events: dict[str, list[dict]]) -> None:
    """Same events, same records per event as auparse, after the documented differences."""
    reference = auparse_events[name]
    assert isinstance(reference, list), f"auparse failed on {name}: {reference}"
    if name in SOURCES:  # the reference script sees what SOURCES.md recorded from auparse
        assert len(reference) == SOURCES[name][1]
    ours = our_keys(replay_grouping(CORPUS / name))
    theirs = auparse_keys(reference)
    reason, differences = EXPLAINED.get(name, ("", []))
    expected = Counter(ours)
    for diff in differences:
        if isinstance(diff, AuparseOnly):
            expected[(None, diff.id, diff.types)] += 1
            continue
        mine = (None, diff.id, diff.ours if isinstance(diff, Split) else diff.types)
        assert expected[mine] >= 1, f"no event {mine} of ours ({reason})"
        expected[mine] -= 1
        if isinstance(diff, Split):
            assert sorted(t for part in (*diff.parts, diff.relayed) for t in part) == sorted(diff.ours)
            expected.update((None, diff.id, part) for part in diff.parts)
    assert +expected == theirs, reason or "unexplained disagreement with auparse"
