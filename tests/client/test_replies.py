"""The client against a fake network (`httpx.MockTransport`): garbage, retries, bounds, secrets.

Each test answers with a plain handler function, so it shows exactly what the server said.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from jobspec.client import DryvIQClient, RetryPolicy, _retry_after
from jobspec.errors import ApiError, AuthError, NotFoundError, OutcomeUnknown
from jobspec.settings import PasswordLogin, Settings, StaticToken

pytestmark = pytest.mark.anyio

JOB_ID = "c4d8c04a69224ef0bfaa2f8e920b8792"
PASSWORD = "pa55-word-do-not-print"
FAST = RetryPolicy(max_attempts=4, deadline=5.0, backoff_base=0.001, backoff_cap=0.002)

Handler = Callable[[httpx.Request], httpx.Response]


def job(job_id: str = JOB_ID, **fields: Any) -> dict[str, Any]:
    return {"id": job_id, "name": f"job {job_id[:6]}", "kind": "transfer", **fields}


def token_reply(request: httpx.Request) -> httpx.Response | None:
    if request.url.path.endswith("/connect/token"):
        return httpx.Response(200, json={"access_token": "T1", "expires_in": 3600})
    return None


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "server": "http://dryviq.test",
        "credentials": PasswordLogin("admin", SecretStr(PASSWORD)),
    }
    return Settings(**(values | overrides))


def client(handler: Handler, **overrides: Any) -> DryvIQClient:
    def with_token(request: httpx.Request) -> httpx.Response:
        return token_reply(request) or handler(request)

    return DryvIQClient(
        settings(**overrides), transport=httpx.MockTransport(with_token), retry=FAST
    )


GARBAGE = [
    pytest.param(
        httpx.Response(200, html="<html><title>Login</title></html>"),
        "server answered text/html, not JSON (status 200)",
        id="html",
    ),
    pytest.param(
        httpx.Response(200, content=b"{nope", headers={"content-type": "application/json"}),
        "server answered invalid JSON",
        id="invalid-json",
    ),
    pytest.param(
        httpx.Response(
            200,
            content=json.dumps({"job": job()}).encode()[:30],
            headers={"content-type": "application/json"},
        ),
        "server answered invalid JSON",
        id="truncated",
    ),
    pytest.param(
        httpx.Response(200, content=b"\xff\xfe{", headers={"content-type": "application/json"}),
        "server answered invalid JSON",
        id="not-utf8",
    ),
    pytest.param(httpx.Response(200, json=[1, 2]), "a JSON list, not an object", id="list"),
    pytest.param(httpx.Response(200, json={"status": 200}), "no `job` object", id="no-envelope"),
    pytest.param(httpx.Response(200, json={"job": {"name": "x"}}), "has no valid `id`", id="no-id"),
    pytest.param(
        httpx.Response(200, json={"job": {"id": "abc", "name": "x"}}),
        "has no valid `id`: 'abc'",
        id="bad-id",
    ),
    pytest.param(httpx.Response(200, json={"job": {"id": JOB_ID}}), "has no `name`", id="no-name"),
    pytest.param(
        httpx.Response(200, json={"job": job(kind=None)}), "is malformed: kind", id="bad-kind"
    ),
    pytest.param(httpx.Response(200, json={"job": "x"}), "not a JSON object", id="job-str"),
]


@pytest.mark.parametrize(("reply", "message"), GARBAGE)
async def test_garbage_for_one_job_is_an_api_error_naming_the_call(
    reply: httpx.Response, message: str
) -> None:
    async with client(lambda request: reply) as api:
        with pytest.raises(ApiError) as caught:
            await api.get_job(JOB_ID)
    assert str(caught.value).startswith(f"GET v1/jobs/{JOB_ID}: ")
    assert message in str(caught.value)
    assert type(caught.value) is ApiError


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"status": 200}, "no `jobs` list"),
        ({"jobs": {"a": 1}}, "no `jobs` list"),
    ],
)
async def test_garbage_in_a_list(body: dict[str, Any], message: str) -> None:
    async with client(lambda request: httpx.Response(200, json=body)) as api:
        with pytest.raises(ApiError) as caught:
            await api.list_jobs()
    assert str(caught.value).startswith("GET v1/jobs?offset=0&limit=1000&sort=id+ASC: ")
    assert message in str(caught.value)


async def test_bare_job_without_envelope_is_tolerated() -> None:
    async with client(lambda request: httpx.Response(200, json=job())) as api:
        found = await api.get_job(JOB_ID)
    assert found is not None and found.id == JOB_ID


async def test_error_descriptions_become_the_message() -> None:
    body = {"errors": [{"description": "transfer.source cannot be changed"}]}
    async with client(lambda request: httpx.Response(400, json=body)) as api:
        with pytest.raises(ApiError) as caught:
            await api.patch(JOB_ID, {"transfer": {"source": {}}})
    assert str(caught.value) == (
        f"PATCH v1/jobs/{JOB_ID}: server answered 400 Bad Request: "
        "transfer.source cannot be changed"
    )
    assert caught.value.status == 400


async def test_404_means_none_for_get_and_not_found_for_writes() -> None:
    async with client(lambda request: httpx.Response(404, json={"errors": []})) as api:
        assert await api.get_job(JOB_ID) is None
        assert await api.delete(JOB_ID) is False
        with pytest.raises(NotFoundError, match=f"POST v1/jobs/{JOB_ID}/clone: not found"):
            await api.clone(JOB_ID, {"name": "x"})
        with pytest.raises(NotFoundError):
            await api.patch(JOB_ID, {"name": "x"})
        with pytest.raises(NotFoundError):
            await api.control(JOB_ID, "pause")


async def test_406_is_read_like_404_as_the_vendor_client_does() -> None:
    async with client(lambda request: httpx.Response(406, json={"errors": []})) as api:
        assert await api.get_job(JOB_ID) is None
        assert await api.delete(JOB_ID) is False
        with pytest.raises(NotFoundError):
            await api.patch(JOB_ID, {"kind": "transfer", "name": "x"})


async def test_a_job_marked_deleted_is_absent_from_get_and_lists() -> None:
    gone, kept = f"{1:032x}", f"{2:032x}"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(gone):
            return httpx.Response(200, json={"job": job(gone, status="deleted")})
        jobs = [job(gone, status="deleted"), job(kept, status="idle")]
        return httpx.Response(200, json={"jobs": jobs, "meta": {"total_count": 2}})

    async with client(handler) as api:
        assert await api.get_job(gone) is None
        assert [j.id for j in await api.list_jobs()] == [kept]
        assert set(await api.get_jobs([gone, kept, *(f"{n:032x}" for n in range(3, 20))])) == {kept}


async def test_unreadable_jobs_in_a_list_are_skipped_with_one_warning() -> None:
    good = [job(f"{n:032x}") for n in range(3)]
    odd = [
        {"id": "system-indexer", "name": "Indexer", "kind": "system"},
        {"id": f"{9:032x}", "kind": "transfer"},  # no name
        "not a job",
    ]
    pages = {0: [good[0], odd[0], good[1]], 3: [odd[1], odd[2], good[2]]}

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        body = {"jobs": pages[offset], "meta": {"total_count": 6, "has_more": offset == 0}}
        return httpx.Response(200, json=body)

    warnings: list[str] = []
    api = DryvIQClient(
        settings(),
        transport=httpx.MockTransport(lambda r: token_reply(r) or handler(r)),
        retry=FAST,
        warn=warnings.append,
    )
    async with api:
        listed = await api.list_jobs()
    assert [j.id for j in listed] == [j["id"] for j in good]
    (warning,) = warnings
    assert warning.startswith("skipped 3 job(s) in the job list that jobspec cannot read")
    assert "'system-indexer'" in warning and f"'{9:032x}', name None" in warning
    assert "not a JSON object" in warning


async def test_listing_asks_for_a_stable_order_and_copes_without_one() -> None:
    sorts: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sorts.append(request.url.params.get("sort"))
        if "sort" in request.url.params:
            return httpx.Response(400, json={"errors": [{"description": "cannot sort by id"}]})
        return httpx.Response(200, json={"jobs": [job()], "meta": {"total_count": 1}})

    async with client(handler) as api:
        assert [j.id for j in await api.list_jobs()] == [JOB_ID]
        assert [j.id for j in await api.list_jobs()] == [JOB_ID]
    assert sorts == ["id ASC", None, None]  # asked once; the server's order from then on


@pytest.mark.parametrize("link", ["same", "same-jobs"])
async def test_a_next_link_that_repeats_is_an_error_not_a_hang(link: str) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        offset = int(request.url.params.get("offset", "0"))
        following = 0 if link == "same" else offset + 1  # back to itself, or on with old jobs
        meta = {"links": {"next": {"href": f"/v1/jobs?offset={following}&limit=1000"}}}
        return httpx.Response(200, json={"jobs": [job()], "meta": meta})

    async with client(handler) as api:
        with pytest.raises(ApiError, match="the listing would never end"):
            await asyncio.wait_for(api.list_jobs(), timeout=5)
    assert calls <= 3


async def test_a_next_link_that_never_ends_stops_at_the_page_bound() -> None:
    """Every page brings a new job and a new link, with no total: only the bound stops it."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        offset = int(request.url.params.get("offset", "0"))
        meta = {"links": {"next": {"href": f"/v1/jobs?offset={offset + 1}&limit=1"}}}
        return httpx.Response(200, json={"jobs": [job(f"{offset:032x}")], "meta": meta})

    api = DryvIQClient(
        settings(),
        transport=httpx.MockTransport(lambda r: token_reply(r) or handler(r)),
        retry=FAST,
        max_pages=50,
    )
    async with api:
        with pytest.raises(ApiError, match="the listing goes on past 50 pages"):
            await api.list_jobs()
    assert calls == 50


