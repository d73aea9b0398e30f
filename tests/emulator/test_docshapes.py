"""The emulator as DryvIQ's documentation shows it (issue 24): connections served and named,
and under the docshapes quirk the documented reply shapes, item-chain demo jobs, categories
under `job_categories`, history as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import httpx
import pytest

from jobspec.emulator.app import create_app
from jobspec.emulator.config import EmulatorConfig
from jobspec.emulator.demo import (
    BOX_ARCHIVE,
    FINANCE_ARCHIVE_TO_SHAREPOINT,
    FINANCE_TO_SHAREPOINT,
    SHAREPOINT,
)
from tests.emulator.support import asgi_client
from tests.helpers import make_job

pytestmark = pytest.mark.anyio


@pytest.fixture
async def plain() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(EmulatorConfig(demo=True))
    async with asgi_client(app) as http:
        yield http
    app.state.emulator.store.close()


@pytest.fixture
async def shaped() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(EmulatorConfig(demo=True, quirks=frozenset({"docshapes"})))
    async with asgi_client(app) as http:
        yield http
    app.state.emulator.store.close()


async def test_connections_are_listed_and_shown_with_names(plain: httpx.AsyncClient) -> None:
    listed = await plain.get("v1/connections", params=[("fields", "name"), ("fields", "platform")])
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["type"] == "connections" and body["meta"]["total_count"] == len(body["connections"])
    names = {one["id"]: one["name"] for one in body["connections"]}
    assert names[SHAREPOINT] == "SharePoint Prod" and names[BOX_ARCHIVE] == "Box Archive"
    shown = (await plain.get(f"v1/connections/{SHAREPOINT}")).json()
    assert shown["type"] == "connection"
    assert shown["connection"]["platform"]["name"] == "Microsoft Office 365"
    missing = await plain.get("v1/connections/nope")
    assert missing.status_code == 404 and "connection nope not found" in missing.text


async def test_a_connection_a_job_names_is_one_the_server_has(plain: httpx.AsyncClient) -> None:
    job = make_job()
    job["transfer"]["destination"]["connection"] = {"id": "conn-made-by-a-test"}
    assert (await plain.post("v1/jobs", json=job)).status_code == 201
    shown = await plain.get("v1/connections/conn-made-by-a-test")
    assert shown.json()["connection"]["name"] == "Connection conn-mad"


async def test_connections_page(plain: httpx.AsyncClient) -> None:
    first = (await plain.get("v1/connections", params={"limit": 2})).json()
    assert len(first["connections"]) == 2 and first["meta"]["has_more"] is True
    rest = (await plain.get("v1/connections", params={"offset": 2, "limit": 100})).json()
    assert rest["meta"]["has_more"] is False


async def test_without_the_quirk_a_job_keeps_its_plain_shape(plain: httpx.AsyncClient) -> None:
    job = (await plain.get(f"v1/jobs/{FINANCE_TO_SHAREPOINT}")).json()["job"]
    assert job["transfer"]["destination"]["connection"] == {"id": SHAREPOINT}
    assert "type" not in job["transfer"] and job["created_by"] == "admin"


async def test_docshapes_replies_as_the_documented_example(shaped: httpx.AsyncClient) -> None:
    first = (await shaped.get(f"v1/jobs/{FINANCE_TO_SHAREPOINT}")).json()["job"]
    second = (await shaped.get(f"v1/jobs/{FINANCE_TO_SHAREPOINT}")).json()["job"]
    destination = first["transfer"]["destination"]
    connection = destination["connection"]
    assert connection["id"] == SHAREPOINT and connection["name"] == "SharePoint Prod"
    assert connection["type"] == "connection" and "platform" in connection
    assert destination["options"] is None and "bytes" in destination["size_estimate"]
    assert first["transfer"]["type"] == "transfer"
    assert len(first["created_by"]) == 32 and first["discriminator"] == "TransferJob"
    moved = second["transfer"]["destination"]
    assert moved["connection"]["modified_on"] != connection["modified_on"]
    assert moved["size_estimate"] != destination["size_estimate"]


async def test_docshapes_demo_has_item_chain_targets(shaped: httpx.AsyncClient) -> None:
    job = (await shaped.get(f"v1/jobs/{FINANCE_ARCHIVE_TO_SHAREPOINT}")).json()["job"]
    target = job["transfer"]["destination"]["target"]
    assert "path" not in target
    assert target["item"]["name"] == "Shared Documents"
    assert target["item"]["parent"]["parent"] == {"root": True, "name": "Sites"}


async def test_a_body_with_an_expanded_connection_stores_its_id(
    shaped: httpx.AsyncClient,
) -> None:
    job = make_job()
    job["transfer"]["destination"]["connection"] = {
        "id": SHAREPOINT,
        "name": "SharePoint Prod",
        "type": "connection",
    }
    body = {**job, "category": {"name": "Quarter close"}, "disabled": True, "priority": 7}
    made = await shaped.post("v1/jobs", json=body)
    assert made.status_code == 201, made.text
    app_job = made.json()["job"]
    assert app_job["disabled"] is True and app_job["priority"] == 7
    stored = (await shaped.get(f"v1/jobs/{app_job['id']}")).json()["job"]
    assert stored["disabled"] is True and stored["priority"] == 7
    assert stored["category"] == app_job["category"]
    assert app_job["category"]["name"] == "Quarter close" and app_job["category"]["id"] >= 100
    listed = (await shaped.get("v1/jobs/categories")).json()
    assert listed["type"] == "job_categories"
    assert "Quarter close" in {one["name"] for one in listed["job_categories"]}


async def test_categories_are_added_by_post(shaped: httpx.AsyncClient) -> None:
    added = await shaped.post("v1/jobs/categories", json={"name": "Audits"})
    assert added.status_code == 201, added.text
    category = added.json()["job_category"]
    again = (await shaped.post("v1/jobs/categories", json={"name": "Audits"})).json()
    assert again["job_category"] == category  # a name is one category
    names = [
        one["name"] for one in (await shaped.get("v1/jobs/categories")).json()["job_categories"]
    ]
    assert "Audits" in names and "Default" in names
    assert (await shaped.post("v1/jobs/categories", json={})).status_code == 400


async def test_history_as_csv(shaped: httpx.AsyncClient) -> None:
    job_id = FINANCE_TO_SHAREPOINT
    assert (await shaped.patch(f"v1/jobs/{job_id}", params={"start": "1"})).status_code == 200
    reply = await shaped.get("v1/jobs/history.csv", params={"job": job_id})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0][:3] == ["id", "job_id", "status"] and rows[1][1] == job_id
    assert (await shaped.get("v1/jobs/history.csv", params={"job": "0" * 32})).status_code == 404


async def test_repeated_fields_parameters_add_up(shaped: httpx.AsyncClient) -> None:
    params = [("fields", "schedule"), ("fields", "transfer.transfer_type")]
    reply = await shaped.get("v1/jobs", params=params)
    job = reply.json()["jobs"][0]
    assert "schedule" in job and "transfer_type" in job["transfer"]


async def test_a_deleted_folder_mapping_child_comes_back_when_the_parent_runs(
    plain: httpx.AsyncClient,
) -> None:
    parent = await plain.post("v1/jobs", json=make_job(name="Home drives", kind="folder_mapping"))
    parent_id = parent.json()["job"]["id"]
    child = await plain.post("v1/jobs", json=make_job(name="Home: ana", parent_id=parent_id))
    child_id = child.json()["job"]["id"]
    assert (await plain.delete(f"v1/jobs/{child_id}")).status_code == 204
    assert (await plain.patch(f"v1/jobs/{parent_id}", params={"start": "1"})).status_code == 200
    children = (await plain.get("v1/jobs", params={"parent": parent_id})).json()["jobs"]
    (back,) = children
    assert back["name"] == "Home: ana" and back["id"] != child_id
    assert (await plain.patch(f"v1/jobs/{parent_id}", params={"cancel": "1"})).status_code == 200
    assert (await plain.patch(f"v1/jobs/{parent_id}", params={"start": "1"})).status_code == 200
    assert len((await plain.get("v1/jobs", params={"parent": parent_id})).json()["jobs"]) == 1


async def test_categories_are_listed_under_the_documented_key_by_default_too(
    plain: httpx.AsyncClient,
) -> None:
    listed = (await plain.get("v1/jobs/categories")).json()
    assert listed["job_categories"] == listed["categories"]
    assert {"id": -1, "name": "Default"} in listed["job_categories"]
