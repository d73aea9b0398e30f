"""Every wait ends: one deadline per reply (headers and body), and one per whole listing.

The fake network (`httpx.MockTransport` with an async handler) trickles a body, or pages
without end; the sleeps are the hostile server's own pace, not waits for anything.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from jobspec.client import DryvIQClient, RetryPolicy
from jobspec.errors import ApiError, OutcomeUnknown
from jobspec.settings import PasswordLogin, Settings

pytestmark = pytest.mark.anyio

JOB_ID = "c4d8c04a69224ef0bfaa2f8e920b8792"
FAST = RetryPolicy(max_attempts=2, deadline=5.0, backoff_base=0.001, backoff_cap=0.002)
JSON = {"content-type": "application/json"}


def job(job_id: str) -> dict[str, Any]:
    return {"id": job_id, "name": f"job {job_id[:6]}", "kind": "transfer"}


async def trickle(body: bytes) -> AsyncIterator[bytes]:
    for index in range(len(body)):
        await asyncio.sleep(0.02)  # a byte every 20 ms: each read is quick, the reply never ends
        yield body[index : index + 1]


def client(handler: Any, *, timeout: float = 60.0, **options: Any) -> DryvIQClient:
    async def with_token(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/connect/token"):
            return httpx.Response(200, json={"access_token": "T1", "expires_in": 3600})
        return await handler(request)

    settings = Settings(
        server="http://dryviq.test",
        credentials=PasswordLogin("admin", SecretStr("pa55-word")),
        timeout=timeout,
    )
    return DryvIQClient(settings, transport=httpx.MockTransport(with_token), retry=FAST, **options)


async def trickled(request: httpx.Request) -> httpx.Response:
    body = json.dumps({"job": job(JOB_ID)}).encode()
    return httpx.Response(200, headers=JSON, content=trickle(body))


async def test_a_trickled_reply_meets_one_overall_deadline() -> None:
    async with client(trickled, timeout=0.3) as api:
        with pytest.raises(ApiError) as caught:
            await api.get_job(JOB_ID)
    message = str(caught.value)
    assert message.startswith(f"GET v1/jobs/{JOB_ID}: gave up after 2 attempts")
    assert "no complete reply within 0.3 s (headers and body)" in message


async def test_a_trickled_clone_reply_is_an_unknown_outcome_never_resent() -> None:
    sent: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return await trickled(request)

    async with client(handler, timeout=0.3) as api:
        with pytest.raises(OutcomeUnknown) as caught:
            await api.clone(JOB_ID, {"name": "x"})
    assert "no complete reply within 0.3 s" in str(caught.value)
    assert sent == ["POST"]


async def test_a_listing_that_pages_without_end_meets_its_deadline() -> None:
    pages: list[str] = []

    async def endless(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.02)  # each page is prompt; there is just no last one
        offset = int(request.url.params.get("offset", "0"))
        pages.append(str(offset))
        body = {
            "jobs": [job(f"{offset:032x}")],
            "meta": {"has_more": True, "links": {"next": {"href": f"v1/jobs?offset={offset + 1}"}}},
        }
        return httpx.Response(200, json=body)

    async with client(endless, listing_deadline=0.4) as api:
        with pytest.raises(ApiError) as caught:
            await api.list_jobs()
    assert str(caught.value).startswith("GET v1/jobs: listing the jobs took longer than 0.4 s")
    assert 3 <= len(pages) < 100