async def test_redirect_is_an_error_with_a_hint() -> None:
    reply = httpx.Response(301, headers={"location": "https://dryviq.test/v1/jobs"})
    async with client(lambda request: reply) as api:
        with pytest.raises(ApiError, match=r"redirected to https://dryviq\.test") as caught:
            await api.list_jobs()
    assert "JOBSPEC_SERVER" in (caught.value.hint or "")


async def test_accepted_success_statuses() -> None:
    replies = {
        "POST": httpx.Response(201, json={"type": "job", "job": job()}),
        "DELETE": httpx.Response(204),
    }
    async with client(lambda request: replies[request.method]) as api:
        assert (await api.create({"name": "x"})).id == JOB_ID
        assert (await api.clone(JOB_ID, {"name": "x"})).id == JOB_ID
        assert await api.delete(JOB_ID) is True
    replies = {
        "POST": httpx.Response(200, json={"type": "job", "job": job()}),
        "DELETE": httpx.Response(200, json={}),
    }
    async with client(lambda request: replies[request.method]) as api:
        assert (await api.clone(JOB_ID, {"name": "x"})).id == JOB_ID
        assert await api.delete(JOB_ID) is True


async def test_concurrency_bound_is_respected() -> None:
    in_flight = peak = 0

    class Counting(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.002)
            in_flight -= 1
            if request.url.path == "/connect/token":
                return httpx.Response(200, json={"access_token": "T", "expires_in": 3600})
            return httpx.Response(200, json={"job": job(request.url.path[-32:])})

    ids = [f"{n:032x}" for n in range(40)]
    async with DryvIQClient(settings(concurrency=3), transport=Counting()) as api:
        found = await asyncio.gather(*(api.get_job(job_id) for job_id in ids))
    assert [j.id for j in found if j] == ids
    assert peak == 3
    assert api.request_count == 41  # one token, forty jobs


