"""Job storage: SQLite persistence across app instances, the demo seed, and the server runner."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from jobspec.emulator import rules
from jobspec.emulator.app import create_app
from jobspec.emulator.config import EmulatorConfig
from jobspec.emulator.demo import (
    DEMO_IDS,
    FINANCE_ARCHIVE_TO_SHAREPOINT,
    FINANCE_TO_SHAREPOINT,
    demo_jobs,
)
from jobspec.emulator.server import running_emulator
from jobspec.emulator.store import JobStore
from tests.emulator.support import asgi_client
from tests.helpers import SSL_CONTEXT, make_job


@pytest.mark.anyio
async def test_sqlite_keeps_jobs_across_two_app_instances(tmp_path: Path) -> None:
    config = EmulatorConfig(data_path=tmp_path / "jobs.sqlite")
    first = create_app(config)
    async with asgi_client(first) as client:
        ids = [
            (await client.post("v1/jobs", json=make_job(name=name))).json()["job"]["id"]
            for name in ("one", "two", "three")
        ]
        await client.patch(f"v1/jobs/{ids[0]}", json={"transfer": {"transfer_type": "copy"}})
        await client.delete(f"v1/jobs/{ids[1]}")
        before = (await client.get("v1/jobs")).json()["jobs"]
    first.state.emulator.store.close()

    second = create_app(config)
    async with asgi_client(second) as client:
        after = (await client.get("v1/jobs")).json()["jobs"]
        gone = await client.get(f"v1/jobs/{ids[1]}")
        everything = (await client.get("_emulator/jobs", params={"include_deleted": "1"})).json()
    second.state.emulator.store.close()
    assert after == before
    assert [job["id"] for job in after] == [ids[0], ids[2]]
    assert after[0]["transfer"]["transfer_type"] == "copy"
    assert gone.status_code == 404
    assert [(job["id"], job["deleted"]) for job in everything["jobs"]] == [
        (ids[0], False),
        (ids[1], True),
        (ids[2], False),
    ]


def test_sqlite_reset_clears_the_file_too(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    store = JobStore(path)
    store.add_many([{"id": "a" * 32, "name": "a"}, {"id": "b" * 32, "name": "b"}])
    store.clear()
    store.add({"id": "c" * 32, "name": "c"})
    store.close()
    reopened = JobStore(path)
    assert [stored.id for stored in reopened.everything()] == ["c" * 32]
    reopened.close()


def test_a_failed_batch_writes_nothing(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.add({"id": "a" * 32, "name": "a"})
    with pytest.raises(KeyError):
        store.add_many([{"id": "b" * 32, "name": "b"}, {"id": "a" * 32, "name": "again"}])
    assert [stored.id for stored in store.everything()] == ["a" * 32]
    store.close()


def test_demo_jobs_have_fixed_ids_and_are_valid() -> None:
    first, second = demo_jobs(), demo_jobs()
    assert first == second
    assert tuple(job["id"] for job in first) == DEMO_IDS
    assert len(set(DEMO_IDS)) == len(DEMO_IDS) >= 10
    assert all(rules.JOB_ID_RE.match(job_id) for job_id in DEMO_IDS)
    assert [rules.problems_in(job) for job in first] == [[]] * len(first)
    by_id = {job["id"]: job for job in first}
    shared = [by_id[FINANCE_TO_SHAREPOINT], by_id[FINANCE_ARCHIVE_TO_SHAREPOINT]]
    assert shared[0]["transfer"]["destination"] == shared[1]["transfer"]["destination"]
    assert {job["transfer"]["transfer_type"] for job in first} >= {
        "sync",
        "copy",
        "move",
        "migrate",
    }
    assert {job["schedule"]["mode"] for job in first} >= {"auto", "manual"}


@pytest.mark.anyio
async def test_demo_ids_are_the_same_in_every_app() -> None:
    listings = []
    for _ in range(2):
        app = create_app(EmulatorConfig(demo=True))
        async with asgi_client(app) as client:
            listings.append((await client.get("v1/jobs", params={"limit": 100})).json()["jobs"])
    assert listings[0] == listings[1]
    assert [job["id"] for job in listings[0]] == list(DEMO_IDS)
    assert listings[0][0]["name"] == "Finance to SharePoint"


@pytest.mark.anyio
async def test_demo_with_data_seeds_only_an_empty_store(tmp_path: Path) -> None:
    config = EmulatorConfig(demo=True, data_path=tmp_path / "jobs.sqlite")
    first = create_app(config)
    async with asgi_client(first) as client:
        await client.delete(f"v1/jobs/{DEMO_IDS[0]}")
    first.state.emulator.store.close()
    second = create_app(config)
    async with asgi_client(second) as client:
        listed = (await client.get("v1/jobs", params={"limit": 100})).json()
    second.state.emulator.store.close()
    assert [job["id"] for job in listed["jobs"]] == list(DEMO_IDS[1:])


def test_running_emulator_serves_on_a_free_port_and_stops() -> None:
    demo, bare = EmulatorConfig(demo=True), EmulatorConfig(controls=False)
    with running_emulator(demo) as first, running_emulator(bare) as second:
        assert first.port != second.port
        assert first.url == f"http://127.0.0.1:{first.port}/"
        with httpx.Client(verify=SSL_CONTEXT) as http:
            listed = http.get(f"{first.url}_emulator/jobs").json()["jobs"]
            assert [job["id"] for job in listed] == list(DEMO_IDS)
            assert http.get(f"{second.url}_emulator/jobs").status_code == 404
            assert http.post(f"{second.url}_emulator/reset").status_code == 404
            reply = http.post(
                f"{second.url}connect/token",
                data={"grant_type": "password", "username": "admin", "password": "admin"},
            )
            assert reply.status_code == 200
    with pytest.raises(httpx.ConnectError), httpx.Client(verify=SSL_CONTEXT) as http:
        http.get(f"{first.url}v1/jobs")


def test_running_emulator_with_data_closes_its_file(tmp_path: Path) -> None:
    config = EmulatorConfig(data_path=tmp_path / "jobs.sqlite")
    with running_emulator(config) as server, httpx.Client(verify=SSL_CONTEXT) as http:
        http.post(f"{server.url}_emulator/jobs", json={"jobs": [make_job()]}).raise_for_status()
    assert server.app.state.emulator.store.persistent is False  # closed by the lifespan
    with running_emulator(config) as server, httpx.Client(verify=SSL_CONTEXT) as http:
        jobs = http.get(f"{server.url}_emulator/jobs").json()["jobs"]
    assert [job["name"] for job in jobs] == ["Finance to SharePoint"]
