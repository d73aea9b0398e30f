"""The JSON conventions end to end, on the emulator, with a state file and with PostgreSQL:
what a pipeline parses (`state list --format json`, `state pull -`, `validate --format json`,
`version --format json`) after a real apply, and `state push -` back in."""

from __future__ import annotations

import json

from tests.e2e.conftest import Workspace, standard_specs


def test_state_list_and_pull_print_the_applied_state_as_json(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve", "--format", "json")
    listed = json.loads(ws.cli("state", "list", "--format", "json").stdout)
    clones = {entry["address"]: entry["clone_id"] for entry in listed["entries"]}
    assert clones == {address: entry.clone_id for address, entry in ws.state().items()}

    pulled = json.loads(ws.cli("state", "pull", "-").stdout)
    assert pulled["lineage"] == listed["lineage"] and pulled["serial"] == listed["serial"]
    assert {address: entry["clone_id"] for address, entry in pulled["entries"].items()} == clones
    assert not (ws.root / "-").exists()


def test_a_pulled_state_pushes_back_in_from_stdin(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    text = ws.cli("state", "pull", "-").stdout
    again = ws.cli("state", "push", "-", input=text)
    assert "already holds this state" in again.stdout  # the same serial and content
    ws.cli("state", "rm", "hr")
    older = ws.cli("state", "push", "-", input=text, expect=1)
    assert "older" in older.stderr
    ws.cli("state", "push", "-", "--force", input=text)
    assert set(ws.state()) == {"finance", "hr", "sales"}
    assert ws.cli("plan", "--detailed-exitcode").exit_code == 0


def test_validate_and_version_print_json(ws: Workspace) -> None:
    standard_specs(ws)
    checked = json.loads(ws.cli("validate", "--format", "json").stdout)
    assert checked == {"valid": True, "jobs": 3, "files": 1, "problems": []}
    assert json.loads(ws.cli("version", "--format", "json").stdout)["jobspec"]


def test_a_spec_interval_written_as_a_duration_applies_and_stays_converged(ws: Workspace) -> None:
    ws.add_spec("finance", schedule={"mode": "manual", "repeat_interval": "4h"})
    ws.cli("apply", "--auto-approve")
    (entry,) = ws.state().values()
    assert entry.applied["schedule"]["repeat_interval"] == {"value": 4, "unit": "h"}
    assert ws.cli("plan", "--detailed-exitcode").exit_code == 0
