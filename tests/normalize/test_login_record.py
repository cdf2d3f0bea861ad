"""The LOGIN record as old kernels wrote it makes the document today's format makes.

Before 3.13 or so the kernel wrote ``login pid=… uid=… old auid=… new auid=… [old ses=… new ses=…]``;
today it writes ``pid=… uid=… subj=… old-auid=… auid=… tty=… old-ses=… ses=… res=…``. Each old record
below is paired with the same values in today's names (without the fields old kernels did not write).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from auditproc.normalize import EcsSettings
from auditproc.pipeline import PipelineSettings, Reporter, RunStats, iter_documents

PAIRS = [
    (  # sepolgen corpus, 2006
        "type=LOGIN msg=audit(1158588251.790:769): login pid=8859 uid=0 old auid=4294967295 new auid=500",
        "type=LOGIN msg=audit(1158588251.790:769): pid=8859 uid=0 old-auid=4294967295 auid=500",
    ),
    (  # plaso corpus, 2012
        "type=LOGIN msg=audit(1337845201.174:94983): pid=25443 uid=0 old auid=4294967295 new auid=0 "
        "old ses=4294967295 new ses=1165",
        "type=LOGIN msg=audit(1337845201.174:94983): pid=25443 uid=0 old-auid=4294967295 auid=0 "
        "old-ses=4294967295 ses=1165",
    ),
    (  # a 2014 log: a login changing one audit id to another
        "type=LOGIN msg=audit(1415226156.531:2159626): login pid=15377 uid=1029 old auid=1029 new auid=0 "
        "old ses=2754 new ses=2763",
        "type=LOGIN msg=audit(1415226156.531:2159626): pid=15377 uid=1029 old-auid=1029 auid=0 "
        "old-ses=2754 ses=2763",
    ),
]


def document(tmp_path: Path, line: str) -> dict:
    log = tmp_path / "audit.log"
    log.write_text(line + "\n")
    settings = PipelineSettings(kinds=None, ecs=EcsSettings(host_name="h"))
    (doc,) = iter_documents([str(log)], settings, RunStats(), Reporter(io.StringIO()))
    return doc


@pytest.mark.parametrize(("old", "new"), PAIRS, ids=["2006", "2012", "2014"])
def test_old_login_record_makes_todays_document(tmp_path: Path, old: str, new: str) -> None:
    old_doc, new_doc = document(tmp_path, old), document(tmp_path, new)
    assert old_doc == new_doc
    new_auid = new.split(" auid=")[1].split(" ")[0]
    assert old_doc["event"]["action"] == "changed-login-id-to"
    assert old_doc["auditd"]["summary"]["object"]["primary"] == new_auid  # the new id, not the old one
    assert old_doc["user"]["effective"]["id"] == new_auid
