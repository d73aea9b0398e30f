"""Retiring an original while it runs, end to end over a real socket.

The original is started with `PATCH ?start=1`; the emulator ends runs after `run_seconds` and
cancels a deleted job's run at its next sweep (`cancel_interval`), like DryvIQ. Whether a
transfer was cut short shows in the job's history: `cancelled` or `completed`.
"""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import Workspace


def start(ws: Workspace, job_id: str) -> None:
    token = {"Authorization": f"Bearer {ws.emulator.token()}"}
    reply = ws.emulator.http.patch(
        f"{ws.emulator.url}v1/jobs/{job_id}", params={"start": "1"}, headers=token
    )
    assert reply.status_code == 200 and reply.json()["job"]["status"] == "running"


def last_run_once_over(ws: Workspace, job_id: str, *, within: float = 10.0) -> dict[str, Any]:
    """The job's latest execution once it is no longer running (polled with a deadline)."""
    deadline = time.monotonic() + within
    while True:
        latest = ws.emulator.history(job_id)[0]
        if latest["status"] != "running" or time.monotonic() > deadline:
            return latest
        time.sleep(0.05)


def live_ids(ws: Workspace) -> set[str]:
    return {job["id"] for job in ws.emulator.all_jobs(include_deleted=False)}


def running_original(ws: Workspace, **settings: float) -> str:
    ws.emulator.runs(cancel_interval=0.2, **settings)
    ws.add_spec("finance", original="delete", transfer={"lock_propagation": "mirror_lock"})
    source = ws.sources["finance"]
    start(ws, source)
    return source


def test_deleting_a_running_original_without_waiting_cancels_its_transfer(
    ws: Workspace,
) -> None:
    source = running_original(ws, run_seconds=600)
    plan = ws.cli("plan")
    assert f"finance: original {source} is running right now: deleting it cancels" in plan.stdout
    ws.cli("apply", "--auto-approve")
    assert source not in live_ids(ws)
    assert last_run_once_over(ws, source)["status"] == "cancelled"
    ws.assert_converged()


def test_wait_for_idle_deletes_the_original_once_its_run_has_ended(ws: Workspace) -> None:
    source = running_original(ws, run_seconds=600)
    process = ws.spawn("apply", "--auto-approve", "--wait-for-idle=60")
    # single GETs: at most one while planning, one to verify the clone, then the waiting
    # reads of the original; from the third on, apply is surely waiting
    deadline = time.monotonic() + 30
    reads = 0
    while reads < 3 and time.monotonic() < deadline and process.poll() is None:
        reads = ws.emulator.stats()["requests"].get("GET /v1/jobs/{id}", 0)
        time.sleep(0.05)
    assert reads >= 3, "apply never polled the running original"
    assert source in live_ids(ws), "deleted while running"
    ws.emulator.runs(run_seconds=0)  # the run ends now
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    assert f"waiting for original {source} to finish its run" in err
    assert source not in live_ids(ws)
    assert last_run_once_over(ws, source)["status"] == "completed"
    ws.assert_converged()


def test_a_wait_that_times_out_keeps_the_clone_and_the_next_apply_finishes(
    ws: Workspace,
) -> None:
    source = running_original(ws, run_seconds=600)
    failed = ws.cli("apply", "--auto-approve", "--wait-for-idle=0.5", expect=1)
    assert f"original {source} is still running after 0.5 s, so it was not deleted" in (
        failed.stderr
    )
    entry = ws.state()["finance"]
    assert entry.clone_id in live_ids(ws) and source in live_ids(ws)
    assert entry.original_retired is None  # the retirement is pending
    assert ws.emulator.history(source)[0]["status"] == "running"  # not cut short
    pending = ws.cli("plan", "--detailed-exitcode", expect=2)
    assert f"delete original {source}" in pending.stdout
    assert "finance: retire" in pending.stdout

    # the run ends; the spec asks to wait from now on, which returns at once
    ws.emulator.runs(run_seconds=0)
    ws.specs["finance"]["wait_for_idle"] = True
    ws.write_specs()
    ws.cli("apply", "--auto-approve")
    assert source not in live_ids(ws)
    assert ws.state()["finance"].clone_id == entry.clone_id  # no second clone
    assert ws.emulator.history(source)[0]["status"] == "completed"
    ws.assert_converged()
