"""Command line: ``auditproc events | replay | follow | rules``."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from typing import Annotated

import orjson
import typer

from auditproc import __version__
from auditproc.assemble import DEFAULT_MAX_INFLIGHT, DEFAULT_WINDOW_MS
from auditproc.ecs import EcsSettings
from auditproc.pipeline import PipelineSettings, Reporter, RunStats, iter_documents
from auditproc.sources import DEFAULT_MAX_LINE_BYTES, expand_inputs

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2
PROGRESS_MIN_BYTES = 32 << 20  # below this a run is over before a progress line helps

app = typer.Typer(
    help="Read Linux audit logs, normalise exec events to ECS, and run EQL detection rules on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PathsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Audit log files, gzipped files, directories holding a rotated set "
        "(audit.log.N … audit.log, read oldest first), or - for stdin. Default: stdin.",
        show_default=False,
    ),
]
HostOpt = Annotated[
    str | None,
    typer.Option("--host", help="host.name for records without a node= prefix. Default: this machine's name."),
]
StatsOpt = Annotated[bool, typer.Option("--stats", help="Print a summary of what was read and found on stderr.")]
WindowOpt = Annotated[
    int,
    typer.Option("--window-ms", min=0, help="Complete an event once records this much newer (audit time) arrive."),
]
InflightOpt = Annotated[
    int, typer.Option("--max-inflight", min=1, help="Most events held open at once; the oldest complete first.")
]
LineCapOpt = Annotated[
    int, typer.Option("--max-line-bytes", min=1024, help="Cut longer lines (counted as oversized).")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"auditproc {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """auditproc: audit logs in, ECS process events and detection alerts out."""


@app.command()
def events(
    paths: PathsArg = None,
    host: HostOpt = None,
    stats: StatsOpt = False,
    window_ms: WindowOpt = DEFAULT_WINDOW_MS,
    max_inflight: InflightOpt = DEFAULT_MAX_INFLIGHT,
    max_line_bytes: LineCapOpt = DEFAULT_MAX_LINE_BYTES,
) -> None:
    """Print one ECS process document (JSON, one per line) for every execve/execveat event.

    Example: auditproc events /var/log/audit/ --stats
    """
    settings = PipelineSettings(
        window_ms=window_ms,
        max_inflight=max_inflight,
        max_line_bytes=max_line_bytes,
        ecs=EcsSettings(host_name=host or socket.gethostname()),
    )
    run_stats = RunStats()
    reporter = Reporter()
    out = sys.stdout.buffer
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    progress = _progress_for(paths or [])
    try:
        for doc in iter_documents(paths or [], settings, run_stats, reporter, progress):
            out.write(dumps(doc, option=newline))
        out.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()
    finally:
        if progress is not None:
            progress.done()
    if stats:
        for line in run_stats.summary():
            reporter.say(line)
    raise typer.Exit(EXIT_INPUT if run_stats.input_errors else EXIT_OK)


class _Progress:
    """A one-line progress indicator on stderr, only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self.total = total

    def __call__(self, done: int) -> None:
        pct = min(100.0, 100.0 * done / self.total)
        sys.stderr.write(f"\rauditproc: {done >> 20} of {self.total >> 20} MiB ({pct:.0f}%)")
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


def _progress_for(paths: list[str]) -> _Progress | None:
    if not sys.stderr.isatty():
        return None
    total = 0
    for inp in expand_inputs(paths):
        if inp.path != "-":
            with contextlib.suppress(OSError):
                total += os.path.getsize(inp.path)
    return _Progress(total) if total >= PROGRESS_MIN_BYTES else None


def _quiet_broken_pipe() -> None:
    # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()



