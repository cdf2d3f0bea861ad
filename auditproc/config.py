"""The configuration file: the CLI's options in TOML, checked and turned into defaults for one command.

Layout (README, "Configuration file"): keys before the first table apply to every command that has
that option; ``[events]``, ``[replay]``, ``[follow]``, ``[rules-list]`` and ``[rules-check]`` apply to
one command and win over the top-level keys. A key is the long flag without its dashes
(``max-line-bytes``); a command's arguments go by their name (``path``, ``paths``) in its table.
The values become the command's ``default_map``, so they pass through the same conversion and checks
as flags, and a flag given on the command line wins.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterator, Mapping
from enum import Enum
from pathlib import PurePath
from typing import Any, Protocol

from auditproc.tomlpos import ROOT_TABLE, decode_error, key_offset, line_column, table_position

DEFAULT_CONFIG_PATH = PurePath("/etc/auditproc/auditproc.toml")
MAX_CONFIG_BYTES = 1 << 20
SKIPPED_PARAMS = ("config_file",)  # --config itself cannot come from the file


class ConfigError(Exception):
    """A configuration file that cannot be used; ``str()`` is ``file:line: message``."""


class Param(Protocol):
    """What is read of a click parameter."""

    name: str | None
    opts: list[str]
    param_type_name: str

    def process_value(self, ctx: Any, value: Any) -> Any: ...


class Command(Protocol):
    """What is read of a click command."""

    params: list[Any]


def table_name(path: tuple[str, ...]) -> str:
    """The table holding one command's options: its name, a subcommand joined to its group by a dash."""
    return "-".join(path)


def leaf_commands(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Command]]:
    """Yield (command path, command) for every command that runs something, in a click command tree."""
    for name, command in sorted(getattr(group, "commands", {}).items()):
        if getattr(command, "hidden", False):
            continue
        if hasattr(command, "commands"):
            yield from leaf_commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def config_key(param: Param) -> str:
    """The name a parameter goes by in the file: the long flag without its dashes, or an argument's name."""
    longs = [opt for opt in param.opts if opt.startswith("--")]
    return longs[0][2:] if longs else str(param.name)


def command_defaults(
    path: PurePath, text: str, tree: Any, command: tuple[str, ...], ctx: Any
) -> dict[str, Any]:
    """Check the whole file against the command tree; return ``command``'s values by parameter name."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, _, message = decode_error(text, exc)
        raise ConfigError(f"{path}:{line}: {message}") from None
    commands = {table_name(names): cmd for names, cmd in leaf_commands(tree)}
    shared = {
        config_key(p): p
        for cmd in commands.values()
        for p in cmd.params
        if p.param_type_name == "option" and p.name not in SKIPPED_PARAMS
    }
    tables = {key: value for key, value in data.items() if isinstance(value, dict)}
    values = _check_table(path, text, ROOT_TABLE, _without(data, tables), shared, ctx, "")
    for name, table in tables.items():
        if name not in commands:
            line, _ = table_position(text, name)
            raise ConfigError(f"{path}:{line}: unknown table [{name}]: the tables are "
                              + ", ".join(f"[{known}]" for known in sorted(commands)))
        params = {config_key(p): p for p in commands[name].params if p.name not in SKIPPED_PARAMS}
        checked = _check_table(path, text, name, table, params, ctx, f" in [{name}]")
        if name == table_name(command):
            values |= checked
    own = {p.name for p in commands[table_name(command)].params}
    return {str(param.name): value for param, value in values.values() if param.name in own}


def _without(data: Mapping[str, Any], tables: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in tables}


def _check_table(
    path: PurePath, text: str, table: str, data: Mapping[str, Any], params: Mapping[str, Param], ctx: Any,
    where: str,
) -> dict[str, tuple[Param, Any]]:
    """Check one table's keys and values; return (parameter, value) by key."""
    checked: dict[str, tuple[Param, Any]] = {}
    for key, value in data.items():
        match = key_offset(text, table, key)
        line = line_column(text, match.start())[0] if match else table_position(text, table)[0]
        param = params.get(key)
        if param is None:
            raise ConfigError(f"{path}:{line}: {_unknown_key(key, params, where)}")
        if _takes_list(param) and not isinstance(value, list):
            raise ConfigError(f"{path}:{line}: {key}: expected a list, got {_kind(value)} {value!r}")
        try:
            converted = param.process_value(ctx, value)
        except Exception as exc:  # noqa: BLE001 - click's BadParameter and its kin: a value that does not fit
            message = getattr(exc, "message", None) or str(exc)
            raise ConfigError(f"{path}:{line}: {key}: {message}") from None
        if not _same_kind(value, converted):
            raise ConfigError(f"{path}:{line}: {key}: expected {_kind(converted)}, got {_kind(value)} {value!r}")
        checked[key] = (param, value)
    return checked


def _unknown_key(key: str, params: Mapping[str, Param], where: str) -> str:
    dashed = key.replace("_", "-")
    if dashed != key and dashed in params:
        return f"'{key}'{where}: write '{dashed}' (option names are spelled with dashes, as on the command line)"
    close = difflib.get_close_matches(key, params, n=1)
    return f"unknown option '{key}'{where}" + (f" (did you mean '{close[0]}'?)" if close else "")


def _takes_list(param: Param) -> bool:
    return bool(getattr(param, "multiple", False)) or getattr(param, "nargs", 1) == -1


def _kind(value: Any) -> str:
    """The TOML kind a value is, or that a converted value asks for."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str | PurePath | Enum):
        return "a string"
    return type(value).__name__


def _same_kind(written: Any, converted: Any) -> bool:
    """Whether the file's value has the kind the option takes; conversion alone accepts "yes" for a flag."""
    if isinstance(converted, list | tuple):
        return isinstance(written, list) and all(map(_same_kind, written, converted))
    return _kind(written) == _kind(converted)


def config_path(explicit: PurePath | None) -> PurePath | None:
    """The file to read: the one named by --config, else the default one when it exists."""
    if explicit is not None:
        return explicit
    return DEFAULT_CONFIG_PATH if os.path.exists(DEFAULT_CONFIG_PATH) else None


def read_config(path: PurePath) -> str:
    """The text of a configuration file."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than 1 MiB: not a configuration file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, _ = line_column(raw.decode("utf-8", "replace"), exc.start)
        raise ConfigError(f"{path}:{line}: not valid UTF-8") from None
