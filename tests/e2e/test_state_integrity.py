"""Issue 19 end to end: restores start a new serial epoch, plans fingerprint what the
conflict check read, and an imported entry is as complete as one apply wrote."""

from __future__ import annotations

import json
from typing import Any

from jobspec.plan import Plan
from jobspec.state import SERIAL_EPOCH
from tests.e2e.conftest import Workspace, standard_specs
from tests.helpers import make_job


def test_a_plan_saved_before_a_restore_is_refused_after_it(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    ws.add_spec("finance", original="manual", transfer={"lock_propagation": "mirror_owner"})
    ws.cli("plan", "--out", "old.json")
    serial = json.loads((ws.root / "old.json").read_text())["serial"]
    ws.cli(
        "state", "rm", "sales"
    )  # a change to state only: the jobs old.json read stay as they were
    if ws.state_url is not None:
        refused = ws.cli("state", "restore", expect=1)
        assert "keeps no backup" in refused.stderr and "state push" in refused.stderr
        return
    restored = ws.cli("state", "restore")
    assert f"(its serial {serial}) as serial {SERIAL_EPOCH}" in restored.stdout
    assert "sales" in ws.state()  # the backup: the state as old.json saw it
    kept = sorted(p.name for p in ws.root.iterdir() if "before-restore" in p.name)
    assert len(kept) == 1 and kept[0].startswith("jobspec.state.json.before-restore-")
    before = ws.mutations()
    stale = ws.cli("apply", "old.json", expect=1)
    assert f"the state moved from serial {serial} to {SERIAL_EPOCH}" in stale.stderr
    assert ws.mutations() == before
    ws.cli("apply", "--auto-approve")
    ws.assert_converged()


def _unmanaged(ws: Workspace, *, mode: str, path: str = "/Sites/finance/Team") -> str:
    body = make_job(
        name="Team share sync",
        schedule={"mode": mode},
        transfer={"destination": {"target": {"path": path}}},
    )
    (job_id,) = ws.emulator.seed([body])
    return job_id


def _set(ws: Workspace, job_id: str, body: dict[str, Any]) -> None:
    ws.emulator.http.patch(
        f"{ws.emulator.url}v1/jobs/{job_id}",
        json={"kind": "transfer", **body},
        headers={"Authorization": f"Bearer {ws.emulator.token()}"},
    ).raise_for_status()


def test_an_unmanaged_job_put_on_a_planned_clones_folder_makes_the_saved_plan_stale(
    ws: Workspace,
) -> None:
    ws.add_spec("finance", original="manual", schedule={"mode": "auto"})
    manual = _unmanaged(ws, mode="manual")  # inside the clone's destination, but not scheduled
    elsewhere = _unmanaged(ws, mode="auto", path="/Elsewhere")
    ws.cli("plan", "--out", "plan.json")
    assert json.loads((ws.root / "plan.json").read_text())["placements"]
    _set(ws, elsewhere, {"description": "edited after the plan"})  # not what the check reads
    _set(ws, manual, {"schedule": {"mode": "auto"}})  # now it runs into the clone's folder
    before = ws.mutations()
    stale = ws.cli("apply", "plan.json", expect=1)
    assert "or a job was put on a schedule, since the plan was made" in stale.stderr
    assert ws.mutations() == before
    conflict = ws.cli("plan", expect=1)
    assert f"job {manual} 'Team share sync' (not managed by jobspec)" in conflict.stderr


def test_only_what_the_conflict_check_reads_makes_a_saved_plan_stale(ws: Workspace) -> None:
    ws.add_spec("finance", original="manual", schedule={"mode": "auto"})
    elsewhere = _unmanaged(ws, mode="auto", path="/Elsewhere")
    ws.cli("plan", "--out", "plan.json")
    _set(ws, elsewhere, {"description": "edited after the plan"})
    _unmanaged(ws, mode="manual")  # a new job on the clone's folder, but it never runs alone
    ws.cli("apply", "plan.json")
    ws.add_spec("hr", original="manual", schedule={"mode": "auto"})
    ws.cli("plan", "--out", "plan.json")
    _unmanaged(ws, mode="auto", path="/Sites/hr")  # a new scheduled job on hr's clone's folder
    stale = ws.cli("apply", "plan.json", expect=1)
    assert "a job that runs on a schedule was moved, added or deleted" in stale.stderr


def test_a_plan_without_placements_keeps_its_form_and_checksum() -> None:
    """Plans that never ran the conflict check (and those 0.1 saved) carry no `placements`."""
    plan = Plan(lineage=None, serial=0)
    document = json.loads(plan.to_json())
    assert "placements" not in document
    assert Plan.from_json(plan.to_json()) == plan
    placed = plan.model_copy(update={"placements": "0123456789abcdef"})
    sealed = json.loads(placed.to_json())["checksum"]
    assert sealed != document["checksum"]  # sealed like everything apply reads


def test_after_state_rm_and_import_of_the_same_clones_nothing_is_left_to_do(
    ws: Workspace,
) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    applied = ws.state()
    for address in ("finance", "hr", "sales"):
        ws.cli("state", "rm", address)
        ws.cli("import", address, applied[address].clone_id)
    imported = ws.state()
    for address, entry in imported.items():  # what an apply recorded, read off the live jobs
        was = applied[address]
        assert (entry.applied, entry.original_retired) == (was.applied, was.original_retired)
        # hr's original was deleted: there is no source left to take a digest of (nor to drift)
        assert entry.source_digest == (None if address == "hr" else was.source_digest), address
    assert ws.cli("drift").stdout.startswith("No drift")
    assert ws.cli("plan", "--detailed-exitcode", expect=0).stdout.startswith("No changes.")
    # Later edits are told apart again: on the clone (the server's), on the source.
    clone = imported["finance"].clone_id
    _set(ws, clone, {"transfer": {"lock_propagation": "ignore"}})
    _set(ws, ws.sources["sales"], {"transfer": {"conflict_resolution": "latest"}})
    found = ws.cli("drift", expect=2).stdout
    assert "finance: edited on the server: transfer.lock_propagation" in found
    assert "sales: source job changed" in found
