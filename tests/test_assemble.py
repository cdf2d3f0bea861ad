"""The reassembler: scenario shapes (serial, record count, cause) and pipeline-level properties."""

from __future__ import annotations

import io
import random
import tempfile

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditproc.assemble import Assembler, AuditEvent
from auditproc.normalize import EcsSettings, Normalizer
from auditproc.parse import parse_line
from auditproc.pipeline import PipelineSettings, Reporter, RunStats, iter_documents


def rec(t: str, serial: int, rtype: str = "PATH", body: str = "x=1", node: str | None = None):
    prefix = f"node={node} " if node else ""
    return parse_line(f"{prefix}type={rtype} msg=audit({t}:{serial}): {body}".encode())


def run(records, **kw) -> tuple[list[tuple[int, int, str]], Assembler]:
    out: list[AuditEvent] = []
    asm = Assembler(out.append, **kw)
    for r in records:
        asm.push(r)
    asm.flush()
    return [(e.serial, len(e.records), e.completed_by) for e in out], asm


def test_eoe_completes_at_once():
    out: list[AuditEvent] = []
    asm = Assembler(out.append)
    asm.push(rec("1.000", 1, "SYSCALL"))
    asm.push(rec("1.000", 1, "CWD"))
    assert out == []
    asm.push(rec("1.000", 1, "EOE", ""))
    assert [(e.serial, len(e.records), e.completed_by) for e in out] == [(1, 2, "eoe")]
    assert len(asm) == 0


def test_age_completes_relative_to_newest_record():
    shape, _ = run([rec("10.000", 1), rec("10.500", 2), rec("16.000", 3), rec("16.000", 3)], window_ms=5000,
                   min_events_behind=0)
    assert shape == [(1, 1, "age"), (2, 1, "age"), (3, 2, "end")]


def test_a_far_future_record_does_not_stop_completion_by_age():
    # apparmor.d's corpus log has audit(11111111111.111:111), three centuries ahead.
    records = [rec("2000000000.000", 1), rec("1700000000.000", 2), rec("1700000600.000", 3)]
    out: list[AuditEvent] = []
    asm = Assembler(out.append, window_ms=5000, min_events_behind=0)
    for r in records:
        asm.push(r)
    assert [(e.serial, e.completed_by) for e in out] == [(1, "age"), (2, "age")]


def test_an_old_event_waits_for_newer_events_to_overtake_it():
    # go-libaudit testdata/out_of_order.log: the next event is 7.8 s newer, yet the last PATH
    # of the previous one arrives after it.
    shape, _ = run([rec("1.000", 60, "SYSCALL"), rec("9.000", 61, "SYSCALL"), rec("1.000", 60, "PATH")])
    assert shape == [(60, 2, "end"), (61, 1, "end")]
    many = [rec("1.000", 60, "SYSCALL")] + [rec("9.000", n) for n in range(100, 117)] + [rec("1.000", 60, "PATH")]
    shape, asm = run(many, min_events_behind=16)
    assert shape[0] == (60, 1, "age")
    assert asm.stats.late_records == 1  # a straggler is counted, never a second partial event


def test_straggler_within_window_joins_its_event():
    shape, _ = run([rec("10.000", 1, "SYSCALL"), rec("10.001", 2, "SYSCALL"), rec("10.000", 1, "PROCTITLE")])
    assert shape == [(1, 2, "end"), (2, 1, "end")]


def test_overflow_completes_oldest_first():
    shape, asm = run([rec("1.000", n) for n in range(5)], max_inflight=2)
    assert shape == [(0, 1, "overflow"), (1, 1, "overflow"), (2, 1, "overflow"), (3, 1, "end"), (4, 1, "end")]
    assert asm.stats.by_cause == {"overflow": 3, "end": 2}


def test_nodes_separate_events_with_the_same_id():
    shape, _ = run([rec("1.000", 7, node="a"), rec("1.000", 7, node="b"), rec("1.000", 7, node="a")])
    assert sorted(shape) == [(7, 1, "end"), (7, 2, "end")]


