"""What loading rules says: `rules list` / `rules check`, and the one line replay and follow print."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditproc.cli import app
from auditproc.rulefiles import default_rules_dir, load_rules
from tests.conftest import ELASTIC_LINUX, FIXTURES, needs_elastic

GOLDEN = Path(__file__).parent / "golden"
LOG = str(FIXTURES / "alerts" / "discovery-session.log")
ELASTIC_SUMMARY = "116 rules run, 11 cannot fire, 99 skipped: 99 no auditd index"
HPING = (FIXTURES / "alerts" / "rules" / "hping_max_signals_2.toml").read_text()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def mixed_rules(tmp_path: Path) -> Path:
    """A rule that runs, one that cannot fire (an action no auditd event has) and a piped query, which is skipped."""
    (tmp_path / "a_runs.toml").write_text(HPING)
    (tmp_path / "b_file.toml").write_text(
        HPING.replace("rule_id = \"", "rule_id = \"f").replace("name = \"", "name = \"File ")
        .replace("process where", 'file where event.action == "creation" and', 1)
    )
    (tmp_path / "c_piped.toml").write_text(
        HPING.replace("rule_id = \"", "rule_id = \"s").replace("name = \"", "name = \"Piped ")
        .replace("\n'''", "\n| head 1\n'''", 1)
    )
    return tmp_path


def test_replay_says_one_line_about_the_rules(mixed_rules: Path) -> None:
    code, _, stderr = run("replay", "-j", "1", "--rules", str(mixed_rules), LOG)
    assert code == 0
    assert stderr == "auditproc: 1 rule runs, 1 cannot fire, 1 skipped: 1 pipe; -v for the list\n"


def test_replay_verbose_says_every_rule(mixed_rules: Path) -> None:
    code, _, stderr = run("replay", "-j", "1", "-v", "--rules", str(mixed_rules), LOG)
    assert code == 0
    lines = stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("auditproc: skipped rule 'Piped ") and "unsupported: pipe" in lines[0]
    assert lines[1].startswith("auditproc: rule 'File ") and lines[1].endswith('cannot fire: needs event.action "creation", which auditproc never produces')


def test_replay_quiet_says_nothing_but_errors(mixed_rules: Path) -> None:
    assert run("replay", "-j", "1", "-q", "--rules", str(mixed_rules), LOG)[2] == ""
    (mixed_rules / "d_broken.toml").write_text("[rule\n")
    code, _, stderr = run("replay", "-j", "1", "-q", "--rules", str(mixed_rules), LOG)
    assert code == 2 and stderr.startswith("auditproc: rule error: ") and stderr.count("\n") == 1


def test_verbose_and_quiet_together_is_a_usage_error() -> None:
    code, _, stderr = run("replay", "-v", "-q", LOG)
    assert code == 2 and "choose one" in stderr


def test_shipped_rules_all_run() -> None:
    shipped = len(load_rules([default_rules_dir()]).rules)
    assert run("replay", "-j", "1", LOG)[2] == f"auditproc: {shipped} rules run\n"


def test_ecs_input_never_says_cannot_fire(mixed_rules: Path, tmp_path: Path) -> None:
    """Documents from elsewhere can hold anything: file events included."""
    empty = tmp_path / "empty.ndjson"
    empty.write_text("")
    stderr = run("replay", "--input-format", "ecs", "--rules", str(mixed_rules), str(empty))[2]
    assert stderr.startswith("auditproc: 2 rules run, 1 skipped: 1 pipe; -v for the list\n")


def test_rules_list_and_check_say_why_a_rule_cannot_fire(mixed_rules: Path) -> None:
    code, stdout, stderr = run("rules", "list", str(mixed_rules))
    assert code == 0
    statuses = [line.split("  ")[0].strip() for line in stdout.splitlines()]
    assert statuses == ["runs", "cannot fire", "skipped"]
    assert stdout.splitlines()[1].endswith(": needs event.action \"creation\", which auditproc never produces")
    assert stderr == "1 rule runs, 1 cannot fire, 1 skipped: 1 pipe\n"
    assert str(mixed_rules / "a_runs.toml") in run("rules", "list", "-v", str(mixed_rules))[1]

    code, stdout, stderr = run("rules", "check", str(mixed_rules))
    assert code == 0 and "b_file.toml: note: File " in stdout and 'cannot fire: needs event.action "creation", which auditproc never produces' in stdout
    assert stderr == "1 rules can fire, 1 cannot, 1 set aside, 0 errors\n"


def test_rules_list_profile(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(HPING.replace('event.type == "start"', 'event.action == "exec"'))
    assert run("rules", "list", str(tmp_path))[1].startswith("cannot fire")
    assert "(it can with --ecs-profile endpoint)" in run("rules", "list", str(tmp_path))[1]
    assert run("rules", "list", "--ecs-profile", "endpoint", str(tmp_path))[1].startswith("runs")


@needs_elastic
def test_elastic_rules_say_one_line() -> None:
    code, _, stderr = run("replay", "-j", "1", "--rules", str(ELASTIC_LINUX), LOG)
    assert code == 0
    assert stderr == f"auditproc: {ELASTIC_SUMMARY}; -v for the list\n"


@needs_elastic
def test_golden_rules_list_of_elastic_rules(update_golden: bool) -> None:
    code, stdout, stderr = run("rules", "list", str(ELASTIC_LINUX))
    assert code == 0 and stderr == ELASTIC_SUMMARY + "\n"
    expected = GOLDEN / "rules-list-elastic-linux.txt"
    if update_golden:
        expected.write_text(stdout)
    assert stdout.splitlines() == expected.read_text().splitlines()
