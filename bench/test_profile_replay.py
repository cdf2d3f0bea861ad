"""profile_replay.py: samples are put in the stage of their innermost auditproc frame.

    .venv/bin/pytest bench/test_profile_replay.py
"""

from __future__ import annotations

import pytest
from profile_replay import GLUE, OTHER, START_UP, function_of, read_raw, stage_of

MAIN = "<module> (auditproc/cli.py:537)"


@pytest.mark.parametrize(("frames", "stage"), [
    ([MAIN, "iter_records (auditproc/pipeline.py:90)", "split_fields (auditproc/parse.py:300)"], "parse"),
    ([MAIN, "exec_document (auditproc/normalize/process.py:40)", "loads (orjson:0)"], "ECS"),
    ([MAIN, "match (auditproc/ruletable.py:270)", "Set.Match (re2/__init__.py:10)"], "rules"),
    ([MAIN, "compile_query (auditproc/eql/compiler.py:12)"], "rules"),
    ([MAIN, "_run_batch (auditproc/cli.py:254)"], GLUE),
    ([MAIN, "load_rules (auditproc/rulefiles.py:173)", "parse (auditproc/eql/grammar.py:5)"], START_UP),
    ([MAIN, "_find_and_load (<frozen importlib._bootstrap>:1176)", "<module> (auditproc/parse.py:1)"], START_UP),
    (["_run_module_as_main (<frozen runpy>:198)"], OTHER),
])
def test_stage_of(frames, stage):
    assert stage_of(frames) == stage


def test_read_raw_and_function_of(tmp_path):
    raw = tmp_path / "stacks.txt"
    raw.write_text(f"{MAIN};split_fields (auditproc/parse.py:300) 7\n{MAIN};split_fields (auditproc/parse.py:310) 2\n")
    stacks = read_raw(raw)
    assert [count for _, count in stacks] == [7, 2]
    assert {function_of(frames[-1]) for frames, _ in stacks} == {"split_fields (auditproc/parse.py)"}
