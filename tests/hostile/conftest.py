"""Builders of hostile audit input shared by the tests in this folder."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import orjson

from auditproc.pipeline import PipelineSettings, Reporter, RunStats, iter_documents

T0 = 1718000000


def header(rtype: str, serial: int, ms: int = 100, t: int = T0) -> bytes:
    """A record header; ``ms`` past ``t`` seconds."""
    return f"type={rtype} msg=audit({t + ms // 1000}.{ms % 1000:03d}:{serial}): ".encode()


def exec_event(serial: int, argv: Iterable[bytes] = (b"ls",), *, ms: int = 100, paths: Iterable[bytes] = (b"/usr/bin/ls",),
               cwd: bytes = b"/", comm: bytes = b"ls", pid: int | None = None) -> list[bytes]:
    """The lines of one x86_64 execve event, every text field hex-encoded as the kernel does."""
    argv, paths = list(argv), list(paths)
    pid = serial if pid is None else pid
    lines = [
        header("SYSCALL", serial, ms) + b"arch=c000003e syscall=59 success=yes exit=0 items=%d ppid=1 pid=%d "
        b"auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 "
        b"ses=1 comm=%s exe=%s" % (len(paths), pid, comm.hex().upper().encode(), paths[0].hex().upper().encode() if paths else b'"/x"'),
        header("EXECVE", serial, ms) + b"argc=%d " % len(argv) + b" ".join(b"a%d=%s" % (i, a.hex().upper().encode() or b'""')
                                                                      for i, a in enumerate(argv)),
        header("CWD", serial, ms) + b"cwd=" + cwd.hex().upper().encode(),
    ]
    for i, path in enumerate(paths):
        lines.append(header("PATH", serial, ms) + b"item=%d name=%s nametype=NORMAL" % (i, path.hex().upper().encode()))
    lines.append(header("PROCTITLE", serial, ms) + b"proctitle=" + b"\x00".join(argv)[:128].hex().upper().encode())
    return lines


def documents(data: bytes, **settings: object) -> tuple[list[dict], RunStats, str]:
    """ECS documents, run counts and stderr of ``iter_documents`` over ``data`` given as stdin."""
    import sys

    stats, err = RunStats(), io.StringIO()
    stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(data))
    try:
        docs = list(iter_documents(["-"], PipelineSettings(**settings), stats, Reporter(err)))  # type: ignore[arg-type]
    finally:
        sys.stdin = stdin
    return docs, stats, err.getvalue()


def ndjson_lines(out: bytes) -> Iterator[dict]:
    """Each output line as a JSON object; fails unless every line is UTF-8 JSON holding one object."""
    assert out == b"" or out.endswith(b"\n")
    for line in out.split(b"\n")[:-1]:
        line.decode("utf-8")  # strict
        doc = orjson.loads(line)
        assert isinstance(doc, dict)
        yield doc
