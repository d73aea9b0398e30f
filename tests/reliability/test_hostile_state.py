"""Hostile state: each is a clear error that changes nothing (backup intact), or drift.

- a corrupt state file; a state file of a newer format; a saved plan applied to a state of
  another lineage: `plan`/`apply` exit 1 with `error:` naming the file or both lineages,
  no traceback, no mutating request, and the state file and its backup byte-for-byte as before;
- a state whose clones were deleted on the server: drift, recreated by the next apply.
"""

from __future__ import annotations

import json

from tests.e2e.conftest import Workspace
from tests.reliability.campaign import workload

BACKUP = ".backup"


def applied_twice(ws: Workspace) -> dict[str, bytes]:
    """A workspace whose state has a backup: apply, change a spec, apply again."""
    workload(ws, 3, seed=1)
    ws.cli("apply", "--auto-approve")
    ws.specs["job-000"]["overrides"]["priority"] = 5
    ws.write_specs()
    ws.cli("apply", "--auto-approve")
    backup = ws.state_path.with_name(ws.state_path.name + BACKUP)
    assert backup.exists()
    return snapshot(ws)


def snapshot(ws: Workspace) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for path in ws.root.iterdir()
        if path.name.startswith(ws.state_path.name)
    }


def assert_refused(ws: Workspace, *args: str, says: str) -> None:
    before, mutations = snapshot(ws), ws.mutations()
    result = ws.cli(*args, expect=1)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert says in result.stderr, result.stderr
    assert ws.mutations() == mutations
    assert snapshot(ws) == before, "a refused run changed the state files"


def test_corrupt_state_is_refused_and_the_backup_kept(ws: Workspace) -> None:
    files = applied_twice(ws)
    ws.state_path.write_bytes(files[ws.state_path.name][:57] + b"\x00garbage")
    for command in (["plan"], ["apply", "--auto-approve"], ["state", "list"]):
        assert_refused(ws, *command, says=str(ws.state_path.name))
    assert snapshot(ws)[ws.state_path.name + BACKUP] == files[ws.state_path.name + BACKUP]


def test_newer_state_format_is_refused_with_an_upgrade_hint(ws: Workspace) -> None:
    applied_twice(ws)
    document = json.loads(ws.state_path.read_text(encoding="utf-8"))
    document["format_version"] = 99
    ws.state_path.write_text(json.dumps(document), encoding="utf-8")
    for command in (["plan"], ["apply", "--auto-approve"]):
        assert_refused(ws, *command, says="99")


def test_a_saved_plan_is_refused_by_a_state_of_another_lineage(ws: Workspace) -> None:
    applied_twice(ws)
    ws.specs["job-000"]["overrides"]["priority"] = 6
    ws.write_specs()
    ws.cli("plan", "--out", "plan.json")
    ours = json.loads(ws.state_path.read_text(encoding="utf-8"))["lineage"]
    # another team's state file lands in its place (same addresses, another lineage)
    document = json.loads(ws.state_path.read_text(encoding="utf-8"))
    document["lineage"] = "0b5e6f1c-3a2d-4e8f-9c7b-1a2b3c4d5e6f"
    ws.state_path.write_text(json.dumps(document), encoding="utf-8")
    assert_refused(ws, "apply", "plan.json", says=ours)
    result = ws.cli("apply", "plan.json", expect=1)
    assert "0b5e6f1c-3a2d-4e8f-9c7b-1a2b3c4d5e6f" in result.stderr


def test_clones_deleted_on_the_server_are_drift_and_recreated(ws: Workspace) -> None:
    workload(ws, 3, seed=1)  # job-000: manual, job-001: delete, job-002: keep
    ws.cli("apply", "--auto-approve")
    gone = {address: entry.clone_id for address, entry in ws.state().items()}
    token = ws.emulator.token()
    for clone_id in gone.values():
        reply = ws.emulator.http.delete(
            f"{ws.emulator.url}v1/jobs/{clone_id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert reply.status_code in (200, 204)
    # job-001's original was deleted by policy: nothing is left to clone, which is an error
    refused = ws.cli("plan", expect=1)
    assert "job-001" in refused.stderr and "cannot be cloned again" in refused.stderr
    assert "Traceback" not in refused.stderr
    ws.cli("state", "rm", "job-001")
    del ws.specs["job-001"]
    ws.write_specs()
    plan = ws.cli("plan", "--detailed-exitcode", expect=2)
    assert plan.stdout.count("drift") >= 2, plan.stdout
    ws.cli("apply", "--auto-approve")
    live = {job["id"]: job for job in ws.emulator.all_jobs() if not job["deleted"]}
    for address, entry in ws.state().items():
        assert entry.clone_id not in gone.values() and entry.clone_id in live
        name = ws.specs[address]["overrides"]["name"]
        assert sum(job["name"] == name for job in live.values()) == 1
    ws.cli("plan", "--detailed-exitcode", expect=0)
