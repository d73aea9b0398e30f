"""Runs on the emulator: start → running → idle with `previous_execution`, auto starts, the
cancel sweep for deleted jobs, and `GET v1/jobs/{id}/history`. Time is a fake clock."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from jobspec.emulator.app import Emulator, create_app
from jobspec.emulator.config import EmulatorConfig
from jobspec.emulator.server import RunningEmulator
from tests.emulator.support import FakeClock, asgi_client
from tests.helpers import EmulatorHandle, make_job

T0 = 1_000_000.0
pytestmark = pytest.mark.anyio


@dataclass
class World:
    client: httpx.AsyncClient
    clock: FakeClock
    emulator: Emulator

    async def job(self, job_id: str) -> dict[str, Any]:
        reply = await self.client.get(f"v1/jobs/{job_id}")
        assert reply.status_code == 200, reply.text
        job: dict[str, Any] = reply.json()["job"]
        return job

    async def control(self, job_id: str, action: str) -> dict[str, Any]:
        reply = await self.client.patch(f"v1/jobs/{job_id}", params={action: "1"})
        assert reply.status_code == 200, reply.text
        job: dict[str, Any] = reply.json()["job"]
        return job

    async def history(self, job_id: str, **params: Any) -> dict[str, Any]:
        reply = await self.client.get(f"v1/jobs/{job_id}/history", params=params)
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body

    async def create(self, **changes: Any) -> str:
        reply = await self.client.post("v1/jobs", json=make_job(**changes))
        job_id: str = reply.json()["job"]["id"]
        return job_id

    def stored(self, job_id: str) -> dict[str, Any]:
        stored = self.emulator.store.get(job_id, include_deleted=True)
        assert stored is not None
        return stored.job


@asynccontextmanager
async def world(**settings: Any) -> AsyncIterator[World]:
    clock = FakeClock(T0)
    app = create_app(EmulatorConfig(clock=clock, token_ttl=10**9, **settings))
    try:
        async with asgi_client(app) as client:
            yield World(client, clock, app.state.emulator)
    finally:
        app.state.emulator.store.close()


async def test_a_started_run_ends_after_run_seconds_with_previous_execution() -> None:
    async with world(run_seconds=30) as w:
        job_id = await w.create(schedule={"mode": "manual"})
        started = await w.control(job_id, "start")
        assert started["status"] == "running"
        assert started["execution"]["status"] == "running"
        w.clock.advance(29)
        assert (await w.job(job_id))["status"] == "running"
        w.clock.advance(2)
        done = await w.job(job_id)
    assert done["status"] == "idle"
    assert "execution" not in done
    assert done["previous_execution"] == {
        "id": 1,
        "job_id": job_id,
        "status": "completed",
        "phase": "complete",
        "progress": 1.0,
        "start_time": int(T0),
        "end_time": int(T0) + 30,  # when it was due, not when it was next looked at
        "duration": 30,
        "stats": {"errors": {"failures": 0, "warnings": 0}},
        "trigger": "manual",
    }
    assert done["modified_on"] == done["created_on"]  # a run is not an edit


async def test_pauses_do_not_count_and_cancel_ends_the_run_cancelled() -> None:
    async with world(run_seconds=10) as w:
        job_id = await w.create()
        await w.control(job_id, "start")
        w.clock.advance(6)
        assert (await w.control(job_id, "pause"))["status"] == "paused"
        w.clock.advance(100)
        assert (await w.job(job_id))["status"] == "paused"
        await w.control(job_id, "resume")
        w.clock.advance(3)
        assert (await w.job(job_id))["status"] == "running"
        w.clock.advance(1)
        assert (await w.job(job_id))["previous_execution"]["end_time"] == int(T0) + 110
        await w.control(job_id, "start")
        w.clock.advance(2)
        cancelled = await w.control(job_id, "cancel")
    assert cancelled["status"] == "idle"
    assert cancelled["previous_execution"]["status"] == "cancelled"
    assert cancelled["previous_execution"]["id"] == 2


async def test_start_while_running_does_not_start_a_second_run() -> None:
    async with world() as w:
        job_id = await w.create()
        await w.control(job_id, "start")
        again = await w.control(job_id, "start")
        history = await w.history(job_id)
    assert again["execution"]["id"] == 1
    assert history["meta"]["total_count"] == 1


async def test_deleted_running_job_is_cancelled_by_the_next_sweep() -> None:
    async with world(run_seconds=600, cancel_interval=5) as w:
        job_id = await w.create()
        await w.control(job_id, "start")
        w.clock.advance(7)  # sweeps at T0+5, T0+10, …
        assert (await w.client.delete(f"v1/jobs/{job_id}")).status_code == 204
        assert (await w.client.get(f"v1/jobs/{job_id}")).status_code == 404
        w.clock.advance(2.5)
        w.emulator.runs.tick()
        assert w.stored(job_id)["status"] == "running"  # deleted, still transferring
        w.clock.advance(1)
        w.emulator.runs.tick()
        job = w.stored(job_id)
        history = await w.history(job_id)  # the history of a deleted job is kept
    assert job["status"] == "idle"
    assert job["previous_execution"]["status"] == "cancelled"
    assert job["previous_execution"]["end_time"] == int(T0) + 10
    assert [e["status"] for e in history["executions"]] == ["cancelled"]


async def test_a_deleted_run_that_ends_before_the_sweep_completes() -> None:
    async with world(run_seconds=3, cancel_interval=5) as w:
        job_id = await w.create()
        await w.control(job_id, "start")
        w.clock.advance(1)
        await w.client.delete(f"v1/jobs/{job_id}")
        w.clock.advance(10)
        w.emulator.runs.tick()
    assert w.stored(job_id)["previous_execution"]["status"] == "completed"


async def test_auto_jobs_start_on_the_interval_and_others_do_not() -> None:
    async with world(run_seconds=5, auto_interval=60) as w:
        auto = await w.create(schedule={"mode": "auto"})
        manual = await w.create(schedule={"mode": "manual"})
        disabled = await w.create(schedule={"mode": "auto"}, disabled=True)
        w.emulator.runs.tick()  # first seen now: due in 60 s
        w.clock.advance(59)
        assert (await w.job(auto))["status"] == "idle"
        w.clock.advance(1.5)
        assert (await w.job(auto))["execution"]["trigger"] == "schedule"
        w.clock.advance(130)  # to +190.5: runs at +60, +120 and +180, each 5 s long
        history = await w.history(auto)
        quiet = [await w.history(job_id) for job_id in (manual, disabled)]
    starts = [e["start_time"] - int(T0) for e in history["executions"]]
    assert starts == [180, 120, 60]  # newest first
    assert [e["status"] for e in history["executions"]] == ["completed"] * 3
    assert all(h["executions"] == [] for h in quiet)


async def test_no_auto_starts_by_default() -> None:
    async with world() as w:
        job_id = await w.create(schedule={"mode": "auto"})
        w.emulator.runs.tick()
        w.clock.advance(10_000)
        assert (await w.job(job_id))["status"] == "idle"


async def test_history_envelope_and_paging() -> None:
    async with world(run_seconds=1) as w:
        job_id = await w.create()
        for _ in range(3):
            await w.control(job_id, "start")
            w.clock.advance(2)
        first = await w.history(job_id, limit=2)
        rest = await w.history(job_id, offset=2, limit=2)
        missing = await w.client.get(f"v1/jobs/{'0' * 32}/history")
    assert (first["status"], first["type"]) == (200, "executions")
    assert [e["id"] for e in first["executions"]] == [3, 2]
    assert first["meta"]["total_count"] == 3 and first["meta"]["has_more"] is True
    assert "offset=2" in first["meta"]["links"]["next"]["href"]
    assert [e["id"] for e in rest["executions"]] == [1]
    assert rest["meta"]["has_more"] is False
    assert missing.status_code == 404


async def test_runs_settings_change_at_run_time_and_reset_restores_them() -> None:
    async with world(run_seconds=600) as w:
        job_id = await w.create()
        await w.control(job_id, "start")
        w.clock.advance(5)
        reply = await w.client.post("_emulator/runs", json={"run_seconds": 2})
        assert reply.json() == {
            "run_seconds": 2.0,
            "auto_interval": 0.0,
            "cancel_interval": 5.0,
            "fail_names": [],
            "warn_names": [],
        }
        # a run already going longer than the new length ends, at the time it was due
        assert (await w.job(job_id))["previous_execution"]["end_time"] == int(T0) + 2
        bad = await w.client.post("_emulator/runs", json={"run_seconds": -1, "speed": 2})
        assert bad.status_code == 400
        assert len(bad.json()["errors"]) == 2
        await w.client.post("_emulator/reset")
        settings = (await w.client.get("_emulator/runs")).json()
    assert settings["run_seconds"] == 600


async def test_fail_names_end_runs_failed_with_error_counts_and_warn_names_warn() -> None:
    async with world(run_seconds=10) as w:
        bad = await w.create(name="Broken clone")
        shaky = await w.create(name="Shaky clone")
        good = await w.create(name="Good clone")
        reply = await w.client.post(
            "_emulator/runs", json={"fail_names": ["Broken"], "warn_names": ["Shaky"]}
        )
        assert reply.json()["fail_names"] == ["Broken"]
        for job_id in (bad, shaky, good):
            await w.control(job_id, "start")
        w.clock.advance(4)
        running = (await w.client.get("v1/jobs/history", params={"job": bad})).json()
        w.clock.advance(7)
        ended = {
            job_id: (await w.client.get("v1/jobs/history", params={"job": job_id})).json()
            for job_id in (bad, shaky, good)
        }
        rejected = await w.client.post("_emulator/runs", json={"fail_names": "Broken"})
        bad_job = await w.job(bad)
    (first,) = running["job_executions"]
    assert (first["status"], first["progress"], first["end_time"]) == ("running", 0.4, None)
    failed = ended[bad]["job_executions"][0]
    assert failed["status"] == "failed"
    assert failed["stats"]["errors"] == {"failures": 3, "warnings": 0}
    assert (failed["start_time"], failed["end_time"]) == (int(T0), int(T0) + 10)
    assert failed["progress"] == 1.0
    warned = ended[shaky]["job_executions"][0]
    assert warned["status"] == "warn" and warned["stats"]["errors"]["warnings"] == 2
    assert ended[good]["job_executions"][0]["status"] == "completed"
    assert bad_job["previous_execution"]["status"] == "failed"
    assert rejected.status_code == 400


def test_the_background_task_ends_runs_on_a_live_server(
    emulator: EmulatorHandle, emulator_server: RunningEmulator
) -> None:
    """Over a real socket, with nobody asking: the run still ends (polled with a deadline)."""
    emulator.runs(run_seconds=0.3)
    (job_id,) = emulator.seed([make_job()])
    token = {"Authorization": f"Bearer {emulator.token()}"}
    url = f"{emulator.url}v1/jobs/{job_id}"
    assert emulator.http.patch(url, params={"start": "1"}, headers=token).status_code == 200
    store = emulator_server.app.state.emulator.store  # read directly: a request would tick
    deadline = time.monotonic() + 10
    while store.get(job_id).job["status"] != "idle" and time.monotonic() < deadline:
        time.sleep(0.05)
    job = store.get(job_id).job
    assert job["status"] == "idle"
    assert job["previous_execution"]["status"] == "completed"
    assert emulator.history(job_id)[0]["status"] == "completed"


async def test_a_job_seeded_as_running_has_a_run_that_ends() -> None:
    async with world(run_seconds=30, demo=True) as w:
        (running,) = [s.id for s in w.emulator.store.live() if s.job["status"] == "running"]
        seeded = await w.client.post("_emulator/jobs", json={"jobs": [make_job(status="running")]})
        (also,) = seeded.json()["ids"]
        assert (await w.job(also))["execution"]["start_time"] == int(T0)
        w.clock.advance(31)
        ended = [await w.job(job_id) for job_id in (running, also)]
    assert [job["status"] for job in ended] == ["idle", "idle"]
    assert [job["previous_execution"]["status"] for job in ended] == ["completed"] * 2
