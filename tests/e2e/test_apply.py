"""apply against the emulator over a socket: idempotency, drift, locks and stale plans."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Workspace, standard_specs

pytestmark = pytest.mark.quirks  # also against `jobspec emulator --quirks all`


def test_apply_then_plan_is_empty_and_a_second_apply_mutates_nothing(ws: Workspace) -> None:
    standard_specs(ws)
    first = ws.cli("apply", "--auto-approve")
    assert "Apply complete: 3 created" in first.stdout
    ws.assert_converged()
    before = ws.mutations()
    again = ws.cli("apply", "--auto-approve")
    assert again.stdout.startswith("No changes.")
    assert ws.mutations() == before


def test_apply_needs_auto_approve_off_a_terminal(ws: Workspace) -> None:
    standard_specs(ws)
    result = ws.cli("apply", expect=1)
    assert "--auto-approve" in result.stderr
    assert ws.mutations() == 0


def test_clone_edited_on_the_server_is_patched_back(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    clone = ws.state()["finance"].clone_id
    token = ws.emulator.token()
    ws.emulator.http.patch(
        f"{ws.emulator.url}v1/jobs/{clone}",
        json={
            "kind": "transfer",
            "transfer": {"lock_propagation": "ignore"},
            "description": "unmanaged",
        },
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()
    plan = ws.cli("plan", "--format", "json", "--detailed-exitcode", expect=2)
    (action,) = [a for a in json.loads(plan.stdout)["actions"] if a["kind"] != "noop"]
    assert action["address"] == "finance" and action["kind"] == "update" and action["drift"]
    assert [c["path"] for c in action["changes"]] == ["transfer.lock_propagation"]
    ws.cli("apply", "--auto-approve")
    ws.assert_converged()


def test_clone_deleted_outside_is_recreated(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    gone = ws.state()["sales"].clone_id
    token = ws.emulator.token()
    ws.emulator.http.delete(
        f"{ws.emulator.url}v1/jobs/{gone}", headers={"Authorization": f"Bearer {token}"}
    ).raise_for_status()
    plan = ws.cli("plan", expect=0)
    assert f"drift: clone {gone} was deleted outside jobspec" in plan.stdout
    ws.cli("apply", "--auto-approve")
    assert ws.state()["sales"].clone_id != gone
    jobs = ws.emulator.all_jobs()
    assert sum(1 for job in jobs if job["name"] == "Clone of sales" and not job["deleted"]) == 1


def test_original_back_on_auto_is_retired_again(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    token = ws.emulator.token()
    ws.emulator.http.patch(
        f"{ws.emulator.url}v1/jobs/{ws.sources['finance']}",
        json={"kind": "transfer", "schedule": {"mode": "auto"}},
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()
    plan = ws.cli("plan", expect=0)
    assert "is back on schedule 'auto'" in plan.stdout
    ws.cli("apply", "--auto-approve")
    ws.assert_converged()


def test_immutable_change_replaces_and_retires_the_old_clone(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    old = ws.state()["finance"].clone_id
    ws.add_spec(
        "finance",
        transfer={
            "lock_propagation": "mirror_lock",
            "destination": {"target": {"path": "/Sites/Finance/Archive"}},
        },
    )
    plan = ws.cli("plan", expect=0)
    assert "± finance: replace" in plan.stdout
    ws.cli("apply", "--auto-approve")
    entry = ws.state()["finance"]
    assert entry.clone_id != old and entry.superseded == []
    jobs = {job["id"]: job for job in ws.emulator.all_jobs()}
    assert jobs[old]["schedule"]["mode"] == "manual"
    assert jobs[entry.clone_id]["transfer"]["destination"]["target"]["path"] == (
        "/Sites/Finance/Archive"
    )


def test_removed_spec_is_kept_until_pruned(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    clone = ws.state()["sales"].clone_id
    del ws.specs["sales"]
    ws.write_specs()
    plan = ws.cli("plan", "--detailed-exitcode", expect=0)
    assert "? sales: orphan" in plan.stdout
    ws.cli("apply", "--auto-approve", "--prune")
    assert "sales" not in ws.state()
    jobs = {job["id"]: job for job in ws.emulator.all_jobs()}
    assert not jobs[clone]["deleted"]  # original: keep → the clone is left alone


def test_missing_source_is_refused_before_any_change(ws: Workspace) -> None:
    standard_specs(ws)
    ws.specs["ghost"] = {"source": "0" * 32, "overrides": {"name": "Clone of ghost"}}
    ws.write_specs()
    result = ws.cli("apply", "--auto-approve", expect=1)
    assert f"source job {'0' * 32} does not exist" in result.stderr
    assert "specs/jobs.yaml" in result.stderr
    assert ws.mutations() == 0


def test_saved_plan_runs_once_then_is_stale(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("plan", "--out", "plan.json")
    ws.cli("apply", "plan.json")
    ws.assert_converged()
    before = ws.mutations()
    again = ws.cli("apply", "plan.json", expect=1)
    assert "the state moved from serial 0" in again.stderr
    assert ws.mutations() == before


def test_saved_plan_is_stale_when_a_job_it_read_changed(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("plan", "--out", "plan.json")
    token = ws.emulator.token()
    source = ws.sources["hr"]
    ws.emulator.http.patch(
        f"{ws.emulator.url}v1/jobs/{source}",
        json={"kind": "transfer", "description": "edited after the plan"},
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()
    result = ws.cli("apply", "plan.json", expect=1)
    assert f"job {source} changed" in result.stderr
    assert ws.mutations() == 1  # only the edit above


def test_second_apply_fails_at_once_naming_the_lock_holder(ws: Workspace) -> None:
    standard_specs(ws)
    with ws.store().lock(operation="apply") as session:
        result = ws.cli("apply", "--auto-approve", expect=1)
        assert session.lock_info.id in result.stderr
        assert "pid" in result.stderr
    assert ws.mutations() == 0
    ws.cli("apply", "--auto-approve")
    ws.assert_converged()


def test_import_adopts_an_existing_clone(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    clone = ws.state()["sales"].clone_id
    ws.cli("state", "rm", "sales")
    assert "sales" not in ws.state()
    ws.cli("import", "sales", clone)
    assert ws.state()["sales"].clone_id == clone
    ws.assert_converged()


def test_a_failing_address_is_listed_and_the_others_complete(ws: Workspace) -> None:
    standard_specs(ws)
    # the emulator refuses an unknown `kind` (a field jobspec passes through) with 400
    ws.specs["broken"] = {
        "source": ws.seed_source("broken"),
        "overrides": {"name": "Clone of broken"},
        "passthrough": {"kind": "bogus"},
    }
    ws.write_specs()
    result = ws.cli("apply", "--auto-approve", expect=1)
    assert "3 created" in result.stdout and "1 failed" in result.stdout
    assert "failed: broken: POST v1/jobs/" in result.stderr
    assert "400 Bad Request: kind:" in result.stderr
    assert "Traceback" not in result.stderr
    assert set(ws.state()) == {"finance", "hr", "sales"}
    del ws.specs["broken"]
    ws.write_specs()
    ws.assert_converged()
