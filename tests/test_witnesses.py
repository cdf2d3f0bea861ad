"""Elastic's non-process auditd rules against witnesses: raw audit logs that must fire, and near misses that must not.

Each folder of tests/witnesses/ is named for a rule file of ../shared/elastic-rules/linux/ and holds
`fires.log` (every event in it alerts, once) and `misses.log` (no event alerts); tests/witnesses/README.md
says what each event is, which real log it is modelled on, and why each near miss misses.
`auditproc replay --rules <that rule file>` is the judge: the rule's own index (auditbeat-*,
logs-auditd_manager.*) admits it without --all-rules.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from auditproc.cli import app
from tests.conftest import ELASTIC_LINUX, REPO, needs_elastic
from tests.test_corpus_real import replay_grouping

WITNESSES = REPO / "tests" / "witnesses"
AUPARSE_SCRIPT = REPO / "tests" / "reference" / "auparse_events.py"
SYSTEM_PYTHON = "/usr/bin/python3"



@dataclass(frozen=True)
class Witness:
    """A rule file stem, its rule_id, and the serials (event.sequence) whose events must alert, in order."""

    stem: str
    rule_id: str
    fires: tuple[int, ...]


WITNESS_TABLE = [
    Witness("defense_evasion_apparmor_policy_access", "d32f0c27-8edb-4bcf-975e-01696c961e08", (2101, 2102)),
    Witness("defense_evasion_apparmor_policy_violation", "02137bc2-5cc2-4f7f-a8e4-c52dc239aa69", (2201, 2202)),
    Witness("defense_evasion_creation_of_hidden_files_directories", "5124e65f-df97-4471-8dcb-8e3953b3ea97", (2301,)),
    Witness("defense_evasion_deleting_websvr_access_logs", "665e7a4f-c58e-4fc6-bc83-87a7572670ac", (2401, 2402)),
    Witness("defense_evasion_hidden_shared_object", "766d3f91-3f12-448c-b65f-20123e9e9e8c", (2501, 2502)),
    Witness("defense_evasion_log_files_deleted", "aa895aea-b69c-4411-b110-8d7599634b30", (2601, 2602)),
    Witness("defense_evasion_prctl_process_name_tampering", "fef62ecf-0260-4b71-848b-a8624b304828", (2701,)),
    Witness("defense_evasion_unsual_kill_signal", "cf307a5a-d503-44a4-8158-db196d99c9df", (2801, 2802)),
    # event.action "creation" is Elastic Defend's word; no auditd event carries it (README): misses only.
    Witness("execution_sap_netweaver_jsp_webshell", "f7d588ba-e4b0-442e-879d-7ec39fbd69c5", ()),
    Witness("lateral_movement_kubelet_api_connection_attempt_internal_ip", "9f420cca-cb27-44db-a13d-c43c7b48e04a",
            (3001, 3002)),
    Witness("persistence_kde_autostart_modification", "e3e904b3-0a8e-4e68-86a8-977a163e21d3", (3101, 3102)),
    Witness("persistence_kernel_driver_load", "3e12a439-d002-4944-bc42-171c0dcb9b96", (3201, 3202)),
    Witness("persistence_kernel_driver_load_by_non_root", "ba81c182-4287-489d-af4d-8ae834b06040", (3301, 3302)),
    Witness("persistence_user_or_group_creation_or_modification", "fcf733d5-7801-4eb0-92ac-8ffacf3658f2",
            (3401, 3402, 3403)),
    Witness("privilege_escalation_cve_2025_32463_nsswitch_file_creation", "163a8f2f-c8a0-4b7e-9c4a-1184310eb7f3",
            (3501,)),
    Witness("privilege_escalation_sudoers_file_mod", "931e25a5-0f5e-4ae0-ba0d-9e94eff7e3a4", (3601, 3602)),
]
WITH_FIRES = [w for w in WITNESS_TABLE if w.fires]
# Every log of this table that must stay silent: misses.log, plus no-comm.log (a user record without the SYSCALL that
# names its process: Elastic's data has no process.name there, so the rule's `process.name != null` fails).
MISS_LOGS = sorted(p.relative_to(WITNESSES).as_posix() for w in WITNESS_TABLE for p in (WITNESSES / w.stem).glob("*.log")
                   if p.name != "fires.log")
ALL_LOGS = sorted(p.relative_to(WITNESSES).as_posix() for p in WITNESSES.glob("*/*.log"))

# Events auparse splits on purpose (tests/test_corpus_real.py, SERVICE_START): a user-space record (type
# below 1300) sharing its serial with the SYSCALL of the sendto(2) that carried it is complete on its own
# for auparse; for us it is one event. Serial → the parts auparse gives.
AUPARSE_SPLITS = {
    serial: ((kind,), ("SYSCALL", "SOCKADDR"))
    for serial, kind in [(3401, "ADD_USER"), (3402, "ADD_GROUP"), (3403, "USER_CHAUTHTOK"), (3411, "ADD_USER"),
                         (3412, "USER_MGMT"), (3413, "DEL_USER")]
}


def rule_file(stem: str) -> Path:
    return ELASTIC_LINUX / f"{stem}.toml"


def replay_alerts(rules: Path, log: Path) -> list[tuple[str, int]]:
    """(rule id, event.sequence) of every alert `auditproc replay --rules RULES LOG` prints."""
    result = CliRunner().invoke(app, ["replay", "-j", "1", "--quiet", "--rules", str(rules), str(log)])
    assert result.exit_code == 0, result.output
    alerts = [orjson.loads(line) for line in result.stdout.splitlines()]
    return [(a["rule"]["id"], a["event"]["sequence"]) for a in alerts]


def intended_events(log: Path) -> list[tuple[int, tuple[str, ...]]]:
    """What the witness means: one event per audit id, records in the order written."""
    events: dict[str, list[str]] = {}
    for line in log.read_text().splitlines():
        kind = line.split("type=", 1)[1].split(" ", 1)[0]  # after a node= prefix, if any
        events.setdefault(line.split("msg=audit(", 1)[1].split(")", 1)[0], []).append(kind)
    return [(int(key.rsplit(":", 1)[1]), tuple(kinds)) for key, kinds in events.items()]


def test_every_witness_of_the_table_has_its_folder() -> None:
    # Every folder is in this table or in tests/test_sequence_witnesses.py's (checked there).
    for w in WITNESS_TABLE:
        assert (WITNESSES / w.stem / "fires.log").exists() == bool(w.fires), w.stem
        assert (WITNESSES / w.stem / "misses.log").exists(), w.stem


@pytest.mark.parametrize("witness", WITNESS_TABLE, ids=lambda w: w.stem)
def test_fires_log_holds_exactly_the_firing_events(witness: Witness) -> None:
    if not witness.fires:
        return
    serials = [serial for serial, _ in intended_events(WITNESSES / witness.stem / "fires.log")]
    assert tuple(serials) == witness.fires


@needs_elastic
@pytest.mark.parametrize("witness", WITNESS_TABLE, ids=lambda w: w.stem)
def test_rule_file_is_the_named_rule(witness: Witness) -> None:
    rule = tomllib.loads(rule_file(witness.stem).read_text())["rule"]
    assert rule["rule_id"] == witness.rule_id


@needs_elastic
@pytest.mark.parametrize("witness", WITH_FIRES, ids=lambda w: w.stem)
def test_witness_fires(witness: Witness) -> None:
    alerts = replay_alerts(rule_file(witness.stem), WITNESSES / witness.stem / "fires.log")
    assert alerts == [(witness.rule_id, serial) for serial in witness.fires]


@needs_elastic
@pytest.mark.parametrize("log", MISS_LOGS)
def test_near_misses_stay_silent(log: str) -> None:
    stem = log.split("/", 1)[0]
    assert replay_alerts(rule_file(stem), WITNESSES / log) == []


def auparse_grouping(logs: list[Path]) -> dict[Path, list[dict]]:
    """auparse's events for each log (tests/reference/auparse_events.py), from one subprocess; skips without it."""
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import auparse"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("python3-audit (auparse) is not installed for /usr/bin/python3")
    done = subprocess.run([SYSTEM_PYTHON, str(AUPARSE_SCRIPT), "--each", *map(str, logs)],
                          capture_output=True, check=True, timeout=60)
    return {Path(p): v for p, v in json.loads(done.stdout).items()}


@pytest.fixture(scope="module")
def auparse_events() -> dict[str, list[dict]]:
    """auparse's grouping of every witness log."""
    grouped = auparse_grouping([WITNESSES / f for f in ALL_LOGS])
    return {p.relative_to(WITNESSES).as_posix(): v for p, v in grouped.items()}


@pytest.mark.parametrize("log", ALL_LOGS)
def test_auparse_groups_the_witness_as_intended(log: str, auparse_events: dict[str, list[dict]]) -> None:
    expected: list[tuple[int, tuple[str, ...]]] = []
    for serial, kinds in intended_events(WITNESSES / log):
        expected.extend((serial, part) for part in AUPARSE_SPLITS.get(serial, (kinds,)))
    got = [(int(e["id"].rsplit(":", 1)[1]), tuple(e["types"])) for e in auparse_events[log]]
    assert got == expected


@pytest.mark.parametrize("log", ALL_LOGS)
def test_assembler_groups_the_witness_as_intended(log: str) -> None:
    got = [(int(e.id.rsplit(b":", 1)[1]), tuple(r.type for r in e.records)) for e in replay_grouping(WITNESSES / log)]
    assert sorted(got) == sorted(intended_events(WITNESSES / log))
