"""The /v1/jobs API over a real socket: create, get, list, patch, run controls, delete, clone."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from jobspec.emulator.app import create_app
from jobspec.emulator.config import EmulatorConfig
from tests.emulator.support import FakeClock, asgi_client
from tests.helpers import EmulatorHandle, make_job, merged

JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def _create(api: httpx.Client, **overrides: Any) -> dict[str, Any]:
    reply = api.post("v1/jobs", json=make_job(**overrides))
    assert reply.status_code == 201, reply.text
    job: dict[str, Any] = reply.json()["job"]
    return job


def _errors(reply: httpx.Response) -> list[str]:
    return [error["description"] for error in reply.json()["errors"]]


# --- create and get -----------------------------------------------------------------------------


def test_create_answers_201_with_the_new_job_in_a_single_envelope(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    body = make_job(name="Legal to Box")
    reply = api.post("v1/jobs", json=body)
    assert reply.status_code == 201
    envelope = reply.json()
    assert (envelope["status"], envelope["type"]) == (201, "job")
    job = envelope["job"]
    assert JOB_ID.match(job["id"])
    assert job["status"] == "idle"
    assert job["type"] == "job"
    assert job["created_by"] == job["modified_by"] == "admin"  # strings, as in the SDK model
    assert isinstance(job["created_on"], int)
    assert job["created_on"] == job["modified_on"]
    assert job["links"]["self"]["href"] == f"{emulator.url}v1/jobs/{job['id']}"
    assert job["transfer"] == body["transfer"]


def test_create_ignores_server_fields_sent_by_the_client(api: httpx.Client) -> None:
    job = _create(api, id="0" * 32, status="running", created_on=1, type="folder")
    assert job["id"] != "0" * 32
    assert (job["status"], job["type"]) == ("idle", "job")
    assert job["created_on"] > 1


def test_create_names_a_nameless_job_and_requires_a_json_object(api: httpx.Client) -> None:
    nameless = make_job()
    del nameless["name"]
    first, second = (api.post("v1/jobs", json=nameless) for _ in range(2))
    assert first.status_code == second.status_code == 201
    names = [reply.json()["job"]["name"] for reply in (first, second)]
    assert names == ["New transfer job 1", "New transfer job 2"]  # the server names it
    blank = api.post("v1/jobs", json=make_job(name=" "))
    assert blank.json()["job"]["name"] == "New transfer job 3"
    not_an_object = api.post("v1/jobs", json=["a", "list"])
    assert not_an_object.status_code == 400
    assert "JSON object" in _errors(not_an_object)[0]


def test_get_returns_the_job_and_accepts_fields_all(api: httpx.Client) -> None:
    job = _create(api)
    reply = api.get(f"v1/jobs/{job['id']}", params={"fields": "all"})
    assert reply.status_code == 200
    assert reply.json() == {"status": 200, "type": "job", "job": job}


def test_unknown_job_is_404_with_errors_envelope(api: httpx.Client) -> None:
    missing = "f" * 32
    for reply in (
        api.get(f"v1/jobs/{missing}"),
        api.patch(f"v1/jobs/{missing}", json={"name": "x"}),
        api.delete(f"v1/jobs/{missing}"),
        api.post(f"v1/jobs/{missing}/clone", json={}),
    ):
        assert reply.status_code == 404
        assert _errors(reply) == [f"job {missing} not found"]


def test_unknown_fields_survive_a_round_trip(api: httpx.Client) -> None:
    extra = {
        "x_vendor": {"nested": [1, {"two": 2}], "flag": None},
        "transfer": {"filter": {"exclude": ["*.tmp"]}, "performance": {"threads": 8}},
    }
    job = _create(api, **extra)
    api.patch(f"v1/jobs/{job['id']}", json={"description": "changed"}).raise_for_status()
    stored = api.get(f"v1/jobs/{job['id']}").json()["job"]
    assert stored["x_vendor"] == extra["x_vendor"]
    assert stored["transfer"]["filter"] == {"exclude": ["*.tmp"]}
    assert stored["transfer"]["performance"] == {"threads": 8}


def test_shorthands_are_stored_in_long_form(api: httpx.Client) -> None:
    body = make_job()
    body["transfer"]["delete_propagation"] = "mirror"
    body["transfer"]["permissions"] = "add"
    job = api.post("v1/jobs", json=body).json()["job"]
    assert job["transfer"]["delete_propagation"] == ["mirror"]
    assert job["transfer"]["permissions"] == {"policy": "add"}

    other = _create(api)
    patched = api.patch(f"v1/jobs/{other['id']}", json={"transfer": {"permissions": "diff"}})
    # The shorthand only sets the policy: the rest of the permissions stay.
    assert patched.json()["job"]["transfer"]["permissions"] == {
        "policy": "diff",
        "links": True,
        "failures": "none",
    }


# --- enums --------------------------------------------------------------------------------------

ENUM_CASES = [
    ({"kind": "mapping"}, "kind", "transfer, folder_mapping, personal_drive"),
    ({"schedule": {"mode": "daily"}}, "schedule.mode", "manual, auto, ad-hoc"),
    ({"transfer": {"transfer_type": "cpy"}}, "transfer.transfer_type", "sync, copy, move"),
    ({"transfer": {"conflict_resolution": "newest"}}, "transfer.conflict_resolution", "latest"),
    ({"transfer": {"delete_propagation": "both"}}, "transfer.delete_propagation", "ignore_both"),
    (
        {"transfer": {"delete_propagation": ["mirror", "x"]}},
        "transfer.delete_propagation",
        "mirror",
    ),
    ({"transfer": {"lock_propagation": "mirror"}}, "transfer.lock_propagation", "mirror_lock"),
    ({"transfer": {"permissions": "all"}}, "transfer.permissions.policy", "none, add, diff"),
    ({"transfer": {"permissions": {"failures": "some"}}}, "transfer.permissions.failures", "deny"),
    ({"transfer": {"permissions": 3}}, "transfer.permissions", "none, add, diff"),
    ({"transfer": {"versioning": {"preserve": "all"}}}, "transfer.versioning.preserve", "native"),
    ({"transfer": {"versioning": {"select": "first"}}}, "transfer.versioning.select", "latest"),
    ({"transfer": {"duplicate_names": "skip"}}, "transfer.duplicate_names", "rename, warn"),
    ({"transfer": {"item_overwrite": "replace"}}, "transfer.item_overwrite", "overwrite, skip"),
    ({"transfer": {"failure_policy": "stop"}}, "transfer.failure_policy", "continue, halt"),
    ({"transfer": {"audit_level": "verbose"}}, "transfer.audit_level", "trace, debug"),
    ({"transfer": {"empty_containers": "keep"}}, "transfer.empty_containers", "create, skip"),
]


@pytest.mark.parametrize(("body", "field", "allowed"), ENUM_CASES)
def test_enum_values_are_checked_on_create_patch_and_clone(
    api: httpx.Client, body: dict[str, Any], field: str, allowed: str
) -> None:
    source = _create(api)
    replies = {
        "create": api.post("v1/jobs", json=merged(make_job(), body)),
        "patch": api.patch(f"v1/jobs/{source['id']}", json=body),
        "clone": api.post(f"v1/jobs/{source['id']}/clone", json=body),
    }
    for call, reply in replies.items():
        assert reply.status_code == 400, call
        (description,) = _errors(reply)
        assert description.startswith(field), (call, description)
        assert allowed in description, (call, description)
    # Nothing was written by the refused calls.
    assert api.get(f"v1/jobs/{source['id']}").json()["job"] == source
    assert api.get("v1/jobs").json()["meta"]["total_count"] == 1


def test_every_problem_is_reported_at_once(api: httpx.Client) -> None:
    body = make_job(kind="x", transfer={"transfer_type": "y", "audit_level": "z"})
    reply = api.post("v1/jobs", json=body)
    assert reply.status_code == 400
    fields = sorted(description.split(":")[0] for description in _errors(reply))
    assert fields == ["kind", "transfer.audit_level", "transfer.transfer_type"]


# --- list ---------------------------------------------------------------------------------------


def test_paging_follows_links_next_over_2500_jobs(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    seeded = emulator.seed([make_job(name=f"job {n:04d}") for n in range(2500)])
    url: str | None = f"{emulator.url}v1/jobs?limit=1000"
    pages: list[dict[str, Any]] = []
    while url is not None:
        reply = api.get(url)
        assert reply.status_code == 200
        pages.append(reply.json())
        url = pages[-1]["meta"]["links"].get("next", {}).get("href")
    assert [len(page["jobs"]) for page in pages] == [1000, 1000, 500]
    assert [job["id"] for page in pages for job in page["jobs"]] == seeded
    first, last = pages[0]["meta"], pages[-1]["meta"]
    assert (first["offset"], first["limit"], first["total_count"], first["has_more"]) == (
        0,
        1000,
        2500,
        True,
    )
    assert first["links"]["self"]["href"] == f"{emulator.url}v1/jobs?offset=0&limit=1000"
    assert first["links"]["next"]["href"] == f"{emulator.url}v1/jobs?offset=1000&limit=1000"
    assert (last["offset"], last["has_more"]) == (2000, False)
    assert "next" not in last["links"]
    assert pages[0]["type"] == "jobs"
    assert pages[0]["jobs"][0]["links"]["self"]["href"] == f"{emulator.url}v1/jobs/{seeded[0]}"


def test_default_limit_is_20_and_large_limits_are_clamped_to_1000(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    emulator.seed([make_job(name=f"job {n}") for n in range(1001)])
    default = api.get("v1/jobs").json()
    assert len(default["jobs"]) == 20
    assert default["meta"]["limit"] == 20
    clamped = api.get("v1/jobs", params={"limit": 5000}).json()
    assert len(clamped["jobs"]) == 1000
    assert clamped["meta"]["limit"] == 1000
    assert clamped["meta"]["has_more"] is True


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "ten"}, {"offset": "-1"}])
def test_bad_paging_parameters_are_400(api: httpx.Client, params: dict[str, str]) -> None:
    reply = api.get("v1/jobs", params=params)
    assert reply.status_code == 400
    assert next(iter(params)) in _errors(reply)[0]


def test_offset_past_the_end_is_an_empty_page(api: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.seed([make_job()])
    body = api.get("v1/jobs", params={"offset": 5}).json()
    assert body["jobs"] == []
    assert body["meta"]["total_count"] == 1
    assert body["meta"]["has_more"] is False


def _names(api: httpx.Client, **params: str) -> list[str]:
    return [job["name"] for job in api.get("v1/jobs", params=params).json()["jobs"]]


def test_filters_and_sort(api: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.seed(
        [
            make_job(name="Finance to SharePoint"),
            make_job(name="hr box", kind="folder_mapping"),
            make_job(name="Archive FINANCE", status="running"),
            make_job(name="Legal", kind="personal_drive", status="paused"),
        ]
    )
    assert _names(api) == ["Finance to SharePoint", "hr box", "Archive FINANCE", "Legal"]
    assert _names(api, q="finance") == ["Finance to SharePoint", "Archive FINANCE"]
    assert _names(api, kind="folder_mapping") == ["hr box"]
    assert _names(api, kind="transfer,personal_drive") == [
        "Finance to SharePoint",
        "Archive FINANCE",
        "Legal",
    ]
    assert _names(api, status="running") == ["Archive FINANCE"]
    assert _names(api, status="idle", kind="transfer") == ["Finance to SharePoint"]
    assert _names(api, sort="name ASC") == [
        "Archive FINANCE",
        "Finance to SharePoint",
        "hr box",
        "Legal",
    ]
    assert _names(api, sort="name DESC") == [
        "Legal",
        "hr box",
        "Finance to SharePoint",
        "Archive FINANCE",
    ]
    refused = api.get("v1/jobs", params={"sort": "colour ASC"})
    assert refused.status_code == 400
    assert "sort" in _errors(refused)[0]


def test_paging_links_keep_the_filters(api: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.seed([make_job(name=f"finance {n}") for n in range(5)] + [make_job(name="hr")])
    first = api.get("v1/jobs", params={"q": "finance", "sort": "name DESC", "limit": 2}).json()
    assert first["meta"]["total_count"] == 5
    second = api.get(first["meta"]["links"]["next"]["href"]).json()
    third = api.get(second["meta"]["links"]["next"]["href"]).json()
    names = [job["name"] for page in (first, second, third) for job in page["jobs"]]
    assert names == [f"finance {n}" for n in (4, 3, 2, 1, 0)]


# --- patch --------------------------------------------------------------------------------------


def test_patch_deep_merges_the_body(api: httpx.Client) -> None:
    job = _create(api)
    body = {
        "description": "nightly",
        "schedule": {"mode": "manual"},
        "transfer": {"transfer_type": "copy", "versioning": {"select": "latest"}},
    }
    reply = api.patch(f"v1/jobs/{job['id']}", json=body)
    assert reply.status_code == 200
    assert (reply.json()["status"], reply.json()["type"]) == (200, "job")
    patched = api.get(f"v1/jobs/{job['id']}").json()["job"]
    assert patched["description"] == "nightly"
    assert patched["schedule"] == {"mode": "manual"}
    assert patched["transfer"]["transfer_type"] == "copy"
    assert patched["transfer"]["versioning"] == {"preserve": "native", "select": "latest"}
    assert patched["transfer"]["permissions"] == job["transfer"]["permissions"]
    assert patched["transfer"]["source"] == job["transfer"]["source"]
    assert patched["created_on"] == job["created_on"]
    assert patched["modified_on"] >= job["modified_on"]


def test_patch_cannot_change_server_fields(api: httpx.Client) -> None:
    job = _create(api)
    reply = api.patch(
        f"v1/jobs/{job['id']}", json={"id": "1" * 32, "status": "running", "name": "renamed"}
    )
    patched = reply.json()["job"]
    assert (patched["id"], patched["status"], patched["name"]) == (job["id"], "idle", "renamed")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"transfer": {"source": {"target": {"path": "/Elsewhere"}}}}, "transfer.source"),
        ({"transfer": {"source": {"connection": {"id": "a" * 32}}}}, "transfer.source"),
        (
            {"transfer": {"destination": {"target": {"path": "/Sites/Other"}}}},
            "transfer.destination",
        ),
        ({"transfer": {"destination": None}}, "transfer.destination"),
    ],
)
def test_changing_source_or_destination_is_400_naming_the_field(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    job = _create(api)
    reply = api.patch(f"v1/jobs/{job['id']}", json=body)
    assert reply.status_code == 400
    assert _errors(reply) == [f"{field} is immutable after creation; clone the job instead"]
    assert api.get(f"v1/jobs/{job['id']}").json()["job"] == job


def test_sending_the_same_source_and_destination_is_fine(api: httpx.Client) -> None:
    job = _create(api)
    same = {"transfer": {"source": job["transfer"]["source"], "destination": {"target": {}}}}
    reply = api.patch(f"v1/jobs/{job['id']}", json=same)
    assert reply.status_code == 200
    assert reply.json()["job"]["modified_on"] == job["modified_on"]


@pytest.mark.parametrize(
    ("actions", "statuses"),
    [
        (["start", "pause", "resume", "cancel"], ["running", "paused", "running", "idle"]),
        (["cancel", "start", "start"], ["idle", "running", "running"]),
    ],
)
def test_run_controls_change_the_status(
    api: httpx.Client, actions: list[str], statuses: list[str]
) -> None:
    job = _create(api)
    seen = []
    for action in actions:
        reply = api.patch(f"v1/jobs/{job['id']}", params={action: "1"})
        assert reply.status_code == 200
        seen.append(reply.json()["job"]["status"])
        assert api.get(f"v1/jobs/{job['id']}").json()["job"]["status"] == seen[-1]
    assert seen == statuses


def test_two_run_controls_at_once_are_400(api: httpx.Client) -> None:
    job = _create(api)
    reply = api.patch(f"v1/jobs/{job['id']}", params={"start": "1", "pause": "1"})
    assert reply.status_code == 400


@pytest.mark.anyio
async def test_modified_on_moves_on_changes_only() -> None:
    clock = FakeClock(1_000_000.0)
    app = create_app(EmulatorConfig(clock=clock))
    async with asgi_client(app) as client:
        created = (await client.post("v1/jobs", json=make_job())).json()["job"]
        path = f"v1/jobs/{created['id']}"
        clock.advance(60)
        renamed = (await client.patch(path, json={"name": "renamed"})).json()["job"]
        clock.advance(60)
        unchanged = (await client.patch(path, json={"name": "renamed"})).json()["job"]
        started = (await client.patch(path, params={"start": "1"})).json()["job"]
    app.state.emulator.store.close()
    assert created["created_on"] == created["modified_on"] == 1_000_000
    assert renamed["modified_on"] == 1_000_060
    assert renamed["created_on"] == 1_000_000
    assert unchanged["modified_on"] == 1_000_060
    assert (started["status"], started["modified_on"]) == ("running", 1_000_060)


# --- delete -------------------------------------------------------------------------------------


def test_delete_is_soft_and_a_second_delete_is_404(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    kept, doomed = _create(api, name="kept"), _create(api, name="doomed")
    first = api.delete(f"v1/jobs/{doomed['id']}")
    assert first.status_code == 204
    assert first.content == b""
    assert api.get(f"v1/jobs/{doomed['id']}").status_code == 404
    assert api.patch(f"v1/jobs/{doomed['id']}", json={"name": "x"}).status_code == 404
    assert api.patch(f"v1/jobs/{doomed['id']}", params={"start": "1"}).status_code == 404
    assert api.post(f"v1/jobs/{doomed['id']}/clone", json={}).status_code == 404
    assert api.delete(f"v1/jobs/{doomed['id']}").status_code == 404
    listed = api.get("v1/jobs").json()
    assert [job["id"] for job in listed["jobs"]] == [kept["id"]]
    assert listed["meta"]["total_count"] == 1
    stored = {job["id"]: job["deleted"] for job in emulator.all_jobs(include_deleted=True)}
    assert stored == {kept["id"]: False, doomed["id"]: True}
    assert [job["id"] for job in emulator.all_jobs(include_deleted=False)] == [kept["id"]]


# --- clone --------------------------------------------------------------------------------------


def test_clone_deep_merges_overrides_over_a_copy(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    (source_id,) = emulator.seed(
        [
            make_job(
                status="running",
                execution={"id": 7},
                previous_execution={"id": 6},
                x_vendor={"keep": True},
            )
        ]
    )
    source = api.get(f"v1/jobs/{source_id}").json()["job"]
    overrides = {
        "name": "Finance archive",
        "schedule": {"mode": "manual"},
        "transfer": {
            "transfer_type": "copy",
            "destination": {"target": {"path": "/Archive/Finance"}},
            "permissions": "add",
        },
    }
    reply = api.post(f"v1/jobs/{source_id}/clone", json=overrides)
    assert reply.status_code == 201
    assert (reply.json()["status"], reply.json()["type"]) == (201, "job")
    summary = reply.json()["job"]  # the documented clone reply: a summary of the new job
    assert set(summary) == {"kind", "id", "name", "disabled", "type", "links"}
    clone = api.get(f"v1/jobs/{summary['id']}", params={"fields": "all"}).json()["job"]
    assert summary == {key: clone[key] for key in summary}
    assert JOB_ID.match(clone["id"]) and clone["id"] != source_id
    assert clone["status"] == "idle"
    assert "execution" not in clone and "previous_execution" not in clone
    assert clone["links"]["self"]["href"] == f"{emulator.url}v1/jobs/{clone['id']}"
    assert clone["name"] == "Finance archive"
    assert clone["x_vendor"] == {"keep": True}
    transfer = clone["transfer"]
    assert transfer["transfer_type"] == "copy"
    assert transfer["destination"] == {
        "connection": source["transfer"]["destination"]["connection"],
        "target": {"path": "/Archive/Finance"},
    }
    assert transfer["source"] == source["transfer"]["source"]
    assert transfer["permissions"] == {"policy": "add", "links": True, "failures": "none"}
    assert transfer["versioning"] == source["transfer"]["versioning"]
    assert api.get(f"v1/jobs/{source_id}").json()["job"] == source


def test_clone_without_a_body_copies_the_job(api: httpx.Client) -> None:
    source = _create(api)
    reply = api.post(f"v1/jobs/{source['id']}/clone")
    assert reply.status_code == 201
    clone = api.get(f"v1/jobs/{reply.json()['job']['id']}").json()["job"]
    assert clone["name"] == source["name"]
    assert clone["transfer"] == source["transfer"]


@pytest.mark.anyio
async def test_indexed_pages_match_a_full_scan_through_creates_and_deletes() -> None:
    """The index-served listings (no filter; creation order or `sort=id`) page exactly as a
    scan of every live job would, after seeding, creating, cloning and deleting."""
    app = create_app(EmulatorConfig())
    async with asgi_client(app) as client:
        seeded = await client.post(
            "_emulator/jobs", json={"jobs": [make_job(name=f"seed {n}") for n in range(40)]}
        )
        ids: list[str] = seeded.json()["ids"]
        for n in range(5):
            created = await client.post("v1/jobs", json=make_job(name=f"made {n}"))
            ids.append(created.json()["job"]["id"])
        clone = await client.post(f"v1/jobs/{ids[3]}/clone", json={"name": "the clone"})
        ids.append(clone.json()["job"]["id"])
        for gone in (ids[0], ids[7], ids[44], ids[-1]):
            assert (await client.delete(f"v1/jobs/{gone}")).status_code == 204
        live = [job_id for job_id in ids if job_id not in (ids[0], ids[7], ids[44], ids[-1])]

        async def paged(**params: str) -> tuple[list[str], set[int]]:
            seen: list[str] = []
            totals: set[int] = set()
            for offset in range(0, 60, 7):
                body = (
                    await client.get("v1/jobs", params={**params, "offset": offset, "limit": 7})
                ).json()
                seen += [job["id"] for job in body["jobs"]]
                totals.add(body["meta"]["total_count"])
            return seen, totals

        assert await paged() == (live, {len(live)})
        assert await paged(sort="id ASC") == (sorted(live), {len(live)})
        assert await paged(sort="id DESC") == (sorted(live, reverse=True), {len(live)})
        # a filter takes the scan, which must agree
        assert await paged(kind="transfer", sort="id ASC") == (sorted(live), {len(live)})
    app.state.emulator.store.close()