async def test_one_token_fetch_under_concurrency() -> None:
    token_calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal token_calls
        if request.url.path == "/connect/token":
            token_calls += 1
            assert request.headers.get("authorization") is None
            form = dict(httpx.QueryParams(request.content.decode()))
            assert form == {
                "grant_type": "password",
                "username": "admin",
                "password": PASSWORD,
                "scope": "profile roles offline_access",
            }
            return httpx.Response(200, json={"access_token": "T1", "expires_in": 3600})
        assert request.headers["authorization"] == "Bearer T1"
        assert request.headers["accept"] == "application/json"
        return httpx.Response(200, json={"job": job()})

    transport = httpx.MockTransport(handler)
    async with DryvIQClient(settings(), transport=transport) as api:
        await asyncio.gather(*(api.get_job(JOB_ID) for _ in range(20)))
    assert token_calls == 1


async def test_static_token_is_sent_and_a_401_is_an_auth_error_with_a_hint() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        assert request.headers["authorization"] == "Bearer s3cret-token"
        return httpx.Response(401, json={"errors": [{"description": "bearer token expired"}]})

    creds = StaticToken(SecretStr("s3cret-token"))
    transport = httpx.MockTransport(handler)
    async with DryvIQClient(settings(credentials=creds), transport=transport) as api:
        with pytest.raises(AuthError) as caught:
            await api.get_job(JOB_ID)
    assert seen == [f"/v1/jobs/{JOB_ID}"]  # no token endpoint, no second try
    assert "bearer token expired" in str(caught.value)
    assert "JOBSPEC_TOKEN" in (caught.value.hint or "")
    assert "s3cret-token" not in str(caught.value) + repr(api) + (caught.value.hint or "")


