"""The routes the vendor's own CLI (skysync-cli, src/sdk) calls for job commands, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from jobspec.emulator.app import create_app
from jobspec.emulator.config import EmulatorConfig
from tests.emulator.support import asgi_client
from tests.helpers import make_job

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(EmulatorConfig())
    async with asgi_client(app) as http:
        yield http
    app.state.emulator.store.close()


async def create(client: httpx.AsyncClient, name: str) -> str:
    reply = await client.post("v1/jobs", json=make_job(name=name))
    assert reply.status_code == 201, reply.text
    job_id: str = reply.json()["job"]["id"]
    return job_id


async def test_history_is_a_route_not_a_job_id(client: httpx.AsyncClient) -> None:
    job_id = await create(client, "Finance")
    for _ in range(2):
        assert (await client.patch(f"v1/jobs/{job_id}", params={"start": "1"})).status_code == 200
        assert (await client.patch(f"v1/jobs/{job_id}", params={"cancel": "1"})).status_code == 200
    reply = await client.get("v1/jobs/history", params={"job": job_id})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["type"] == "job_executions" and body["meta"]["total_count"] == 2
    assert [run["id"] for run in body["job_executions"]] == [2, 1]  # newest first
    last = (await client.get("v1/jobs/history", params={"job": job_id, "execution": "last"})).json()
    assert [run["id"] for run in last["job_executions"]] == [2]
    assert (await client.get("v1/jobs/history", params={"job": "f" * 32})).status_code == 404


async def test_bulk_start_and_pause_with_filters(client: httpx.AsyncClient) -> None:
    finance = [await create(client, f"Finance {n}") for n in range(3)]
    other = await create(client, "HR")
    started = await client.patch("v1/jobs", params={"start": "1", "q": "finance"})
    assert started.status_code == 200, started.text
    assert started.json()["meta"]["total_count"] == 3
    statuses = {job["id"]: job["status"] for job in (await client.get("v1/jobs")).json()["jobs"]}
    assert {statuses[job_id] for job_id in finance} == {"running"} and statuses[other] == "idle"
    paused = await client.patch("v1/jobs", params={"pause": "1", "status": "running"})
    assert paused.json()["meta"]["total_count"] == 3
    refused = await client.patch("v1/jobs", params={"start": "1", "pause": "1"})
    assert refused.status_code == 400


async def test_categories(client: httpx.AsyncClient) -> None:
    await create(client, "Finance")
    reply = await client.get("v1/jobs/categories")
    assert reply.status_code == 200
    assert reply.json()["categories"] == [{"id": -1, "name": "Default"}]


async def test_transfer_stats_answer_the_vendor_stats_command(client: httpx.AsyncClient) -> None:
    job_id = await create(client, "Finance")
    await client.patch(f"v1/jobs/{job_id}", params={"start": "1"})
    reply = await client.get(f"v1/transfers/{job_id}/stats")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    stats = body[body["type"]]  # how the vendor client reads a typed reply
    (point,) = stats["timeline"]
    assert point["stats"]["transfer"]["source"] == {"bytes": 0, "files": 0, "folders": 0}
    assert (await client.get(f"v1/transfers/{'f' * 32}/stats")).status_code == 404
