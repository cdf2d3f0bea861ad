"""Fuzzing: every past crash stays fixed, and a few seconds of atheris on each target find nothing new."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditproc.cli import app

from .conftest import ndjson_lines

REPO = Path(__file__).resolve().parents[2]
REGRESSIONS = sorted(p for p in (Path(__file__).parent / "regressions").iterdir() if p.suffix in (".bin", ".log"))
sys.path.insert(0, str(REPO / "fuzz"))
import targets  # noqa: E402 - fuzz/ is a folder of scripts, not a package

SHORT_RUN_S = 4


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.stem)
def test_regression_inputs_pass_both_targets(path: Path) -> None:
    data = path.read_bytes()
    for line in data.split(b"\n"):
        targets.parse_one(line)
    targets.pipeline(data)


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.stem)
def test_regression_inputs_pass_the_cli(path: Path) -> None:
    result = CliRunner().invoke(app, ["events", "--host", "h", "-j", "1", str(path)])
    assert result.exit_code == 0, result.exception
    list(ndjson_lines(result.stdout_bytes))


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris is not installed")
@pytest.mark.parametrize("script", ["fuzz_parse.py", "fuzz_pipeline.py"])
def test_a_short_fuzzing_run_finds_nothing(script: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n, log in enumerate(sorted((REPO / "fixtures").glob("*.log"))):
        (corpus / f"seed{n}").write_bytes(log.read_bytes()[:4096])
    run = subprocess.run(
        [sys.executable, script, f"-max_total_time={SHORT_RUN_S}", "-rss_limit_mb=2048", "-timeout=10",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        cwd=REPO / "fuzz", capture_output=True, text=True, timeout=SHORT_RUN_S + 60,
    )
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))]
    assert run.returncode == 0 and not crashes, run.stderr[-3000:]
    assert re.search(r"Done \d+ runs", run.stderr), run.stderr[-3000:]
