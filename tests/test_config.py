"""--config: a TOML file of option values for every command; flags win; bad files are one line, exit 2."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import orjson
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from auditproc import config
from auditproc.cli import EXIT_USAGE, app
from tests.conftest import FIXTURES, REPO

LOG = str(FIXTURES / "exec-basic.log")


@pytest.fixture(autouse=True)
def no_default_config(monkeypatch, tmp_path):
    """The machine's own /etc/auditproc/auditproc.toml stays out of these tests."""
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", tmp_path / "absent" / "auditproc.toml")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "auditproc.toml"
    path.write_text(text)
    return path


def hosts(stdout: str) -> set[str]:
    return {orjson.loads(line)["host"]["name"] for line in stdout.splitlines()}


@pytest.mark.parametrize(
    ("text", "flags", "expected"),
    [
        ('host = "from-file"\n', [], "from-file"),
        ('host = "shared"\n[events]\nhost = "events-table"\n', [], "events-table"),
        ('[replay]\nhost = "other-command"\n[events]\nhost = "mine"\n', [], "mine"),
        ('host = "from-file"\n', ["--host", "from-flag"], "from-flag"),
        ('[events]\nhost = "from-file"\n', ["--host", "from-flag"], "from-flag"),
    ],
    ids=["top-level", "table-over-top-level", "own-table-only", "flag-over-top-level", "flag-over-table"],
)
def test_precedence(tmp_path, text, flags, expected):
    result = CliRunner().invoke(app, ["events", "--config", str(write(tmp_path, text)), *flags, LOG])
    assert result.exit_code == 0, result.output
    assert hosts(result.stdout) == {expected}


def test_the_log_paths_come_from_the_file(tmp_path):
    path = write(tmp_path, f'[events]\nhost = "h"\npaths = ["{LOG}"]\n')
    result = CliRunner().invoke(app, ["events", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert hosts(result.stdout) == {"h"}


@pytest.mark.parametrize(
    ("command", "table", "text", "shows"),
    [
        (["events", LOG], "events", "stats = true", "exec events:"),
        (["replay", LOG], "replay", "stats = true", "alerts:"),
        (["follow"], "follow", 'output = "{empty}/absent/alerts.ndjson"', "absent/alerts.ndjson: cannot open"),
        (["rules", "list"], "rules-list", "paths = ['{empty}']", "0 rules run"),
        (["rules", "check"], "rules-check", "paths = ['{empty}']", "0 rules can fire"),
    ],
    ids=["events", "replay", "follow", "rules-list", "rules-check"],
)
def test_every_command_reads_its_table(tmp_path, command, table, text, shows):
    empty = tmp_path / "no-rules"
    empty.mkdir()
    path = write(tmp_path, f"[{table}]\n" + text.format(empty=empty) + "\n")
    result = CliRunner().invoke(app, [*command, "--config", str(path)])
    assert shows in result.output


@pytest.mark.parametrize(
    "command", [["events"], ["replay"], ["follow"], ["rules", "list"], ["rules", "check"]],
    ids=lambda c: "-".join(c),
)
def test_every_command_checks_the_whole_file(tmp_path, command):
    path = write(tmp_path, 'host = "h"\n\n[replay]\nstats = true\nwindw-ms = 5\n')
    result = CliRunner().invoke(app, [*command, "--config", str(path)])
    assert result.exit_code == EXIT_USAGE
    assert result.stderr == f"auditproc: {path}:5: unknown option 'windw-ms' in [replay] (did you mean 'window-ms'?)\n"


BAD_FILES = {
    "unknown-top-level": ("host = 'h'\nhots = 'x'\n", "2: unknown option 'hots' (did you mean 'host'?)"),
    "argument-at-top-level": ("paths = ['x']\n", "1: unknown option 'paths'"),
    "unknown-table": ("[events]\nstats = true\n[folow]\n", "3: unknown table [folow]: the tables are [events], "
                      "[follow], [replay], [rules-check], [rules-list]"),
    "option-of-another-command": ("[events]\nstate = '/tmp/s'\n", "2: unknown option 'state' in [events]"),
    "underscores": ("[follow]\nidle_flush = 1.0\n", "2: 'idle_flush' in [follow]: write 'idle-flush' (option "
                    "names are spelled with dashes, as on the command line)"),
    "string-for-flag": ("stats = 'yes'\n", "1: stats: expected true or false, got a string 'yes'"),
    "string-for-number": ("\n[follow]\npoll-interval = '1'\n", "3: poll-interval: expected a number, got a string '1'"),
    "number-for-string": ("host = 5\n", "1: host: expected a string, got a number 5"),
    "string-for-list": ("rules = '/etc/rules'\n", "1: rules: expected a list, got a string '/etc/rules'"),
    "number-in-list": ("exceptions = ['a', 2]\n", "1: exceptions: Input is not a valid path"),
    "out-of-range": ("[replay]\njobs = 0\n", "2: jobs: Input should be greater than or equal to 1"),
    "not-a-choice": ("ecs-profile = 'kibana'\n", "1: ecs-profile: "),
    "toml-syntax": ("host = 'h'\nstats = \n", "2: TOML: Invalid value"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_one_line_with_file_and_line(tmp_path, name):
    text, message = BAD_FILES[name]
    path = write(tmp_path, text)
    result = CliRunner().invoke(app, ["events", "--config", str(path), LOG])
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.startswith(f"auditproc: {path}:{message}")
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_missing_explicit_file_is_an_error(tmp_path):
    result = CliRunner().invoke(app, ["events", "--config", str(tmp_path / "nope.toml"), LOG])
    assert result.exit_code == EXIT_USAGE
    assert result.stderr == f"auditproc: {tmp_path / 'nope.toml'}: cannot read: No such file or directory\n"


def test_default_file_is_read_when_present(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", write(tmp_path, 'host = "from-default"\n'))
    result = CliRunner().invoke(app, ["events", LOG])
    assert result.exit_code == 0, result.output
    assert hosts(result.stdout) == {"from-default"}


def test_default_file_absent_is_no_config():
    result = CliRunner().invoke(app, ["events", "--host", "h", LOG])
    assert result.exit_code == 0, result.output
    assert hosts(result.stdout) == {"h"}


def test_help_reads_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", write(tmp_path, "not toml ["))
    result = CliRunner().invoke(app, ["follow", "--help"])
    assert result.exit_code == 0 and "--config" in result.output


def test_example_config_loads_and_names_every_option(tmp_path):
    """contrib/auditproc.toml loads as shipped and with every commented key switched on, and names every option."""
    example = REPO / "contrib" / "auditproc.toml"
    switched_on = write(tmp_path, re.sub(r"^# ?([a-z-]+ = )", r"\1", example.read_text(), flags=re.MULTILINE))
    data = tomllib.loads(switched_on.read_text())
    for names, command in config.leaf_commands(get_command(app)):
        table = data[config.table_name(names)]
        for param in command.params:
            key = config.config_key(param)
            assert param.name in config.SKIPPED_PARAMS or key in table or key in data, f"{names}: {key}"
    empty = tmp_path / "no-rules"
    empty.mkdir()
    for path in (example, switched_on):
        result = CliRunner().invoke(app, ["rules", "check", "--config", str(path), str(empty)])
        assert result.exit_code == 0, result.output
