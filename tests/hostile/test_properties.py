"""Whole-pipeline properties under hostile input: nothing escapes, well-formed events survive, output stays NDJSON."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from auditproc.cli import app

from .conftest import documents, exec_event, header, ndjson_lines

CAP = 4096  # max_line_bytes in these runs, so "huge" stays cheap
HOSTILE_BYTES = [b"a\nb", b"\r", b"x\r\n{\"forged\":1}", b"\x1b[2J\x1b[H", "\u2028\u2029\x85\x9b".encode(), b"\xff\xfe\xc3",
                 b"\x00", b"\x1d", b'"', b"'", b"\\", b"%s", b" a1=\"x\"", b")", b"msg=audit(1:2):", b""]

argument = st.sampled_from(HOSTILE_BYTES) | st.binary(max_size=40)
argv = st.lists(argument, min_size=1, max_size=6)
garbage = st.one_of(
    st.binary(max_size=300).map(lambda b: b.replace(b"\n", b" ")),  # random bytes
    st.integers(0, 45).map(lambda n: header("SYSCALL", 999_999)[:n]),  # truncated header
    st.tuples(st.sampled_from(["SYSCALL", "EXECVE", "PATH", "EOE", "CWD", "UNKNOWN[1]"]),
              st.integers(10_000, 20_000), st.integers(0, 10**7), st.binary(max_size=80))
    .map(lambda t: header(t[0], t[1], t[2]) + t[3].replace(b"\n", b" ")),  # valid headers of other serials
    st.integers(CAP - 10, 3 * CAP).map(lambda n: header("EXECVE", 30_000) + b"a0=" + b"41" * n),  # huge
)


@st.composite
def hostile_logs(draw: st.DrawFn) -> tuple[bytes, dict[int, list[bytes]], set[int]]:
    """(log, {serial: argv}, serials whose lines were not interleaved with garbage)."""
    events = draw(st.lists(argv, min_size=1, max_size=5))
    lines: list[bytes] = []
    intact: set[int] = set()
    expected: dict[int, list[bytes]] = {}
    for n, args in enumerate(events, start=1):
        lines += draw(st.lists(garbage, max_size=3))
        event = exec_event(n, args, ms=100 + n)
        if draw(st.booleans()):
            intact.add(n)
        else:  # garbage inside the event too
            at = draw(st.integers(1, len(event) - 1))
            event[at:at] = draw(st.lists(garbage, min_size=1, max_size=3))
        lines += event
        expected[n] = args
    lines += draw(st.lists(garbage, max_size=3))
    ending = draw(st.sampled_from([b"\n", b"", b"\r\n"]))
    return (b"\r\n" if ending == b"\r\n" else b"\n").join(lines) + ending, expected, intact


def _args(args: list[bytes]) -> list[str]:
    return [a.decode("utf-8", "backslashreplace") for a in args]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_logs())
def test_every_well_formed_event_comes_out_whatever_surrounds_it(log) -> None:
    data, expected, intact = log
    docs, stats, err = documents(data, max_line_bytes=CAP)
    ours = [d for d in docs if d["event"]["sequence"] in expected]
    assert sorted(d["event"]["sequence"] for d in ours) == sorted(expected)  # each once
    for doc in ours:
        if doc["event"]["sequence"] in intact:
            assert doc["process"]["args"] == _args(expected[doc["event"]["sequence"]])
    out = b"".join(orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE) for d in docs)
    assert len(list(ndjson_lines(out))) == len(docs)
    assert all(line.isprintable() for line in err.splitlines())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_logs(), st.sampled_from(["1", "2"]))
def test_cli_output_is_one_json_object_per_line(log, jobs: str) -> None:
    data, expected, _ = log
    result = CliRunner().invoke(app, ["events", "--host", "h", "-j", jobs, "--max-line-bytes", str(CAP), "-"], input=data)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0
    docs = list(ndjson_lines(result.stdout_bytes))
    assert {d["event"]["sequence"] for d in docs} >= set(expected)
    assert all(line.isprintable() for line in result.stderr.splitlines())
