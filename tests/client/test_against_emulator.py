"""The client against the emulator: auth, paging, choosing reads, retries, lost replies.

Most tests use the emulator over a real socket (`emulator` fixture), because a dropped reply
is only a dropped connection there; request counts come from the emulator's own stats.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from jobspec.client import DryvIQClient, RetryPolicy
from jobspec.errors import ApiError, AuthError, OutcomeUnknown
from jobspec.settings import ClientLogin, Credentials, PasswordLogin, Settings
from tests.helpers import make_job

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=4, deadline=10.0, backoff_base=0.001, backoff_cap=0.005)
ADMIN = PasswordLogin("admin", SecretStr("admin"))
TOKEN = "POST /connect/token"
GET_ONE = "GET /v1/jobs/{id}"
LIST = "GET /v1/jobs"
CLONE = "POST /v1/jobs/{id}/clone"
DELETE = "DELETE /v1/jobs/{id}"


def connect(
    url: str,
    credentials: Credentials = ADMIN,
    *,
    concurrency: int = 8,
    transport: httpx.AsyncBaseTransport | None = None,
    **options: Any,
) -> DryvIQClient:
    settings = Settings(server=url, credentials=credentials, concurrency=concurrency)
    return DryvIQClient(settings, transport=transport, retry=options.pop("retry", FAST), **options)


def requests(emulator: Any) -> dict[str, int]:
    counts: dict[str, int] = emulator.stats()["requests"]
    return counts


def seed_many(emulator: Any, count: int) -> list[str]:
    ids: list[str] = emulator.seed([make_job(name=f"job {n:05d}") for n in range(count)])
    return ids


# --- auth -------------------------------------------------------------------------------------


async def test_one_token_for_many_calls(emulator: Any) -> None:
    ids = emulator.seed([make_job(name=f"j{n}") for n in range(20)])
    async with connect(emulator.url) as api:
        jobs = await asyncio.gather(*(api.get_job(job_id) for job_id in ids))
        await api.list_jobs()
    assert [job.id for job in jobs if job] == ids
    assert requests(emulator)[TOKEN] == 1
    assert api.request_count == requests(emulator)[TOKEN] + 21 == emulator.stats()["total"]


async def test_client_credentials(emulator: Any) -> None:
    (job_id,) = emulator.seed([make_job()])
    creds = ClientLogin("jobspec-ci", SecretStr("ci-secret"))
    async with connect(emulator.url, creds) as api:
        assert (await api.get_job(job_id)) is not None


async def test_expired_token_reauthenticates_once_and_retries(emulator: Any) -> None:
    (job_id,) = emulator.seed([make_job()])
    async with connect(emulator.url) as api:
        await api.get_job(job_id)
        emulator.expire_tokens()
        found = await asyncio.gather(*(api.get_job(job_id) for _ in range(5)))
    assert all(job is not None for job in found)
    # Five calls met a 401 at once; only one of them fetched a new token.
    assert requests(emulator)[TOKEN] == 2
    assert requests(emulator)[GET_ONE] == 1 + 5 + 5


async def test_refresh_before_expiry_uses_the_refresh_token(emulator: Any) -> None:
    (job_id,) = emulator.seed([make_job()])
    now = 0.0
    async with connect(emulator.url, clock=lambda: now) as api:
        await api.get_job(job_id)
        now = 3600 - 59.0  # inside the last minute of the hour the token is good for
        await api.get_job(job_id)
    assert requests(emulator)[TOKEN] == 2
    assert requests(emulator)[GET_ONE] == 2  # no 401 on the way


async def test_bad_password_is_an_auth_error_without_the_password(emulator: Any) -> None:
    creds = PasswordLogin("admin", SecretStr("wrong-horse-battery"))
    async with connect(emulator.url, creds) as api:
        with pytest.raises(AuthError) as caught:
            await api.list_jobs()
    error = caught.value
    assert str(error).startswith("POST connect/token: the server refused user 'admin': 400")
    assert "invalid username or password" in str(error)
    assert error.hint == "check JOBSPEC_USERNAME and JOBSPEC_PASSWORD"
    assert "wrong-horse-battery" not in f"{error} {error.hint} {error!r} {api!r}"
    assert requests(emulator) == {TOKEN: 1}


async def test_bad_client_secret(emulator: Any) -> None:
    creds = ClientLogin("jobspec-ci", SecretStr("not-the-secret"))
    async with connect(emulator.url, creds) as api:
        with pytest.raises(AuthError, match="invalid client_id or client_secret") as caught:
            await api.get_job("0" * 32)
    assert "not-the-secret" not in str(caught.value)
    assert "JOBSPEC_CLIENT_SECRET" in (caught.value.hint or "")


async def test_a_401_that_survives_reauthentication_is_an_auth_error(emulator: Any) -> None:
    """Tokens expire just before each GET arrives: one re-authentication, then give up."""
    (job_id,) = emulator.seed([make_job()])

    async def expire_tokens_first(request: httpx.Request) -> None:
        if request.url.path == "/v1/jobs/" + job_id:
            emulator.expire_tokens()

    async with connect(emulator.url, transport=_Hooked(expire_tokens_first)) as api:
        with pytest.raises(AuthError, match="refused a fresh token: 401"):
            await api.get_job(job_id)
    assert requests(emulator) == {TOKEN: 2, GET_ONE: 2}


class _Hooked(httpx.AsyncHTTPTransport):
    """The real network, with a hook run before each request is sent."""

    def __init__(self, hook: Any) -> None:
        super().__init__()
        self._hook = hook

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._hook(request)
        return await super().handle_async_request(request)


# --- reads ------------------------------------------------------------------------------------


async def test_paging_returns_every_job_exactly_once(emulator: Any) -> None:
    ids = seed_many(emulator, 2500)
    async with connect(emulator.url) as api:
        jobs = await api.list_jobs()
    assert [job.id for job in jobs] == sorted(ids)  # a stable order: by id
    assert requests(emulator) == {TOKEN: 1, LIST: 3}


async def test_paging_in_process(emulator_app: Any) -> None:
    app, _config = emulator_app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as http:
        jobs = [make_job(name=f"job {n}") for n in range(2100)]
        seeded = await http.post("/_emulator/jobs", json={"jobs": jobs})
    async with connect("http://emulator.test", transport=transport) as api:
        listed = await api.list_jobs()
        some = await api.list_jobs(q="job 10")
    assert [job.id for job in listed] == sorted(seeded.json()["ids"])
    assert sorted(job.name for job in some) == sorted(
        f"job {n}" for n in range(2100) if f"job {n}".startswith("job 10")
    )
    assert api.request_count == 1 + 3 + 1


async def test_replies_read_through_httpx_are_freed_without_the_cycle_collector(
    emulator_app: Any,
) -> None:
    """Through `client.send` (here an injected transport; in use, a proxy) a reply and its
    stream refer to each other; the client cuts that, so a listing page's bytes go as soon as
    the page is read, not when the cycle collector next runs."""
    import gc

    app, _config = emulator_app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as http:
        await http.post("/_emulator/jobs", json={"jobs": [make_job(name="a job")]})
    gc.collect()
    gc.disable()
    try:
        before = {id(o) for o in gc.get_objects() if isinstance(o, httpx.Response)}
        async with connect("http://emulator.test", transport=transport) as api:
            for _ in range(3):
                assert [job.name for job in await api.list_jobs()] == ["a job"]
            alive = [
                o for o in gc.get_objects() if isinstance(o, httpx.Response) and id(o) not in before
            ]
    finally:
        gc.enable()
    assert alive == []  # none of this test's replies is left waiting for the collector


async def test_a_listing_keeps_what_keep_chooses(emulator: Any) -> None:
    ids = seed_many(emulator, 1200)
    whole = set(ids[:3])
    seen: list[str] = []

    def keep(raw: dict[str, Any]) -> dict[str, Any]:
        seen.append(raw["id"])
        return raw if raw["id"] in whole else {"id": raw["id"], "name": raw["name"]}

    async with connect(emulator.url) as api:
        jobs = await api.list_jobs(keep=keep)
    assert sorted(seen) == sorted(ids)  # every job passed through, once
    by_id = {job.id: job for job in jobs}
    assert by_id.keys() == set(ids)
    assert all("transfer" in by_id[job_id].raw for job_id in whole)
    assert {tuple(job.raw) for job in jobs if job.id not in whole} == {("id", "name")}


async def test_filters_are_passed(emulator: Any) -> None:
    emulator.seed([make_job(name="alpha"), make_job(name="beta"), make_job(name="alphabet")])
    async with connect(emulator.url) as api:
        assert sorted(job.name for job in await api.list_jobs(q="alpha")) == ["alpha", "alphabet"]
        assert await api.list_jobs(kind="personal_drive") == []
        assert len(await api.list_jobs(status="idle")) == 3


async def test_get_jobs_uses_gets_for_few_ids(emulator: Any) -> None:
    ids = seed_many(emulator, 1500)
    wanted = [*ids[:3], *ids[-3:], "f" * 32]
    async with connect(emulator.url) as api:
        found = await api.get_jobs(wanted)
    assert set(found) == set(wanted) - {"f" * 32}
    assert requests(emulator) == {TOKEN: 1, GET_ONE: 7}


async def test_get_jobs_uses_pages_for_many_ids(emulator: Any) -> None:
    ids = seed_many(emulator, 2500)
    wanted = [*ids[::5], "e" * 32]
    async with connect(emulator.url) as api:
        found = await api.get_jobs(wanted)
    assert set(found) == set(ids[::5])
    assert all(found[job_id].id == job_id for job_id in found)
    assert requests(emulator) == {TOKEN: 1, LIST: 3}


async def test_get_jobs_fetches_the_few_left_after_the_first_page(emulator: Any) -> None:
    ids = sorted(seed_many(emulator, 3500))  # 4 pages in id order: 3 left after the first
    wanted = [*ids[:20], ids[-1], ids[-2]]  # 2 missing after page one: 2 GETs beat 3 pages
    async with connect(emulator.url) as api:
        found = await api.get_jobs(wanted)
    assert set(found) == set(wanted)
    assert requests(emulator) == {TOKEN: 1, LIST: 1, GET_ONE: 2}


async def test_get_jobs_with_nothing_to_find(emulator: Any) -> None:
    async with connect(emulator.url) as api:
        assert await api.get_jobs([]) == {}
        assert await api.get_jobs([f"{n:032x}" for n in range(50)]) == {}
    assert requests(emulator) == {TOKEN: 1, LIST: 1}


# --- retries and lost replies -----------------------------------------------------------------


@pytest.mark.parametrize("fault", ["503", "429"])
async def test_seeded_faults_are_retried(emulator: Any, fault: str) -> None:
    (job_id,) = emulator.seed([make_job()])
    emulator.faults(retry_after=0, targets=[{"route": GET_ONE, "fault": fault, "count": 2}])
    async with connect(emulator.url) as api:
        assert await api.get_job(job_id) is not None
    assert requests(emulator)[GET_ONE] == 3


async def test_retries_exhausted_name_the_call(emulator: Any) -> None:
    emulator.seed([make_job()])
    emulator.faults(targets=[{"route": LIST, "fault": "503", "count": 10}])
    async with connect(emulator.url) as api:
        with pytest.raises(ApiError) as caught:
            await api.list_jobs()
    assert str(caught.value).startswith(
        "GET v1/jobs?offset=0&limit=1000&sort=id+ASC: gave up after 4 attempts"
    )
    assert "last answer: 503 Service Unavailable: emulated fault" in str(caught.value)
    assert caught.value.status == 503
    assert requests(emulator)[LIST] == 4


async def test_a_token_call_is_retried_too(emulator: Any) -> None:
    emulator.faults(retry_after=0, targets=[{"route": TOKEN, "fault": "429", "count": 1}])
    async with connect(emulator.url) as api:
        assert await api.list_jobs() == []
    assert requests(emulator)[TOKEN] == 2


async def test_a_dropped_clone_is_outcome_unknown_and_never_resent(emulator: Any) -> None:
    (source,) = emulator.seed([make_job(name="source")])
    emulator.faults(targets=[{"route": CLONE, "fault": "drop", "count": 1}])
    async with connect(emulator.url) as api:
        with pytest.raises(OutcomeUnknown) as caught:
            await api.clone(source, {"name": "the clone"})
    assert str(caught.value).startswith(f"POST v1/jobs/{source}/clone: outcome unknown")
    assert requests(emulator)[CLONE] == 1
    clones = [job for job in emulator.all_jobs(include_deleted=True) if job["name"] == "the clone"]
    assert len(clones) == 1  # it happened, once


async def test_a_clone_refused_with_429_is_retried_and_made_once(emulator: Any) -> None:
    (source,) = emulator.seed([make_job(name="source")])
    emulator.faults(retry_after=0, targets=[{"route": CLONE, "fault": "429", "count": 2}])
    async with connect(emulator.url) as api:
        clone = await api.clone(source, {"name": "the clone"})
    assert clone.name == "the clone" and clone.id != source
    assert requests(emulator)[CLONE] == 3
    assert [job["id"] for job in emulator.all_jobs() if job["name"] == "the clone"] == [clone.id]


async def test_a_clone_answered_503_after_the_work_is_an_unknown_outcome(emulator: Any) -> None:
    """A gateway's 503 may follow work done (issue 23): the clone is never sent twice."""
    (source,) = emulator.seed([make_job(name="source")])
    emulator.faults(targets=[{"route": CLONE, "fault": "done_503", "count": 1}])
    async with connect(emulator.url) as api:
        with pytest.raises(OutcomeUnknown):
            await api.clone(source, {"name": "the clone"})
    assert requests(emulator)[CLONE] == 1
    assert len([job for job in emulator.all_jobs() if job["name"] == "the clone"]) == 1


