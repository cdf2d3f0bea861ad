"""``--jobs N``: the output of every N is byte for byte that of one process (issue 12).

Chunks are made small so that parents and children, processes seen ending, max_signals windows and
the process table's eviction all fall across chunk boundaries, and so across workers.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditproc import cli, offload
from auditproc.cli import EXIT_USAGE, app
from auditproc.normalize import EcsSettings
from auditproc.output import dumps_line
from auditproc.pipeline import ExecPipeline, PipelineSettings, Reporter, RunStats, feed_inputs

from .hostile.test_rules import RULE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from gen_log import write_log  # noqa: E402 - bench/ is a folder of scripts, not a package

JOBS = [2, 3, 4, 7]
SMALL_CHUNK_EVENTS = 16
LINES = 6000  # about 500 exec events: some 30 chunks of 16
RULES = {  # one rule that needs the parents, one that max_signals has to cut (summaries), a sequence
    "child_of_sh": 'process where process.parent.name == "sh"',
    "every_exec": "process where true",
    "shell_then_child": 'sequence by host.id with maxspan=10s [process where process.name in ("sh", "bash")] by process.pid'
    " [process where true] by process.parent.pid",
}


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jobs") / "audit.log"
    write_log(path, LINES, seed=3, profile="dense")
    return path


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rules")
    for name, query in RULES.items():
        text = RULE.format(rule_id=name, name=name, query=query).replace('type = "eql"', 'type = "eql"\nmax_signals = 5')
        (folder / f"{name}.toml").write_text(text)
    return folder


@pytest.fixture(autouse=True)
def many_small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offload, "CHUNK_EVENTS", SMALL_CHUNK_EVENTS)
    monkeypatch.setattr(cli, "usable_cores", lambda: 16)


def _run(*args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(app, [*args, "--host", "h", "--stats"])
    # Only the run time and the alerts' wall-clock event.created may differ between runs.
    return (result.exit_code, re.sub(rb'"created":"[^"]*"', b'"created":""', result.stdout_bytes),
            re.sub(r"seconds: .*", "", result.stderr))


@pytest.mark.parametrize("profile", ["auditd", "endpoint"])
@pytest.mark.parametrize("jobs", JOBS)
def test_events_are_those_of_one_process(log: Path, jobs: int, profile: str) -> None:
    one = _run("events", "-j", "1", "--ecs-profile", profile, str(log))
    assert one[1].count(b"\n") > 20 * SMALL_CHUNK_EVENTS and re.search(rb'"parent":{"pid":[0-9]+,"name":', one[1])
    assert _run("events", "-j", str(jobs), "--ecs-profile", profile, str(log)) == one


@pytest.mark.parametrize("jobs", JOBS)
def test_alerts_are_those_of_one_process(log: Path, rules: Path, jobs: int) -> None:
    one = _run("replay", "-q", "--rules", str(rules), "-j", "1", str(log))
    assert b"child_of_sh" in one[1] and "over max_signals" in one[2]  # every rule at work
    assert b'"building_block_type":"default"' in one[1]
    assert _run("replay", "-q", "--rules", str(rules), "-j", str(jobs), str(log)) == one


@pytest.mark.parametrize("builds_here", ["every chunk", "every other chunk"])
@pytest.mark.parametrize("jobs", [2, 3])
def test_chunks_built_by_the_reading_process_give_the_same_output(
    log: Path, rules: Path, jobs: int, builds_here: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reading process builds a chunk when every worker is busy (offload.py): forced here, since
    on a small log the workers always have room."""
    worker_with_room = offload.ParallelPipeline._worker_with_room
    turns = itertools.count()

    def busy_workers(pipe: offload.ParallelPipeline) -> int | None:
        return None if builds_here == "every chunk" or next(turns) % 2 else worker_with_room(pipe)

    one = (_run("events", "-j", "1", str(log)), _run("replay", "-q", "--rules", str(rules), "-j", "1", str(log)))
    monkeypatch.setattr(offload.ParallelPipeline, "_worker_with_room", busy_workers)
    assert (_run("events", "-j", str(jobs), str(log)),
            _run("replay", "-q", "--rules", str(rules), "-j", str(jobs), str(log))) == one
    assert next(turns) > 20 or builds_here == "every chunk"


@pytest.mark.parametrize("jobs", [2, 5])
def test_a_full_process_table_forgets_what_one_process_forgets(log: Path, jobs: int) -> None:
    settings = PipelineSettings(ecs=EcsSettings(host_name="h"), max_processes=8)  # evicts all the time

    def output(pipe: ExecPipeline) -> bytes:
        return b"".join(feed_inputs(pipe, [str(log)]))

    one = b"".join(dumps_line(doc) for doc in feed_inputs(ExecPipeline(settings, RunStats(), Reporter()), [str(log)]))
    parallel = offload.ParallelPipeline(settings, RunStats(), Reporter(io.StringIO()), jobs)
    try:
        assert output(parallel) == one
    finally:
        parallel.close()


def test_more_jobs_than_cores_are_refused(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "usable_cores", lambda: 2)
    result = CliRunner().invoke(app, ["events", "-j", "3", str(log)])
    assert (result.exit_code, result.stdout, result.stderr) == (
        EXIT_USAGE, "", "auditproc: --jobs 3: this machine lets auditproc use 2 cores; give at most 2\n")


def test_a_worker_killed_while_this_process_builds_chunks_too_ends_the_run(
    log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reading process waits for a worker's table steps before it enriches a chunk of its own: the
    worker's death must end that wait with WorkerError, never hang it."""
    worker_with_room = offload.ParallelPipeline._worker_with_room
    turns = itertools.count()
    monkeypatch.setattr(offload.ParallelPipeline, "_worker_with_room",
                        lambda pipe: None if next(turns) % 2 else worker_with_room(pipe))

    def hung(*_: object) -> None:
        raise TimeoutError("the run waited on a dead worker")

    previous = signal.signal(signal.SIGALRM, hung)
    parallel = offload.ParallelPipeline(PipelineSettings(ecs=EcsSettings(host_name="h")), RunStats(),
                                        Reporter(io.StringIO()), 2)
    try:
        output = feed_inputs(parallel, [str(log)])
        next(output)
        signal.alarm(60)
        os.kill(parallel._workers[0].pid, signal.SIGKILL)
        with pytest.raises(offload.WorkerError, match="SIGKILL|stopped"):
            for _ in output:
                pass
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        parallel.close()
