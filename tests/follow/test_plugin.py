"""`auditproc follow -`: auditd's dispatcher stream on stdin (plugin mode), and a real auditd."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.follow.conftest import ENV, HPING_RULE, REPO, SRC, AuditdWriter, wait_for

PLUGIN_ARGS = ["--idle-flush", "0.1", "--host", "web-01"]


def _start_plugin(tmp_path: Path, *extra: str) -> subprocess.Popen:
    err = open(tmp_path / "stderr.txt", "wb")  # noqa: SIM115 - the process owns it
    return subprocess.Popen(
        [sys.executable, "-m", "auditproc.cli", "follow", "-", *PLUGIN_ARGS, *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, cwd=SRC, env=ENV,
    )


def _read_line(proc: subprocess.Popen, timeout: float) -> dict:
    os.set_blocking(proc.stdout.fileno(), True)
    import select

    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no output within {timeout} s"
    return orjson.loads(proc.stdout.readline())


def test_records_without_eoe_alert_within_a_second_and_eof_exits_0(tmp_path):
    writer = AuditdWriter(tmp_path / "unused.log")
    proc = _start_plugin(tmp_path)
    try:
        wait_for(lambda: b"following the record stream on stdin" in (tmp_path / "stderr.txt").read_bytes(),
                 what="the plugin to start")
        data, pid = writer.event("hping3")
        for line in data.splitlines(keepends=True):  # one record at a time, as the dispatcher does
            proc.stdin.write(line)
            proc.stdin.flush()
            time.sleep(0.02)
        sent = time.monotonic()
        alert = _read_line(proc, timeout=1.0)
        assert time.monotonic() - sent < 1.0
        assert (alert["process"]["pid"], alert["rule"]["id"]) == (pid, HPING_RULE)
        late, late_pid = writer.event("hping3")
        proc.stdin.write(late[: len(late) // 2])  # input ends in the middle of an event
        proc.stdin.close()
        assert proc.wait(10) == 0
        rest = proc.stdout.read()
        assert [orjson.loads(x)["process"]["pid"] for x in rest.splitlines()] == [late_pid]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    assert b"Traceback" not in (tmp_path / "stderr.txt").read_bytes()


def test_plugin_mode_writes_no_state(tmp_path):
    state = tmp_path / "state.json"
    proc = _start_plugin(tmp_path, "--state", str(state))
    proc.communicate(b"", timeout=30)
    assert proc.returncode == 0 and not state.exists() and not state.with_name("state.json.lock").exists()


# --- a real auditd with the plugin ---------------------------------------------------------------

AUDITD_CONF = """\
local_events = yes
write_logs = no
log_format = ENRICHED
flush = INCREMENTAL_ASYNC
freq = 50
name_format = NONE
max_restarts = 2
plugin_dir = {plugins}
space_left = 75
space_left_action = IGNORE
admin_space_left = 50
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
"""


def _auditd_usable() -> str | None:
    """Why a real auditd cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("auditd") is None or shutil.which("auditctl") is None:
        return "auditd is not installed"
    status = subprocess.run(["auditctl", "-s"], capture_output=True, text=True)
    if status.returncode != 0:
        return f"the kernel refuses audit: {status.stderr.strip()}"
    pid = next((line.split()[1] for line in status.stdout.splitlines() if line.startswith("pid ")), "0")
    if pid != "0":
        return f"another auditd (pid {pid}) is running"
    return None


@pytest.mark.slow
def test_a_real_auditd_hands_its_stream_to_the_plugin(tmp_path):
    why = _auditd_usable()
    if why:
        pytest.skip(why)
    conf_dir, plugins = tmp_path / "etc", tmp_path / "etc" / "plugins.d"
    plugins.mkdir(parents=True)
    (conf_dir / "auditd.conf").write_text(AUDITD_CONF.format(plugins=plugins))
    out, err = tmp_path / "alerts.ndjson", tmp_path / "plugin-stderr.txt"
    wrapper = tmp_path / "auditproc-plugin"
    # auditd passes a plugin at most 2 arguments: a wrapper carries the test's options.
    wrapper.write_text(f"#!/bin/sh\ncd {SRC}\nPYTHONPATH={SRC} exec {sys.executable} -m auditproc.cli follow - "
                       f"--output {out} --idle-flush 0.1 2>>{err}\n")
    wrapper.chmod(0o755)
    shipped = (REPO / "contrib" / "auditd" / "plugins.d" / "auditproc.conf").read_text()
    replaced = {"path": f"path = {wrapper}", "active": "active = yes"}
    conf = "\n".join(replaced.get(line.split(" ")[0], line) for line in shipped.splitlines()
                     if not line.startswith("args"))
    (plugins / "auditproc.conf").write_text(conf + "\n")
    hping3 = tmp_path / "bin" / "hping3"
    hping3.parent.mkdir()
    shutil.copy("/bin/true", hping3)
    daemon = subprocess.run(["auditd", "-c", str(conf_dir)], capture_output=True, text=True)
    if daemon.returncode != 0:
        pytest.skip(f"auditd did not start (exit {daemon.returncode}); `auditd -f -c {conf_dir}` says why")
    rule = ["-F", "arch=b64", "-S", "execve", "-F", f"exe={hping3}", "-k", "auditproc-test"]
    try:
        wait_for(lambda: _auditd_usable() is not None, what="auditd to register")
        subprocess.run(["auditctl", "-a", "always,exit", *rule], check=True, capture_output=True)
        wait_for(lambda: err.exists() and b"following the record stream" in err.read_bytes(), timeout=15,
                 what="the plugin to start")
        subprocess.run([str(hping3), "-S", "-p", "80", "10.0.0.5"], check=True)
        ran = time.monotonic()
        wait_for(lambda: out.exists() and out.stat().st_size, timeout=5, what="the alert")
        latency = time.monotonic() - ran
        alert = orjson.loads(out.read_bytes().splitlines()[0])
        assert alert["rule"]["id"] == HPING_RULE and alert["process"]["executable"] == str(hping3)
        assert latency < 2.0, f"alert after {latency:.2f} s"
    finally:
        subprocess.run(["auditctl", "-d", "always,exit", *rule], capture_output=True)
        status = subprocess.run(["auditctl", "-s"], capture_output=True, text=True).stdout
        pid = next((line.split()[1] for line in status.splitlines() if line.startswith("pid ")), "0")
        if pid != "0":
            os.kill(int(pid), 15)
            wait_for(lambda: _auditd_usable() is None or "not installed" in (_auditd_usable() or ""),
                     timeout=15, what="auditd to stop")


def test_a_sequence_waiting_at_the_end_of_the_stream_is_decided_there(tmp_path):
    """No checkpoint in plugin mode: at EOF the sequences the reorder window holds are decided."""
    from tests.follow.test_sequences import _rules

    writer = AuditdWriter(tmp_path / "unused.log")
    proc = _start_plugin(tmp_path, "--rules", str(_rules(tmp_path)))  # the default 5 s window
    try:
        proc.stdin.write(writer.events(["nping", "hping3"]))
        proc.stdin.close()
        assert proc.wait(10) == 0
        alerts = [orjson.loads(line) for line in proc.stdout.read().splitlines()]
        assert [a.get("process", {}).get("name") for a in alerts] == [None, "nping", "hping3"]
    finally:
        if proc.poll() is None:
            proc.kill()