async def test_secret_echoed_by_the_token_endpoint_is_scrubbed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        description = f"no user admin with password {PASSWORD}"
        return httpx.Response(
            400, json={"error": "invalid_grant", "error_description": description}
        )

    async with DryvIQClient(settings(), transport=httpx.MockTransport(handler)) as api:
        with pytest.raises(AuthError) as caught:
            await api.get_job(JOB_ID)
    assert PASSWORD not in str(caught.value)
    assert "no user admin with password ***" in str(caught.value)
    assert "JOBSPEC_USERNAME and JOBSPEC_PASSWORD" in (caught.value.hint or "")


async def test_token_reply_without_access_token() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"token": "x"}))
    async with DryvIQClient(settings(), transport=transport) as api:
        with pytest.raises(ApiError, match="POST connect/token: reply has no `access_token`"):
            await api.get_job(JOB_ID)


async def test_proactive_refresh_uses_the_refresh_token() -> None:
    now = 1000.0
    grants: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/connect/token":
            form = dict(httpx.QueryParams(request.content.decode()))
            grants.append(form["grant_type"])
            number = len(grants)
            reply = {"access_token": f"T{number}", "expires_in": 100, "refresh_token": "R"}
            return httpx.Response(200, json=reply)
        return httpx.Response(200, json={"job": job(name=request.headers["authorization"])})

    transport = httpx.MockTransport(handler)
    async with DryvIQClient(settings(), transport=transport, clock=lambda: now) as api:
        assert (await api.get_job(JOB_ID)).name == "Bearer T1"  # type: ignore[union-attr]
        now += 89  # refresh margin: min(60 s, 10% of 100 s) = 10 s
        assert (await api.get_job(JOB_ID)).name == "Bearer T1"  # type: ignore[union-attr]
        now += 1
        assert (await api.get_job(JOB_ID)).name == "Bearer T2"  # type: ignore[union-attr]
    assert grants == ["password", "refresh_token"]


async def test_refused_refresh_token_falls_back_to_logging_in() -> None:
    now = 0.0
    grants: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/connect/token":
            grant = dict(httpx.QueryParams(request.content.decode()))["grant_type"]
            grants.append(grant)
            if grant == "refresh_token":
                return httpx.Response(400, json={"error": "invalid_grant"})
            reply = {"access_token": "T", "expires_in": 100, "refresh_token": "R"}
            return httpx.Response(200, json=reply)
        return httpx.Response(200, json={"job": job()})

    transport = httpx.MockTransport(handler)
    async with DryvIQClient(settings(), transport=transport, clock=lambda: now) as api:
        await api.get_job(JOB_ID)
        now = 95.0
        await api.get_job(JOB_ID)
    assert grants == ["password", "refresh_token", "password"]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        (" 0.5 ", 0.5),
        ("-4", 0.0),
        ("soon", None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: go now
    ],
)
def test_retry_after_parsing(value: str | None, seconds: float | None) -> None:
    assert _retry_after(value) == seconds


def test_retry_after_http_date_in_the_future() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 < (_retry_after(when) or 0) <= 30


async def test_retry_after_is_honoured_and_give_up_names_the_call() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    def handler(request: httpx.Request) -> httpx.Response:
        return token_reply(request) or httpx.Response(429, headers={"Retry-After": "2"})

    policy = RetryPolicy(max_attempts=3, deadline=60, backoff_base=0.001, backoff_cap=0.001)
    transport = httpx.MockTransport(handler)
    async with DryvIQClient(settings(), transport=transport, retry=policy, sleep=sleep) as api:
        with pytest.raises(ApiError) as caught:
            await api.get_job(JOB_ID)
    assert waits == [2.0, 2.0]
    assert str(caught.value).startswith(f"GET v1/jobs/{JOB_ID}: gave up after 3 attempts")
    assert "last answer: 429 Too Many Requests" in str(caught.value)
    assert caught.value.status == 429