async def test_delete_after_a_drop_fault_is_done(emulator: Any) -> None:
    (job_id,) = emulator.seed([make_job()])
    emulator.faults(targets=[{"route": DELETE, "fault": "drop", "count": 1}])
    async with connect(emulator.url) as api:
        assert await api.delete(job_id) is True
        assert await api.get_job(job_id) is None
        assert await api.delete(job_id) is False  # already gone
    assert [job["deleted"] for job in emulator.all_jobs()] == [True]


async def test_delete_retried_after_a_lost_reply_counts_as_done(emulator: Any) -> None:
    """The emulator's drop cannot lose a 204 (it has no body to cut), so lose it here."""
    (job_id,) = emulator.seed([make_job()])
    lost: list[str] = []

    class LoseFirstDeleteReply(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await super().handle_async_request(request)
            if request.method == "DELETE" and not lost:
                lost.append(request.url.path)
                await response.aclose()
                raise httpx.RemoteProtocolError("peer closed connection", request=request)
            return response

    async with connect(emulator.url, transport=LoseFirstDeleteReply()) as api:
        assert await api.delete(job_id) is True
    assert lost == [f"/v1/jobs/{job_id}"]
    assert requests(emulator)[DELETE] == 2  # the lost one deleted it; the retry met 404
    assert [job["deleted"] for job in emulator.all_jobs()] == [True]


async def test_patch_after_a_lost_reply_is_sent_again(emulator: Any) -> None:
    (job_id,) = emulator.seed([make_job(name="before")])
    emulator.faults(targets=[{"route": "PATCH /v1/jobs/{id}", "fault": "drop", "count": 1}])
    async with connect(emulator.url) as api:
        patched = await api.patch(job_id, {"name": "after", "schedule": {"mode": "manual"}})
    assert patched.name == "after" and patched.schedule_mode == "manual"
    assert requests(emulator)["PATCH /v1/jobs/{id}"] == 2


async def test_write_side_round_trip(emulator: Any) -> None:
    async with connect(emulator.url) as api:
        created = await api.create(make_job(name="made"))
        assert (await api.control(created.id, "start")).status == "running"
        assert (await api.control(created.id, "pause")).status == "paused"
        with pytest.raises(ApiError, match="400 Bad Request") as caught:
            await api.patch(created.id, {"transfer": {"source": {"target": {"path": "/x"}}}})
        assert caught.value.status == 400
        assert await api.delete(created.id) is True


# --- speed ------------------------------------------------------------------------------------


async def test_reading_5000_jobs_takes_few_requests(emulator: Any) -> None:
    """The work, counted: 5,000 jobs in 1 + 5 pages; 1,000 of them by id in a dozen reads."""
    ids = seed_many(emulator, 5000)
    async with connect(emulator.url) as api:
        jobs = await api.list_jobs()
    assert len(jobs) == 5000
    assert api.request_count == 1 + 5

    async with connect(emulator.url) as api:
        found = await api.get_jobs(ids[::5])  # 1000 specs against 5000 live jobs
    assert len(found) == 1000
    assert api.request_count <= 12


@pytest.mark.perf  # wall-clock bounds: run with -m perf on a quiet machine
async def test_reading_5000_jobs_at_20ms_latency(emulator: Any) -> None:
    ids = seed_many(emulator, 5000)
    emulator.faults(latency_ms=20)
    async with connect(emulator.url) as api:
        started = time.perf_counter()
        jobs = await api.list_jobs()
        elapsed = time.perf_counter() - started
    assert len(jobs) == 5000
    assert api.request_count == 1 + 5
    assert elapsed < 1.5, f"listing 5000 jobs took {elapsed:.2f} s"

    async with connect(emulator.url) as api:
        started = time.perf_counter()
        found = await api.get_jobs(ids[::5])  # 1000 specs against 5000 live jobs
        elapsed = time.perf_counter() - started
    assert len(found) == 1000
    assert api.request_count <= 12
    assert elapsed < 1.5, f"reading 1000 of 5000 jobs took {elapsed:.2f} s"