def test_serial_wrap_keeps_events_apart():
    shape, _ = run([rec("1.000", 4294967295), rec("1.001", 0), rec("1.002", 1)])
    assert [s for s, _, _ in shape] == [4294967295, 0, 1]


def test_per_event_record_cap():
    shape, asm = run([rec("1.000", 1) for _ in range(10)], max_records=4)
    assert shape == [(1, 4, "end")]
    assert asm.stats.capped_records == 6


def test_unwanted_syscall_drops_the_whole_event():
    keep = lambda r: b"syscall=59" in r.raw  # noqa: E731
    records = [rec("1.000", 1, "PATH"), rec("1.000", 1, "SYSCALL", "syscall=257"), rec("1.000", 1, "CWD"),
               rec("1.000", 2, "SYSCALL", "syscall=59"), rec("1.000", 2, "CWD")]
    shape, asm = run(records, wanted_syscall=keep)
    assert shape == [(2, 2, "end")]
    assert asm.stats.filtered_records == 3
    assert asm.stats.events == 2


def test_unwanted_types_still_count_their_event():
    shape, asm = run([rec("1.000", 1, "USER_CMD"), rec("1.000", 2, "SYSCALL")], wanted_types=frozenset({"SYSCALL"}))
    assert shape == [(2, 1, "end")]
    assert asm.stats.events == 2


def test_order_table_stays_bounded_with_a_frozen_clock():
    # Anonymised logs carry one id on every line; EOE-completed events must not pile up.
    out: list[AuditEvent] = []
    asm = Assembler(out.append, max_inflight=8)
    for n in range(1000):
        asm.push(rec("1.000", n, "SYSCALL"))
        asm.push(rec("1.000", n, "EOE", ""))
    assert len(asm._order) <= 4 * 8 + 1
    assert len(out) == 1000


# --- two events sharing one id (spliced files, several hosts without node=) ----------


def exec_records(serial: int, name: str, t: str = "1.000") -> list:
    """The records of one exec event as auditd writes them: SYSCALL first, PROCTITLE last."""
    return [rec(t, serial, "SYSCALL", "syscall=59"), rec(t, serial, "EXECVE", f'argc=1 a0="{name}"'),
            rec(t, serial, "CWD", 'cwd="/"'), rec(t, serial, "PATH", "item=0"), rec(t, serial, "PATH", "item=1"),
            rec(t, serial, "PROCTITLE", f"proctitle={name.encode().hex()}")]


ARGV_SPLIT = [rec("1.000", 5, "SYSCALL"), rec("1.000", 5, "EXECVE", "argc=3 a0=\"x\" a1_len=4 a1[0]=41"),
              rec("1.000", 5, "EXECVE", " a1[1]=41"), rec("1.000", 5, "EXECVE", " a2=\"z\""),
              rec("1.000", 5, "PROCTITLE")]


@pytest.mark.parametrize(
    ("records", "shape", "collisions"),
    [
        pytest.param(exec_records(5, "a") + exec_records(5, "b"), [(5, 6, "collision"), (5, 6, "end")], 1,
                     id="second SYSCALL"),
        pytest.param(exec_records(5, "a") + exec_records(5, "b")[1:], [(5, 6, "collision"), (5, 5, "end")], 1,
                     id="second EXECVE argc, SYSCALL lost"),
        pytest.param(exec_records(5, "a") + exec_records(5, "b")[5:], [(5, 6, "collision"), (5, 1, "end")], 1,
                     id="second PROCTITLE"),
        pytest.param([rec("1.000", 5, "SYSCALL"), rec("1.000", 5, "EXECVE", "argc=1 a0=\"a\""),
                      rec("1.000", 5, "EXECVE", "a0=\"b\"")], [(5, 2, "collision"), (5, 1, "end")], 1,
                     id="EXECVE restarting at a0"),
        pytest.param(ARGV_SPLIT, [(5, 5, "end")], 0, id="argv split over three EXECVE records"),
        pytest.param(ARGV_SPLIT[::-1], [(5, 5, "end")], 0, id="split argv in reverse order"),
        pytest.param([rec("1.000", 5, "SYSCALL"), rec("1.000", 5, "AVC"), rec("1.000", 5, "AVC"),
                      rec("1.000", 5, "PATH"), rec("1.000", 5, "PATH")], [(5, 5, "end")], 0,
                     id="repeating types stay one event"),
        pytest.param(exec_records(5, "a") + [rec("1.000", 5, "EOE", "")] + exec_records(5, "b"),
                     [(5, 6, "eoe"), (5, 6, "end")], 1, id="second event after an EOE"),
    ],
)
def test_a_second_event_with_the_same_id_is_kept(records, shape, collisions):
    got, asm = run(records)
    assert got == shape
    assert asm.stats.id_collisions == collisions
    assert asm.stats.late_records == 0


