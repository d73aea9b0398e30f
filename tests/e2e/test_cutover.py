"""Verified cutover (`cutover: verified`) end to end against the emulator, with short runs.

The originals are retired only once their clone's first run ended well; a failing run leaves
the original as it was. Runs are the emulator's (`POST /_emulator/runs`: `run_seconds`,
`fail_names`); every wait polls with a deadline.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from tests.e2e.conftest import Workspace
from tests.helpers import wait_for

pytestmark = pytest.mark.quirks  # also against `jobspec emulator --quirks all`


def verified(
    ws: Workspace, address: str, *, original: str = "manual", overlap: bool = False
) -> None:
    """A spec with `cutover: verified`. Without `overlap`, the clone writes a folder of its
    own (a copy to a new destination), so it does not overlap its original."""
    changes: dict[str, Any] = {}
    if not overlap:
        changes = {
            "transfer": {
                "transfer_type": "copy",
                "destination": {"target": {"path": f"/Sites/{address}-new"}},
            }
        }
    ws.add_spec(address, original=original, **changes)
    ws.specs[address]["cutover"] = "verified"
    ws.write_specs()


def jobs(ws: Workspace) -> dict[str, dict[str, Any]]:
    return {job["id"]: job for job in ws.emulator.all_jobs(include_deleted=True)}


def clone_of(ws: Workspace, address: str) -> dict[str, Any]:
    name = ws.specs[address]["overrides"]["name"]
    (clone,) = [job for job in jobs(ws).values() if job["name"] == name and not job["deleted"]]
    return clone


def runs_ended(ws: Workspace, *addresses: str) -> None:
    def ended() -> bool:
        return all(
            clone_of(ws, address)["status"] == "idle"
            and clone_of(ws, address).get("previous_execution")
            for address in addresses
        )

    wait_for(ended, what=f"the first runs of {', '.join(addresses)}", seconds=30)


def phase(ws: Workspace, address: str) -> str | None:
    entry = ws.state()[address]
    return entry.cutover.phase.value if entry.cutover else None


def test_one_of_two_verified_cutovers_fails(ws: Workspace) -> None:
    ws.emulator.runs(run_seconds=0.5, fail_names=["of bad"])
    verified(ws, "good")
    verified(ws, "bad")
    first = ws.cli("apply", "--auto-approve")
    assert "wait for their clone's first run" in first.stdout
    # both cloned and started, both originals untouched
    for address in ("good", "bad"):
        original = jobs(ws)[ws.sources[address]]
        assert original["schedule"]["mode"] == "auto" and not original["deleted"]
        assert phase(ws, address) == "started"
        assert len(ws.emulator.history(clone_of(ws, address)["id"])) == 1
    runs_ended(ws, "good", "bad")

    second = ws.cli("apply", "--auto-approve", expect=1)
    good_original = jobs(ws)[ws.sources["good"]]
    bad_original = jobs(ws)[ws.sources["bad"]]
    assert good_original["schedule"]["mode"] == "manual"
    assert bad_original["schedule"]["mode"] == "auto"
    bad_clone = clone_of(ws, "bad")
    assert bad_clone["schedule"]["mode"] == "manual"
    assert phase(ws, "good") == "retired" and phase(ws, "bad") == "failed"
    message = second.stderr
    assert "bad: cutover failed" in message
    assert bad_clone["id"] in message and "ended failed with 3 errors" in message
    assert "--replace bad" in message

    plan = ws.cli("plan")
    assert "failed cutover" in plan.stdout and "--replace bad" in plan.stdout
    document = json.loads(ws.cli("plan", "--format", "json").stdout)
    (bad,) = [action for action in document["actions"] if action["address"] == "bad"]
    assert bad["cutover"]["phase"] == "failed" and bad["kind"] == "noop"
    # a run that failed is not started again, and no clone is made again
    assert len(ws.emulator.history(bad_clone["id"])) == 1


def test_apply_wait_clones_waits_and_deletes_the_original_in_one_run(ws: Workspace) -> None:
    ws.emulator.runs(run_seconds=0.5)
    verified(ws, "finance", original="delete")
    result = ws.cli("apply", "--auto-approve", "--wait", "60")
    assert "first run ended completed" in result.stderr
    assert jobs(ws)[ws.sources["finance"]]["deleted"] is True
    assert phase(ws, "finance") == "retired"
    history = ws.emulator.history(clone_of(ws, "finance")["id"])
    assert [run["status"] for run in history] == ["completed"]
    ws.assert_converged()


def test_apply_json_carries_the_phase(ws: Workspace) -> None:
    ws.emulator.runs(run_seconds=600)
    verified(ws, "finance")
    lines = ws.cli("apply", "--auto-approve", "--json").stdout.splitlines()
    events = [json.loads(line) for line in lines]
    (plan,) = [event for event in events if event["event"] == "plan"]
    assert plan["plan"]["actions"][0]["cutover"]["phase"] == "new"
    waiting = [e for e in events if e["event"] == "step" and e.get("status") == "waiting"]
    assert waiting and waiting[0]["address"] == "finance"
    summary = events[-1]
    assert summary["ok"] is True and summary["waiting"][0]["address"] == "finance"
    shown = ws.cli("plan").stdout
    assert "waiting for clone" in shown and "running" in shown


def test_overlapping_clone_never_runs_beside_its_original(ws: Workspace) -> None:
    ws.emulator.runs(run_seconds=1.0)
    verified(ws, "finance", overlap=True)
    original_id = ws.sources["finance"]
    token = {"Authorization": f"Bearer {ws.emulator.token()}"}
    url = f"{ws.emulator.url}v1/jobs/{original_id}"
    assert ws.emulator.http.patch(url, params={"start": "1"}, headers=token).status_code == 200
    ws.cli("apply", "--auto-approve", "--wait", "60")
    original_runs = ws.emulator.history(original_id)
    clone_runs = ws.emulator.history(clone_of(ws, "finance")["id"])
    assert [run["status"] for run in clone_runs] == ["completed"]
    assert all(run["end_time"] is not None for run in original_runs)
    assert max(run["end_time"] for run in original_runs) <= clone_runs[0]["start_time"]
    assert jobs(ws)[original_id]["schedule"]["mode"] == "manual"
    assert phase(ws, "finance") == "retired"
    ws.assert_converged()


def test_failing_overlapping_clone_puts_the_original_back(ws: Workspace) -> None:
    ws.emulator.runs(run_seconds=0.5, fail_names=["Clone of finance"])
    verified(ws, "finance", overlap=True)
    original_id = ws.sources["finance"]
    result = ws.cli("apply", "--auto-approve", "--wait", "60", expect=1)
    assert "put original" in result.stderr or "put original" in result.stdout
    assert jobs(ws)[original_id]["schedule"] == {"mode": "auto"}
    assert clone_of(ws, "finance")["schedule"]["mode"] == "manual"
    assert phase(ws, "finance") == "restored"
    assert ws.emulator.history(original_id) == []  # it never ran beside the clone
    plan = ws.cli("plan")
    assert "failed cutover" in plan.stdout


def test_sigkill_during_the_wait_then_apply_finishes(ws: Workspace) -> None:
    ws.emulator.runs(run_seconds=600)
    verified(ws, "finance")
    verified(ws, "hr", original="delete")
    process = ws.spawn("apply", "--auto-approve", "--wait", "600")
    try:
        wait_for(
            lambda: _started(ws, "finance", "hr") or process.poll() is not None,
            what="both first runs started",
            seconds=60,
        )
        assert process.poll() is None, "apply ended before the kill: " + process.stderr.read()
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()
    ws.emulator.runs(run_seconds=0.2)  # the runs going now end
    ws.cli("apply", "--auto-approve", "--wait", "60")
    for address in ("finance", "hr"):
        assert len(ws.emulator.history(clone_of(ws, address)["id"])) == 1  # one start each
        assert phase(ws, address) == "retired"
    ws.assert_converged()


def _started(ws: Workspace, *addresses: str) -> bool:
    """Both start intents are closed in the journal with phase `started` (what a kill keeps)."""
    started = set()
    for record in ws.journal_records():
        change = record.get("change") if record.get("kind") == "done" else None
        cutover = (change or {}).get("entry", {}).get("cutover") or {}
        if cutover.get("phase") == "started":
            started.add(change["put"])  # type: ignore[index]
    return all(address in started for address in addresses)


def test_a_lost_start_reply_is_not_sent_again(ws: Workspace) -> None:
    ws.emulator.runs(run_seconds=600)
    verified(ws, "finance")
    drop = {"route": "PATCH /v1/jobs/{id}", "fault": "drop", "after": 0, "count": 1}
    ws.emulator.faults(targets=[drop])
    ws.cli("apply", "--auto-approve")
    assert len(ws.emulator.history(clone_of(ws, "finance")["id"])) == 1
    assert phase(ws, "finance") == "started"


def test_sigkill_during_the_start_call_then_apply_starts_no_second_run(ws: Workspace) -> None:
    ws.emulator.runs(run_seconds=600)
    verified(ws, "finance")
    ws.emulator.faults(latency_ms=300)  # the kill lands while the start call is in flight
    process = ws.spawn("apply", "--auto-approve")
    try:
        wait_for(
            lambda: _intent(ws, "start") or process.poll() is not None,
            what="the start intent",
            seconds=60,
        )
        assert process.poll() is None, "apply ended before the kill: " + process.stderr.read()
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()
    ws.emulator.faults(latency_ms=0)
    clone_id = clone_of(ws, "finance")["id"]
    ws.emulator.runs(run_seconds=0.2)
    rerun = ws.cli("apply", "--auto-approve", "--wait", "60")
    # the killed call either reached the server (its run is adopted) or not (started now)
    assert "an interrupted start" in rerun.stderr or "started in an interrupted run" in rerun.stderr
    assert len(ws.emulator.history(clone_id)) == 1
    assert phase(ws, "finance") == "retired"
    ws.assert_converged()


def _intent(ws: Workspace, op: str) -> bool:
    return any(
        record.get("kind") == "intent" and record.get("op") == op for record in ws.journal_records()
    )


def test_jobspec_toml_sets_the_default_and_a_spec_its_own(ws: Workspace) -> None:
    verified(ws, "finance")
    verified(ws, "hr")
    del ws.specs["finance"]["cutover"]  # takes jobspec.toml's
    ws.specs["hr"]["cutover"] = "immediate"  # its own wins
    ws.write_specs()
    (ws.root / "jobspec.toml").write_text('cutover = "verified"\n', encoding="utf-8")
    document = json.loads(ws.cli("plan", "--format", "json").stdout)
    notes = {action["address"]: action.get("cutover") for action in document["actions"]}
    assert notes["finance"] is not None and notes["finance"]["phase"] == "new"
    assert notes["hr"] is None


def test_sigterm_ends_the_wait_and_the_next_apply_finishes(ws: Workspace) -> None:
    ws.emulator.runs(run_seconds=600)
    verified(ws, "finance")
    process = ws.spawn("apply", "--auto-approve", "--wait", "600")
    try:
        wait_for(
            lambda: _started(ws, "finance") or process.poll() is not None,
            what="the first run started",
            seconds=60,
        )
        assert process.poll() is None, "apply ended before the signal: " + process.stderr.read()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)  # a bound for giving up: the wait ends on the signal
        assert process.stderr is not None
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr and "interrupted by SIGTERM" in stderr
    assert phase(ws, "finance") == "started"
    ws.emulator.runs(run_seconds=0.2)
    ws.cli("apply", "--auto-approve", "--wait", "60")
    assert len(ws.emulator.history(clone_of(ws, "finance")["id"])) == 1
    ws.assert_converged()


def test_warn_counts_as_good_only_with_accept_warnings(ws: Workspace) -> None:
    ws.emulator.runs(run_seconds=0.2, warn_names=["Clone of"])
    verified(ws, "finance")
    verified(ws, "hr")
    ws.specs["hr"]["accept_warnings"] = True
    ws.write_specs()
    result = ws.cli("apply", "--auto-approve", "--wait", "60", expect=1)
    assert "finance: cutover failed" in result.stderr and "ended warn" in result.stderr
    assert phase(ws, "finance") == "failed" and phase(ws, "hr") == "retired"
    assert jobs(ws)[ws.sources["finance"]]["schedule"]["mode"] == "auto"
    assert jobs(ws)[ws.sources["hr"]]["schedule"]["mode"] == "manual"
