"""auditproc.1, the manual page, rendered in roff from the command tree: ``python -m auditproc.manpage``."""

from __future__ import annotations

import inspect
import sys
from enum import Enum
from typing import Any

from auditproc.config import DEFAULT_CONFIG_PATH, leaf_commands

EXIT_STATUS = (
    ("0", "Done; for follow: stopped by SIGTERM or SIGINT after the last checkpoint."),
    ("1", "Input errors: a file that cannot be read, a damaged gzip; for follow: the log cannot be read."),
    ("2", "Usage, configuration, rule or state errors."),
    ("3", "The run could not complete: the output failed (disk full, I/O error; for follow also the "
          "reader of stdout going away), or a --jobs worker died."),
    ("130, 143", "replay, events: stopped by SIGINT or SIGTERM."),
    ("141", "replay, events: the reader of stdout went away (| head)."),
)
FILES = (
    (str(DEFAULT_CONFIG_PATH), "Option values, read by every command when it exists (see --config)."),
    ("/var/lib/auditproc/state.json", "follow's checkpoint when run as root."),
    ("/var/log/audit/audit.log", "The log follow reads by default."),
    ("/var/log/auditproc/alerts.ndjson", "Where the shipped systemd unit's configuration appends alerts."),
)
SEE_ALSO = "auditd(8), auditd.conf(5), ausearch(8), systemd.service(5), logrotate(8)"


def escape(text: str) -> str:
    """Text safe in a roff line: backslashes, hyphens and non-ASCII escaped, no control word at its start."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = "".join(ch if ord(ch) < 128 else f"\\[u{ord(ch):04X}]" for ch in text)
    return "\\&" + text if text.startswith((".", "'")) else text


def _paragraphs(text: str) -> list[str]:
    """A docstring's paragraphs, each as one escaped line after a paragraph break."""
    blocks = [block for block in inspect.cleandoc(text).split("\n\n") if block.strip()]
    return [line for block in blocks for line in (".PP", escape(" ".join(block.split())))]


def _usage(names: tuple[str, ...], command: Any) -> str:
    words = [f"\\fB{escape(' '.join(('auditproc', *names)))}\\fR", "[\\fIOPTIONS\\fR]"]
    for param in command.params:
        if param.param_type_name == "argument":
            word = f"\\fI{escape(str(param.name).upper())}\\fR" + ("..." if param.nargs == -1 else "")
            words.append(word if param.required else f"[{word}]")
    return " ".join(words)


def _param(param: Any) -> list[str]:
    """A tagged paragraph for an option or argument: its flags or name, its help, its default."""
    metavar = f"\\fI{escape(param.metavar or str(param.name).upper())}\\fR"
    if param.param_type_name == "argument":
        flags = metavar
    else:
        flags = ", ".join(f"\\fB{escape(opt)}\\fR" for opt in (*param.opts, *param.secondary_opts))
        flags += "" if param.is_flag else f" {metavar}"
    help_text = escape(" ".join((param.help or "").split()))
    default = param.default.value if isinstance(param.default, Enum) else param.default
    if default not in (None, False, (), []) and not callable(default):
        help_text += f" Default: {escape(str(default))}."
    return [".TP", flags, help_text]


def render(tree: Any, version: str) -> str:
    """The whole page for a click command tree."""
    lines = [
        f'.TH AUDITPROC 1 "" "auditproc {escape(version)}" "User Commands"',
        ".SH NAME",
        "auditproc \\- " + escape(" ".join((tree.help or "").split())),
        ".SH SYNOPSIS",
    ]
    commands = list(leaf_commands(tree))
    for names, command in commands:
        lines += [".br", _usage(names, command)]
    lines += [".br", "\\fBauditproc\\fR \\fB\\-\\-version\\fR", ".SH COMMANDS"]
    for names, command in commands:
        lines += [f".SS {escape(' '.join(names))}", *_paragraphs(command.help or "")]
        lines += [line for param in command.params if not param.hidden for line in _param(param)]
    lines.append(".SH GLOBAL OPTIONS")
    for param in tree.params:
        if param.param_type_name == "option" and not param.hidden:
            lines += _param(param)
    lines.append(".SH EXIT STATUS")
    for code, meaning in EXIT_STATUS:
        lines += [".TP", f"\\fB{code}\\fR", escape(meaning)]
    lines.append(".SH FILES")
    for path, meaning in FILES:
        lines += [".TP", f"\\fI{escape(path)}\\fR", escape(meaning)]
    lines += [".SH SEE ALSO", escape(SEE_ALSO)]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Print the page on stdout."""
    from typer.main import get_command

    from auditproc import __version__
    from auditproc.cli import app

    sys.stdout.write(render(get_command(app), __version__))


if __name__ == "__main__":
    main()
