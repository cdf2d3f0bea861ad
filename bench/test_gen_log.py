"""gen_log.py: the sparse profile's bytes stay fixed; the dense profile has the promised shape.

    .venv/bin/pytest bench/test_gen_log.py
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from gen_log import write_log

from auditproc.parse import ParseError, parse_line

LINES = 20_000

# sha256 of the first 20,000 lines as gen_log.py wrote them before it had profiles: benchmark
# figures measured on older logs stay comparable.
SPARSE_DIGESTS = [
    (1, False, None, "d12884ac5bd0988ca38f78a8a852ad412c1d48bbacc6d2f4fbe63b7bb1761e57"),
    (1, True, "web01", "60eb3a68f3000587290aafc5395bcf8e3b76ed3a89067c5c0ab097f261b098cf"),
    (2, False, None, "c0b4f645b63490a33418061655d4472f97317a81139913c242fa79108f1e8fca"),
]
SERIAL = re.compile(rb"msg=audit\([0-9.]+:([0-9]+)\)")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("seed", "enriched", "node", "expected"), SPARSE_DIGESTS)
def test_sparse_profile_writes_the_same_bytes_as_before(tmp_path, seed, enriched, node, expected):
    log = tmp_path / "audit.log"
    write_log(log, LINES, seed, enriched, node)
    assert digest(log) == expected


@pytest.fixture(scope="module")
def dense_log(tmp_path_factory) -> Path:
    log = tmp_path_factory.mktemp("dense") / "audit.log"
    write_log(log, LINES, seed=1, profile="dense")
    return log


def events(log: Path) -> dict[bytes, list[bytes]]:
    """Lines by serial, in order of first appearance."""
    grouped: dict[bytes, list[bytes]] = {}
    for line in log.read_bytes().splitlines():
        grouped.setdefault(SERIAL.search(line).group(1), []).append(line)
    return grouped


def test_dense_profile_is_deterministic_per_seed(dense_log, tmp_path):
    again, other = tmp_path / "again.log", tmp_path / "other.log"
    write_log(again, LINES, seed=1, profile="dense")
    write_log(other, LINES, seed=2, profile="dense")
    assert digest(again) == digest(dense_log) != digest(other)


def test_dense_profile_every_line_parses(dense_log):
    errors = [line[:120] for line in dense_log.read_bytes().splitlines() if isinstance(parse_line(line), ParseError)]
    assert errors == []


def test_dense_profile_shape(dense_log):
    grouped = events(dense_log)
    execs = [lines for lines in grouped.values() if b" syscall=59 " in lines[0]]
    assert 0.32 < len(execs) / len(grouped) < 0.38
    for lines in execs:
        types = [re.search(rb"type=(\w+)", line).group(1) for line in lines]
        assert types[0] == b"SYSCALL" and types[-4:] == [b"CWD", b"PATH", b"PATH", b"PROCTITLE"]
        assert set(types[1:-4]) == {b"EXECVE"}
    bodies = [b"".join(line.split(b"):", 1)[1] for line in lines if b"type=EXECVE" in line) for lines in execs]
    sizes = sorted(len(body) for body in bodies)
    assert sizes[0] < 20 and sizes[len(sizes) // 2] < 400 and sizes[-len(sizes) // 100] > 1_500
    assert max(int(re.search(rb"argc=([0-9]+)", body).group(1)) for body in bodies) > 100
    assert sum(bool(re.search(rb" a[0-9]+=[0-9A-F]{8,}( |$)", body)) for body in bodies) > len(bodies) // 10
    assert any(b"_len=" in body and b"[1]=" in body for body in bodies)
    seen: set[bytes] = set()
    from_earlier_exec = 0
    for lines in execs:
        from_earlier_exec += re.search(rb" ppid=([0-9]+)", lines[0]).group(1) in seen
        seen.add(re.search(rb" pid=([0-9]+)", lines[0]).group(1))
    assert from_earlier_exec > len(execs) // 2