async def test_a_retry_after_beyond_the_deadline_gives_up_at_once() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return token_reply(request) or httpx.Response(503, headers={"Retry-After": "3600"})

    async with client(handler) as api:
        with pytest.raises(ApiError, match=r"gave up after 1 attempts .* asked to wait 3600 s"):
            await api.list_jobs()


async def test_connection_refused_is_retried_then_reported_with_a_hint() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("connection refused", request=request)

    async with DryvIQClient(settings(), transport=httpx.MockTransport(handler), retry=FAST) as api:
        with pytest.raises(ApiError) as caught:
            await api.get_job(JOB_ID)
    assert calls == FAST.max_attempts  # the token call, attempted four times
    assert str(caught.value).startswith("POST connect/token: gave up after 4 attempts")
    assert "could not connect" in str(caught.value)
    assert "http://dryviq.test/" in (caught.value.hint or "")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("reset"),
        502,
        504,
        500,
    ],
)
async def test_a_clone_whose_outcome_is_unknown_is_never_resent(
    failure: httpx.TransportError | int,
) -> None:
    posts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        posts += 1
        if isinstance(failure, int):
            return httpx.Response(failure)
        raise failure

    async with client(handler) as api:
        with pytest.raises(OutcomeUnknown) as caught:
            await api.clone(JOB_ID, {"name": "copy"})
        with pytest.raises(OutcomeUnknown):
            await api.create({"name": "new"})
        with pytest.raises(OutcomeUnknown):
            await api.control(JOB_ID, "start")
    assert posts == 3
    assert str(caught.value).startswith(f"POST v1/jobs/{JOB_ID}/clone: outcome unknown")
    assert "not sent again" in str(caught.value)


@pytest.mark.parametrize("refusal", [429, "connect"])  # not 503: a gateway's, after the work
async def test_a_clone_refused_before_processing_is_retried(refusal: int | str) -> None:
    posts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        posts += 1
        if posts == 1:
            if refusal == "connect":
                raise httpx.ConnectError("refused", request=request)
            return httpx.Response(int(refusal), headers={"Retry-After": "0"})
        return httpx.Response(201, json={"job": job(name="copy")})

    async with client(handler) as api:
        assert (await api.clone(JOB_ID, {"name": "copy"})).name == "copy"
    assert posts == 2


async def test_idempotent_calls_are_retried_after_unknown_outcomes() -> None:
    attempts: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        call = f"{request.method} {request.url.query.decode()}".strip()
        attempts[call] = attempts.get(call, 0) + 1
        if attempts[call] == 1:
            raise httpx.RemoteProtocolError("dropped", request=request)
        if attempts[call] == 2:
            return httpx.Response(504)
        if request.method == "DELETE":
            return httpx.Response(404, json={"errors": [{"description": "no such job"}]})
        return httpx.Response(200, json={"job": job()})

    async with client(handler) as api:
        assert (await api.patch(JOB_ID, {"name": "x"})).id == JOB_ID
        assert await api.delete(JOB_ID) is True  # the lost attempt did it
        assert (await api.control(JOB_ID, "pause")).id == JOB_ID
    assert attempts == {"PATCH": 3, "DELETE": 3, "PATCH pause=1": 3}


async def test_a_500_on_a_read_is_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500, text="boom")

    async with client(handler) as api:
        with pytest.raises(ApiError, match="server answered 500 Internal Server Error"):
            await api.get_job(JOB_ID)
    assert calls == 1


async def test_paging_without_total_follows_links() -> None:
    ids = [f"{n:032x}" for n in range(5)]

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", "0"))
        meta: dict[str, Any] = {"links": {}}
        if offset + 2 < len(ids):
            meta["links"]["next"] = {"href": f"/v1/jobs?offset={offset + 2}&limit=2"}
        return httpx.Response(
            200, json={"jobs": [job(i) for i in ids[offset : offset + 2]], "meta": meta}
        )

    async with client(handler) as api:
        assert [j.id for j in await api.list_jobs()] == ids
        assert api.request_count == 1 + 3


async def test_next_link_to_another_origin_keeps_our_origin() -> None:
    ids = [f"{n:032x}" for n in range(4)]
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        offset = int(request.url.params.get("offset", "0"))
        meta: dict[str, Any] = {"has_more": offset == 0}
        if offset == 0:
            meta["links"] = {"next": {"href": "http://10.1.2.3:8080/v1/jobs?offset=2&limit=2"}}
        return httpx.Response(
            200, json={"jobs": [job(i) for i in ids[offset : offset + 2]], "meta": meta}
        )

    async with client(handler) as api:
        assert [j.id for j in await api.list_jobs()] == ids
    assert hosts == ["dryviq.test"] * 2


