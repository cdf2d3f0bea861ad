"""contrib/: the systemd unit and the logrotate file pass their own tools' checks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

UNIT = REPO / "contrib" / "systemd" / "auditproc.service"
LOGROTATE = REPO / "contrib" / "logrotate" / "auditproc"
TOOL_TIMEOUT_S = 60


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def test_unit_runs_follow_with_the_config_and_reloads_with_sighup():
    lines = UNIT.read_text().splitlines()
    for expected in (
        "ExecStart=/usr/bin/auditproc follow --config /etc/auditproc/auditproc.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "StateDirectory=auditproc",
        "LogsDirectory=auditproc",
        "CacheDirectory=auditproc",
        "After=auditd.service",
        "CapabilityBoundingSet=CAP_DAC_READ_SEARCH",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
    ):
        assert expected in lines


def test_systemd_analyze_verify(tmp_path):
    analyze = tool("systemd-analyze")
    unit = tmp_path / "auditproc.service"
    # verify insists that ExecStart's program exists: point it at this checkout's console script.
    script = Path(sys.executable).with_name("auditproc")
    unit.write_text(UNIT.read_text().replace("/usr/bin/auditproc", str(script)))
    # --man=no: the Documentation= page is installed with the package, not here.
    result = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True,
                            timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def rotation_config(tmp_path: Path, postrotate: str | None = None) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "alerts.ndjson").write_text('{"a":1}\n')
    text = LOGROTATE.read_text().replace("/var/log/auditproc", str(logs))
    if postrotate is not None:
        text = text.replace("systemctl reload auditproc.service >/dev/null 2>&1 || true", postrotate)
    config = tmp_path / "logrotate.conf"
    config.write_text(text)
    return config


def test_logrotate_debug_run(tmp_path):
    logrotate = tool("logrotate")
    config = rotation_config(tmp_path)
    result = subprocess.run([logrotate, "-d", "-f", "-s", str(tmp_path / "state"), str(config)],
                            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "error" not in out.lower(), out
    assert f"renaming {tmp_path}/logs/alerts.ndjson to {tmp_path}/logs/alerts.ndjson.1" in out
    assert "running postrotate script" in out
    assert "copying" not in out and "truncating" not in out  # no copytruncate


def test_logrotate_renames_and_signals(tmp_path):
    """A real rotation: the file renamed, no new file made (auditproc makes it), the postrotate run once."""
    logrotate = tool("logrotate")
    marker = tmp_path / "signalled"
    config = rotation_config(tmp_path, f"echo hup >> {marker}")
    result = subprocess.run([logrotate, "-f", "-s", str(tmp_path / "state"), str(config)],
                            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["alerts.ndjson.1"]
    assert (tmp_path / "logs" / "alerts.ndjson.1").read_text() == '{"a":1}\n'
    assert marker.read_text() == "hup\n"
