"""`--quirks`: each server behaviour the docs leave open, switched on alone, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from jobspec.cli import cli
from jobspec.emulator.app import create_app
from jobspec.emulator.config import QUIRKS, EmulatorConfig, parse_quirks
from jobspec.errors import UsageError
from tests.emulator.support import asgi_client
from tests.helpers import make_job

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def server(*quirks: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(EmulatorConfig(quirks=frozenset(quirks), seed=7))
    try:
        async with asgi_client(app) as client:
            yield client
    finally:
        app.state.emulator.store.close()


async def create(client: httpx.AsyncClient, **changes: Any) -> str:
    reply = await client.post("v1/jobs", json=make_job(**changes))
    assert reply.status_code in (200, 201), reply.text
    job_id: str = reply.json()["job"]["id"]
    return job_id


async def listing(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    reply = await client.get("v1/jobs", params=params)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


SUMMARY = {"kind", "id", "name", "disabled", "type", "links"}


async def test_default_replies_are_whole_but_clone_replies_are_summaries() -> None:
    async with server() as client:
        job_id = await create(client)
        assert "transfer" in (await client.get(f"v1/jobs/{job_id}")).json()["job"]
        cloned = await client.post(f"v1/jobs/{job_id}/clone", json={"name": "Copy"})
        assert set(cloned.json()["job"]) == SUMMARY


async def test_summary_replies() -> None:
    async with server("summary-replies") as client:
        job_id = await create(client)
        assert set((await client.get(f"v1/jobs/{job_id}")).json()["job"]) == SUMMARY
        whole = (await client.get(f"v1/jobs/{job_id}", params={"fields": "all"})).json()["job"]
        assert whole["transfer"]["transfer_type"] == "sync"
        some = await client.get(f"v1/jobs/{job_id}", params={"fields": "transfer.transfer_type"})
        assert some.json()["job"]["transfer"] == {"transfer_type": "sync"}
        patched = await client.patch(f"v1/jobs/{job_id}", json={"description": "x"})
        assert set(patched.json()["job"]) == SUMMARY
        assert set((await listing(client))["jobs"][0]) == SUMMARY
        assert "transfer" in (await listing(client, fields="all"))["jobs"][0]


async def test_patch_needs_kind() -> None:
    async with server("patch-needs-kind") as client:
        job_id = await create(client)
        refused = await client.patch(f"v1/jobs/{job_id}", json={"description": "x"})
        assert refused.status_code == 400
        assert "send the job's kind in every PATCH" in refused.text
        wrong = await client.patch(f"v1/jobs/{job_id}", json={"kind": "folder_mapping"})
        assert wrong.status_code == 400
        ok = await client.patch(f"v1/jobs/{job_id}", json={"kind": "transfer", "priority": 3})
        assert ok.status_code == 200 and ok.json()["job"]["priority"] == 3
        assert (await client.patch(f"v1/jobs/{job_id}", params={"start": "1"})).status_code == 200


async def test_replace_endpoints() -> None:
    async with server("replace-endpoints") as client:
        job_id = await create(client)
        partial = {"name": "c", "transfer": {"destination": {"target": {"path": "/New"}}}}
        refused = await client.post(f"v1/jobs/{job_id}/clone", json=partial)
        assert refused.status_code == 400
        assert "transfer.destination.connection.id is required" in refused.text
        whole = {"connection": {"id": "other"}, "target": {"path": "/New"}}
        cloned = await client.post(
            f"v1/jobs/{job_id}/clone", json={"name": "c", "transfer": {"destination": whole}}
        )
        assert cloned.status_code == 201
        clone_id = cloned.json()["job"]["id"]
        clone = (await client.get(f"v1/jobs/{clone_id}")).json()["job"]
        assert clone["transfer"]["destination"] == whole


async def test_unstable_order_without_sort() -> None:
    async with server("unstable-order") as client:
        ids = [await create(client, name=f"j{n}") for n in range(30)]
        first = [job["id"] for job in (await listing(client, limit=100))["jobs"]]
        second = [job["id"] for job in (await listing(client, limit=100))["jobs"]]
        assert sorted(first) == sorted(second) == sorted(ids)
        assert first != second
        by_id = [job["id"] for job in (await listing(client, limit=100, sort="id ASC"))["jobs"]]
        assert by_id == sorted(ids)


async def test_deleted_in_lists() -> None:
    async with server("deleted-in-lists") as client:
        gone, kept = await create(client), await create(client)
        assert (await client.delete(f"v1/jobs/{gone}")).status_code == 204
        assert (await client.get(f"v1/jobs/{gone}")).status_code == 404
        listed = {job["id"]: job["status"] for job in (await listing(client))["jobs"]}
        assert listed == {gone: "deleted", kept: "idle"}
        only = await listing(client, status="deleted")
        assert [job["id"] for job in only["jobs"]] == [gone]


async def test_odd_jobs() -> None:
    async with server("odd-jobs") as client:
        job_id = await create(client)
        jobs = (await listing(client))["jobs"]
        assert len(jobs) == 3 and job_id in {job["id"] for job in jobs}
        assert any("name" not in job for job in jobs)
        assert any(job["id"] == "system-content-indexer" for job in jobs)


async def test_page_cap_and_no_total_count() -> None:
    async with server("page-cap-100", "no-total-count") as client:
        seeded = await client.post(
            "/_emulator/jobs", json={"jobs": [make_job(name=f"j{n}") for n in range(150)]}
        )
        assert seeded.status_code == 201
        page = await listing(client, limit=1000)
        assert len(page["jobs"]) == 100 and page["meta"]["limit"] == 100
        assert "total_count" not in page["meta"] and page["meta"]["has_more"] is True
        assert "offset=100" in page["meta"]["links"]["next"]["href"]


async def test_status_200() -> None:
    async with server("status-200") as client:
        created = await client.post("v1/jobs", json=make_job())
        assert created.status_code == 200
        job_id = created.json()["job"]["id"]
        assert (await client.post(f"v1/jobs/{job_id}/clone", json={})).status_code == 200
        deleted = await client.delete(f"v1/jobs/{job_id}")
        assert deleted.status_code == 200 and deleted.json()["job"]["id"] == job_id


async def test_server_fields_move_between_reads() -> None:
    async with server("server-fields-move") as client:
        job_id = await create(client)
        first = (await client.get(f"v1/jobs/{job_id}")).json()["job"]
        second = (await client.get(f"v1/jobs/{job_id}")).json()["job"]
        for path in (
            ("execute_on",),
            ("health",),
            ("size_estimate",),
            ("modified_on",),
            ("stop_policy", "completions"),
            ("transfer", "source", "event_position"),
        ):
            a, b = first, second
            for key in path:
                a, b = a[key], b[key]
            assert a != b, path
        assert first["stop_policy"]["on_success"] == second["stop_policy"]["on_success"] == 2
        assert first["transfer"]["transfer_type"] == second["transfer"]["transfer_type"]


async def test_reorder_sets() -> None:
    async with server("reorder-sets") as client:
        sent = ["ignore_source", "ignore_destination"]
        job_id = await create(client, transfer={"delete_propagation": sent})
        job = (await client.get(f"v1/jobs/{job_id}")).json()["job"]
        assert job["transfer"]["delete_propagation"] == ["ignore_destination", "ignore_source"]


async def test_stray_top_level_patch_keys_are_not_stored() -> None:
    async with server() as client:
        job_id = await create(client)
        body = {"kind": "transfer", "transfer_type": "copy", "schedule": {"mode": "manual"}}
        patched = (await client.patch(f"v1/jobs/{job_id}", json=body)).json()["job"]
        assert "transfer_type" not in patched  # the vendor's documented retire PATCH
        assert patched["transfer"]["transfer_type"] == "sync"
        assert patched["schedule"]["mode"] == "manual"


def test_parse_quirks() -> None:
    assert parse_quirks(["all"]) == frozenset(QUIRKS)
    assert parse_quirks(["odd-jobs,status-200", " page-cap-100 "]) == {
        "odd-jobs",
        "status-200",
        "page-cap-100",
    }
    with pytest.raises(UsageError, match="did you mean 'odd-jobs'"):
        parse_quirks(["odd-job"])


def test_emulator_help_lists_every_quirk() -> None:
    shown = CliRunner().invoke(cli, ["emulator", "--help"]).output
    for name in QUIRKS:
        assert f"  {name}  " in shown, name
    refused = CliRunner().invoke(cli, ["emulator", "--quirks", "nope"])
    assert refused.exit_code != 0 and "unknown quirk 'nope'" in refused.output + refused.stderr
