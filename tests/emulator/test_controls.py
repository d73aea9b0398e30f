"""The /_emulator/ test controls: reset, seed, list everything, stats, and turning them off."""

from __future__ import annotations

import httpx
import pytest

from jobspec.emulator.app import create_app
from jobspec.emulator.config import EmulatorConfig
from jobspec.emulator.demo import DEMO_IDS
from tests.emulator.support import asgi_client
from tests.helpers import EmulatorHandle, make_job


def test_seed_keeps_given_ids_and_makes_new_ones(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    given = "0123456789abcdef0123456789abcdef"
    ids = emulator.seed([make_job(id=given, name="given"), make_job(name="new")])
    assert ids[0] == given
    assert ids[1] != given and len(ids[1]) == 32
    job = api.get(f"v1/jobs/{given}").json()["job"]
    assert (job["name"], job["status"], job["type"]) == ("given", "idle", "job")


def test_seed_keeps_given_status_and_timestamps(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    (job_id,) = emulator.seed([make_job(status="running", created_on=1500000000)])
    job = api.get(f"v1/jobs/{job_id}").json()["job"]
    assert (job["status"], job["created_on"], job["modified_on"]) == (
        "running",
        1500000000,
        1500000000,
    )


def test_seed_is_validated_like_create_and_stores_nothing_on_error(
    emulator: EmulatorHandle,
) -> None:
    existing = emulator.seed([make_job()])[0]
    jobs = [
        make_job(name="fine"),
        make_job(transfer={"transfer_type": "teleport"}),
        make_job(id="not-hex"),
        make_job(id=existing),
    ]
    reply = emulator.http.post(f"{emulator.url}_emulator/jobs", json={"jobs": jobs})
    assert reply.status_code == 400
    descriptions = [error["description"] for error in reply.json()["errors"]]
    assert descriptions[0].startswith("jobs[1]: transfer.transfer_type")
    assert descriptions[1].startswith("jobs[2]: id must be")
    assert descriptions[2] == f"jobs[3]: id {existing} already exists"
    assert [job["id"] for job in emulator.all_jobs()] == [existing]


def test_reset_clears_jobs_stats_tokens_and_faults(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    emulator.seed([make_job()])
    emulator.faults(fault_503=1.0)
    assert api.get("v1/jobs").status_code == 503
    emulator.reset()
    assert emulator.all_jobs() == []
    assert emulator.stats() == {"total": 0, "requests": {}}
    assert api.get("v1/jobs").status_code == 401  # the old token is gone
    fresh = {"Authorization": f"Bearer {emulator.token()}"}
    assert api.get("v1/jobs", headers=fresh).status_code == 200


def test_stats_count_api_requests_by_route_template(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    # The `api` fixture asked for one token already.
    (job_id,) = emulator.seed([make_job()])
    api.get("v1/jobs")
    api.get(f"v1/jobs/{job_id}")
    api.get(f"v1/jobs/{'e' * 32}")
    api.post(f"v1/jobs/{job_id}/clone", json={"name": "copy"})
    api.patch(f"v1/jobs/{job_id}", params={"start": "1"})
    api.delete(f"v1/jobs/{job_id}")
    emulator.http.get(f"{emulator.url}v1/jobs")  # refused (401) but still an API request
    emulator.all_jobs()
    emulator.stats()
    assert emulator.stats() == {
        "total": 8,
        "requests": {
            "POST /connect/token": 1,
            "GET /v1/jobs": 2,
            "GET /v1/jobs/{id}": 2,
            "POST /v1/jobs/{id}/clone": 1,
            "PATCH /v1/jobs/{id}": 1,
            "DELETE /v1/jobs/{id}": 1,
        },
    }


def test_unknown_paths_and_methods_answer_in_the_errors_envelope(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    missing = api.get("v2/jobs")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["description"].startswith("GET /v2/jobs")
    wrong_method = api.put(f"v1/jobs/{'a' * 32}", json={})
    assert wrong_method.status_code == 405
    assert "errors" in wrong_method.json()


@pytest.mark.anyio
async def test_no_controls_hides_every_control() -> None:
    app = create_app(EmulatorConfig(controls=False))
    async with asgi_client(app, authenticated=False) as client:
        replies = [
            await client.post("_emulator/reset"),
            await client.post("_emulator/jobs", json={"jobs": []}),
            await client.get("_emulator/jobs"),
            await client.get("_emulator/stats"),
            await client.post("_emulator/faults", json={}),
            await client.post("_emulator/tokens/expire"),
        ]
        token = await client.post(
            "connect/token",
            data={"grant_type": "password", "username": "admin", "password": "admin"},
        )
    assert [reply.status_code for reply in replies] == [404] * 6
    assert token.status_code == 200


@pytest.mark.anyio
async def test_reset_reseeds_the_demo_jobs() -> None:
    # A still clock: a running demo job's run starts "now" on each seeding, and the wall clock
    # may pass a second between the first seeding and the reset.
    app = create_app(EmulatorConfig(demo=True, clock=lambda: 1_700_000_000.0))
    async with asgi_client(app) as client:
        first = (await client.get("v1/jobs", params={"limit": 100})).json()["jobs"]
        await client.delete(f"v1/jobs/{DEMO_IDS[0]}")
        await client.post("v1/jobs", json=make_job(name="extra"))
        await client.post("_emulator/reset")
        reply = await client.post(
            "connect/token",
            data={"grant_type": "password", "username": "admin", "password": "admin"},
        )
        headers = {"Authorization": f"Bearer {reply.json()['access_token']}"}
        after = (await client.get("v1/jobs", params={"limit": 100}, headers=headers)).json()
    assert [job["id"] for job in after["jobs"]] == list(DEMO_IDS)
    assert after["jobs"] == first
