"""contrib/'s rsyslog and syslog-ng configs with real daemons on loopback: every alert arrives whole, one
JSON document per line, over every transport the daemon takes. Skipped where a daemon is not installed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from auditproc.output import dumps_line
from auditproc.sinks import open_sink
from tests.conftest import REPO

DEADLINE_S = 15.0
SEARCH_PATH = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"


def free_port() -> int:
    """A port free for both tcp and udp on 127.0.0.1 (as far as one can tell before the daemon binds)."""
    for _ in range(20):
        with socket.create_server(("127.0.0.1", 0)) as tcp:
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    pytest.skip("no free port")


def wait_until(what: str, check: Callable[[], bool], daemon: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if daemon is not None and daemon.poll() is not None:
            pytest.skip(f"the daemon exited before {what}: {daemon.stdout.read() if daemon.stdout else ''}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def start(name: str, tmp: Path) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("rsyslogd" if name == "rsyslog" else "syslog-ng", path=SEARCH_PATH)
    if binary is None:
        pytest.skip(f"{name} is not installed")
    port = free_port()
    text = (REPO / "contrib" / name / "auditproc.conf").read_text()
    text = (text.replace("/var/log/auditproc/alerts.ndjson", str(tmp / "alerts.ndjson"))
            .replace("/run/auditproc/syslog.sock", str(tmp / "syslog.sock")).replace("5514", str(port)))
    if name == "rsyslog":
        text = f'global(workDirectory="{tmp}")\nmodule(load="imuxsock" SysSock.Use="off")\n' + text
        command = [binary, "-n", "-f", str(tmp / "daemon.conf"), "-i", str(tmp / "pid")]
    else:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=DEADLINE_S).stdout
        found = re.search(r"Config version: (\S+)", version)
        text = f"@version: {found.group(1) if found else '3.35'}\n" + text
        command = [binary, "-F", "-f", str(tmp / "daemon.conf"), "--pidfile", str(tmp / "pid"),
                   "--persist-file", str(tmp / "persist"), "--control", str(tmp / "ctl")]
    (tmp / "daemon.conf").write_text(text)
    daemon = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return daemon, port


@pytest.fixture(params=["rsyslog", "syslog-ng"])
def daemon(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    process, port = start(request.param, tmp_path)
    try:
        wait_until("it listens", lambda: listening(port) and (tmp_path / "syslog.sock").exists(), process)
        yield port, tmp_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def alert(n: int, via: str, pad: int = 0) -> dict:
    return {"@timestamp": "2024-06-10T06:13:21.010Z", "host": {"name": "web-01"},
            "event": {"kind": "alert", "id": f"{via}-{n}", "severity": 73},
            "process": {"command_line": "é\u2028\x7f \"q\" " + "x" * pad, "args": ["sh", "-c", "x" * (pad // 2)]}}


def test_every_alert_arrives_whole_through_each_transport(daemon: tuple[int, Path]) -> None:
    port, tmp = daemon
    sent = []
    for spec in (f"syslog+tcp://127.0.0.1:{port}", f"syslog+udp://127.0.0.1:{port}", f"syslog+unix://{tmp}/syslog.sock"):
        sink = open_sink(spec)
        for n in range(20):
            line = dumps_line(alert(n, spec, pad=26_000 if n % 5 == 0 else 0))  # one in five about 40 KB
            sink.write(line)
            sent.append(line)
        sink.flush()
        sink.close()
    out = tmp / "alerts.ndjson"
    wait_until("every alert is written", lambda: out.exists() and out.read_bytes().count(b"\n") >= len(sent))
    got = out.read_bytes().splitlines(keepends=True)
    assert max(len(line) for line in sent) > 38_000
    assert sorted(got) == sorted(sent)  # byte for byte: nothing cut, escaped or reordered within a line
    assert all(orjson.loads(line) for line in got)