def test_records_after_an_eoe_are_still_late():
    got, asm = run(exec_records(5, "a") + [rec("1.000", 5, "EOE", ""), rec("1.000", 5, "PATH")])
    assert got == [(5, 6, "eoe")]
    assert (asm.stats.late_records, asm.stats.id_collisions) == (1, 0)


def test_a_second_event_after_its_twin_completed_by_age_is_kept():
    records = exec_records(5, "a") + [rec("9.000", n, "SYSCALL") for n in range(10, 30)] + exec_records(5, "b")
    got, asm = run(records, window_ms=5000)
    assert [s for s in got if s[0] == 5] == [(5, 6, "age"), (5, 6, "end")]
    assert (asm.stats.id_collisions, asm.stats.late_records) == (1, 0)


def test_an_exec_sharing_the_id_of_a_discarded_event_is_kept():
    keep = lambda r: b"syscall=59" in r.raw  # noqa: E731
    records = [rec("1.000", 5, "SYSCALL", "syscall=257"), rec("1.000", 5, "PATH")] + exec_records(5, "b")
    got, asm = run(records, wanted_syscall=keep)
    assert got == [(5, 6, "end")]
    assert (asm.stats.id_collisions, asm.stats.filtered_records) == (1, 2)


def test_the_older_twin_does_not_complete_the_newer_one_by_age():
    # The first event's place in the age queue must not stand for the second (same key, later).
    out: list[AuditEvent] = []
    asm = Assembler(out.append, window_ms=5000, min_events_behind=2)
    for r in [rec("1.000", 1, "SYSCALL"), rec("1.000", 2), rec("1.000", 3), rec("1.000", 1, "SYSCALL"),
              rec("9.000", 4), rec("1.000", 1, "PATH")]:
        asm.push(r)
    asm.flush()
    assert [(e.serial, len(e.records), e.completed_by) for e in out] == [
        (1, 1, "collision"), (2, 1, "age"), (3, 1, "age"), (1, 2, "end"), (4, 1, "end")]


def test_events_emitted_before_a_restart_are_skipped_but_not_their_twin():
    out: list[AuditEvent] = []
    asm = Assembler(out.append)
    asm.mark_done([b"1.000:5"])
    for r in exec_records(5, "a") + exec_records(5, "b"):
        asm.push(r)
    asm.flush()
    assert [(e.serial, len(e.records), e.records[1].text("a0")) for e in out] == [(5, 6, "b")]
    assert (asm.stats.late_records, asm.stats.id_collisions) == (6, 1)


# --- pipeline properties ---------------------------------------------------------


def exec_event(serial: int, name: str) -> list[bytes]:
    h = f"msg=audit(1700000000.{serial % 1000:03d}:{serial}):"
    args = " ".join(f'a{i}="{a}"' for i, a in enumerate([name, "-x", str(serial)]))
    return [
        f'type=SYSCALL {h} arch=c000003e syscall=59 success=yes exit=0 items=1 ppid=1 pid={serial} uid=0 comm="{name}" exe="/usr/bin/{name}" key=(null)'.encode(),
        f"type=EXECVE {h} argc=3 {args}".encode(),
        f'type=CWD {h} cwd="/tmp/{serial}"'.encode(),
        f'type=PATH {h} item=0 name="/usr/bin/{name}" inode=1 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL'.encode(),
        f"type=PROCTITLE {h} proctitle={name.encode().hex().upper()}".encode(),
    ]


