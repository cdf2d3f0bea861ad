"""The manual page, shell completion and --version: all made from the command tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from auditproc import __version__
from auditproc.cli import app
from auditproc.config import leaf_commands
from auditproc.manpage import escape, render

TOOL_TIMEOUT_S = 60
SCRIPT = Path(sys.executable).with_name("auditproc")


@pytest.fixture(scope="module")
def page() -> str:
    return render(get_command(app), __version__)


def test_page_names_every_command_and_option(page):
    tree = get_command(app)
    commands = list(leaf_commands(tree))
    assert {" ".join(names) for names, _ in commands} >= {"events", "replay", "follow", "rules list", "rules check"}
    for names, command in commands:
        assert f".SS {' '.join(names)}\n" in page
        for param in command.params:
            for opt in param.opts:
                assert escape(opt if param.param_type_name == "option" else opt.upper()) in page, (names, opt)
    for section in ("NAME", "SYNOPSIS", "COMMANDS", "EXIT STATUS", "FILES", "SEE ALSO"):
        assert f"\n.SH {section}\n" in page
    assert "\\fB\\-\\-version\\fR" in page and "\\fB\\-\\-show\\-completion\\fR" in page


@pytest.mark.parametrize(
    ("text", "roff"),
    [("plain", "plain"), ("--flag", "\\-\\-flag"), (".starts-with-dot", "\\&.starts\\-with\\-dot"),
     ("back\\slash", "back\\eslash"), ("audit.log.N … audit.log", "audit.log.N \\[u2026] audit.log")],
)
def test_escape(text, roff):
    assert escape(text) == roff


def test_groff_accepts_the_page(page, tmp_path):
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed")
    result = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z"], input=page, capture_output=True, text=True,
                            timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_man_shows_the_page(page, tmp_path):
    man = shutil.which("man")
    if man is None:
        pytest.skip("man is not installed")
    path = tmp_path / "auditproc.1"
    path.write_text(page)
    result = subprocess.run([man, "-l", str(path)], capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
                            env={**os.environ, "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "100"})
    assert result.returncode == 0, result.stderr
    assert "auditproc follow [OPTIONS] [PATH]" in result.stdout
    assert "EXIT STATUS" in result.stdout


def test_module_prints_the_page():
    result = subprocess.run([sys.executable, "-m", "auditproc.manpage"], capture_output=True, text=True,
                            timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert result.stdout == render(get_command(app), __version__)


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"auditproc {version('auditproc')}\n"


def test_show_completion_prints_a_script():
    result = CliRunner().invoke(app, ["--show-completion"], prog_name="auditproc", env={"SHELL": "/bin/bash"})
    assert result.exit_code == 0, result.output
    assert "_AUDITPROC_COMPLETE" in result.stdout


@pytest.mark.parametrize(
    ("words", "expected"),
    [("auditproc fol", "follow"), ("auditproc rules ch", "check"), ("auditproc follow --con", "--config")],
)
def test_completion_answers(words, expected, tmp_path):
    if not SCRIPT.exists():
        pytest.skip("the auditproc console script is not installed next to this Python")
    env = {**os.environ, "_AUDITPROC_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - 1)}
    result = subprocess.run([str(SCRIPT)], capture_output=True, text=True, env=env, timeout=TOOL_TIMEOUT_S)
    assert result.stdout.split() == [expected], result.stderr