async def test_a_list_that_moves_while_paged_is_read_again() -> None:
    ids = [f"{n:032x}" for n in range(6)]
    reads = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal reads
        offset = int(request.url.params["offset"])
        if offset == 0:
            reads += 1
        # During the first read a job is deleted: the second page shifts by one.
        shown = ids[1:] if reads == 1 and offset else ids
        page = shown[offset : offset + 3]
        meta = {"total_count": len(shown), "has_more": offset + 3 < len(shown)}
        return httpx.Response(200, json={"jobs": [job(i) for i in page], "meta": meta})

    async with client(handler) as api:
        assert sorted(j.id for j in await api.list_jobs()) == ids
    assert reads == 2


async def test_a_list_that_never_settles_is_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        meta = {"total_count": 10 + offset, "has_more": True}
        return httpx.Response(200, json={"jobs": [job(f"{offset:032x}")], "meta": meta})

    async with client(handler) as api:
        with pytest.raises(ApiError, match="kept changing"):
            await api.list_jobs()


async def test_base_url_gets_a_trailing_slash_and_ids_are_quoted() -> None:
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(404)

    async with client(handler, server="http://dryviq.test/prefix") as api:
        assert await api.get_job("../x") is None
    assert urls == ["http://dryviq.test/prefix/v1/jobs/..%2Fx?fields=all"]


async def test_get_jobs_skips_ids_that_cannot_exist() -> None:
    async with client(lambda request: httpx.Response(500)) as api:
        assert await api.get_jobs(["nope", "../../etc"]) == {}
    assert api.request_count == 0


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"total_count": 5, "has_more": False}, "kept changing"),  # a page short of its total
        ({"total_count": 10**12, "has_more": True}, "too many pages"),
        ({"has_more": True}, "neither `total_count` nor a next link"),
    ],
)
async def test_paging_metadata_that_does_not_add_up(meta: dict[str, Any], message: str) -> None:
    body = {"jobs": [job()], "meta": meta}
    async with client(lambda request: httpx.Response(200, json=body)) as api:
        with pytest.raises(ApiError, match=message):
            await api.list_jobs()


async def test_an_untrusted_certificate_is_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        message = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed"
        raise httpx.ConnectError(message, request=request)

    async with DryvIQClient(settings(), transport=httpx.MockTransport(handler)) as api:
        with pytest.raises(ApiError, match="TLS certificate is not trusted") as caught:
            await api.list_jobs()
    assert calls == 1
    assert "SSL_CERT_FILE" in (caught.value.hint or "")


# --- connections (issue 24) ------------------------------------------------------------------


async def test_connections_are_read_page_by_page_and_odd_items_skipped() -> None:
    pages = {
        "0": {
            "connections": [
                {"id": "a1", "name": "Box", "platform": {"id": "box", "name": "Box"}},
                {"name": "no id"},
                "not an object",
                {"id": 7, "name": ["not", "text"], "platform": "cifs"},
            ],
            "meta": {"has_more": True},
        },
        "4": {"connections": [{"id": "b2", "name": "SharePoint"}], "meta": {"has_more": False}},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/connections"
        return httpx.Response(200, json=pages[request.url.params["offset"]])

    async with client(handler) as api:
        found = await api.list_connections()
    assert found is not None
    assert [(c.id, c.name, c.platform) for c in found] == [
        ("a1", "Box", "box"),
        ("7", None, "cifs"),
        ("b2", "SharePoint", None),
    ]


async def test_a_server_without_connections_answers_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"errors": [{"description": "no route"}]})

    async with client(handler) as api:
        assert await api.list_connections() is None


async def test_a_connections_reply_without_the_list_is_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"connection": {"id": "x"}})

    async with client(handler) as api:
        with pytest.raises(ApiError, match="reply has no `connections` list"):
            await api.list_connections()


async def test_a_server_repeating_its_connections_page_ends_the_listing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"connections": [{"id": "a1", "name": "Box"}], "meta": {"has_more": True}}
        return httpx.Response(200, json=body)

    async with client(handler) as api:
        found = await api.list_connections()
    assert found is not None and [c.id for c in found] == ["a1"]