def documents(lines: list[bytes]) -> list[dict]:
    with tempfile.NamedTemporaryFile(suffix=".log") as f:
        f.write(b"".join(line + b"\n" for line in lines))
        f.flush()
        settings = PipelineSettings(ecs=EcsSettings(host_name="h"))
        docs = list(iter_documents([f.name], settings, RunStats(), Reporter(io.StringIO())))
    for d in docs:
        orjson.loads(orjson.dumps(d))  # always valid JSON
    return sorted(docs, key=lambda d: d["event"]["sequence"])


EVENTS = st.lists(st.sampled_from(["hping3", "nping", "ls", "bash"]), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(EVENTS, st.randoms(use_true_random=False))
def test_any_interleaving_gives_the_same_events(names, rnd: random.Random):
    events = [exec_event(100 + i, n) for i, n in enumerate(names)]
    ordered = [line for ev in events for line in ev]
    shuffled = ordered[:]
    rnd.shuffle(shuffled)
    assert documents(shuffled) == documents(ordered)
    assert len(documents(ordered)) == len(names)


GARBAGE = st.one_of(
    st.binary(max_size=60).filter(lambda b: b"\n" not in b and b"\r" not in b and b"type=" not in b),
    st.sampled_from([b"", b"type=", b"node=", b"type=PATH msg=audit(1.0", b"type=UNKNOWN[1329] msg=?", b"#"]),
)


@settings(max_examples=60, deadline=None)
@given(EVENTS, st.lists(GARBAGE, max_size=30), st.randoms(use_true_random=False))
def test_garbage_never_costs_a_neighbouring_event(names, garbage, rnd: random.Random):
    clean = [line for i, n in enumerate(names) for line in exec_event(200 + i, n)]
    noisy = clean[:]
    for g in garbage:
        noisy.insert(rnd.randrange(len(noisy) + 1), g)
    assert documents(noisy) == documents(clean)


def test_ecs_ignores_events_without_exec():
    event = AuditEvent(None, b"1.0:1", 1000, 1, [rec("1.000", 1, "SYSCALL", "arch=c000003e syscall=257")])
    assert Normalizer(EcsSettings(), ["process"]).document(event) is None


OPENAT_7 = [b"type=SYSCALL msg=audit(1700000000.007:7): arch=c000003e syscall=257 success=yes exit=3 pid=5",
            b'type=CWD msg=audit(1700000000.007:7): cwd="/"', b"type=PROCTITLE msg=audit(1700000000.007:7): proctitle=6C73"]


@pytest.mark.parametrize(
    "first",
    [pytest.param(OPENAT_7, id="discarded non-exec"),
     pytest.param([*exec_event(7, "ls"), b"type=EOE msg=audit(1700000000.007:7):",
                               b'type=CWD msg=audit(1700000000.007:7): cwd="/late"'], id="exec closed by EOE, then late")],
)
def test_the_parser_does_not_skip_the_second_event(first):
    # After a discarded or completed event the pipeline skips the rest of its id unparsed.
    second = documents(first + exec_event(7, "id"))[-1]["process"]
    assert (second["args"], second["working_directory"]) == (["id", "-x", "7"], "/tmp/7")


def test_stats_count_id_collisions():
    lines = exec_event(7, "ls") + exec_event(7, "id")
    stats = RunStats()
    with tempfile.NamedTemporaryFile(suffix=".log") as f:
        f.write(b"".join(line + b"\n" for line in lines))
        f.flush()
        docs = list(iter_documents([f.name], PipelineSettings(), stats, Reporter(io.StringIO())))
    assert [d["process"]["name"] for d in docs] == ["ls", "id"]
    assert stats.id_collisions == 1
    assert any("id collisions: 1" in line for line in stats.summary())
