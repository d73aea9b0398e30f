"""One limiter for the whole run: a refusal pauses every slot, and the limit adapts.

The first tests run on a fake clock that only moves when someone sleeps, so "sent after the
pause" is exact; the last drives the emulator playing a rate-limiting gateway.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from jobspec.client import DryvIQClient, RetryPolicy
from jobspec.client._limiter import Limiter
from tests.client.test_against_emulator import connect
from tests.client.test_replies import job, settings, token_reply
from tests.helpers import make_job

pytestmark = pytest.mark.anyio

POLICY = RetryPolicy(max_attempts=4, deadline=60.0, backoff_base=0.0, backoff_cap=0.0)


class FakeTime:
    """A clock that moves only when a sleeper's wait ends (to the latest wake-up asked)."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        target = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, target)


async def test_a_refusal_pauses_every_slot_for_the_retry_after() -> None:
    time = FakeTime()
    sent: list[tuple[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        reply = token_reply(request)
        if reply is not None:
            return reply
        job_id = request.url.path.rsplit("/", 1)[1]
        refused = len(sent) == 2
        sent.append((job_id, time.now))
        if refused:
            return httpx.Response(429, headers={"Retry-After": "3"})
        return httpx.Response(200, json=job(job_id))

    ids = [f"{n:032x}" for n in range(12)]
    transport = httpx.MockTransport(handler)
    async with DryvIQClient(
        settings(concurrency=4),
        transport=transport,
        retry=POLICY,
        clock=time.clock,
        sleep=time.sleep,
    ) as api:
        jobs = await asyncio.gather(*(api.get_job(job_id) for job_id in ids))
        note = api.throttling()
    assert all(found is not None for found in jobs)
    assert len(sent) == 13  # one refusal, sent again once
    refused_id = sent[2][0]
    before = [t for _, t in sent if t < 3.0]
    assert len(before) <= 4 + 2  # only what was already in flight went before the pause ended
    first, again = (t for job_id, t in sent if job_id == refused_id)
    assert first == 0.0 and again >= 3.0
    assert note is not None and "1 of 14 calls refused" in note  # the token call too
    assert "(ceiling 4)" in note and "down to 2 in flight" in note


async def test_a_run_the_server_never_refused_says_nothing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return token_reply(request) or httpx.Response(200, json=job())

    async with DryvIQClient(settings(), transport=httpx.MockTransport(handler)) as api:
        await api.get_job("c4d8c04a69224ef0bfaa2f8e920b8792")
        assert api.throttling() is None


async def test_waiters_are_served_in_order_within_the_limit() -> None:
    time = FakeTime()
    limiter = Limiter(2, clock=time.clock, sleep=time.sleep)
    order: list[int] = []

    async def one(n: int) -> None:
        sent_at = await limiter.acquire()
        order.append(n)
        await asyncio.sleep(0)
        limiter.release(sent_at=sent_at, status=200, retry_after=None, backoff=0.0)

    await asyncio.gather(*(one(n) for n in range(6)))
    assert order == list(range(6))
    assert limiter._in_flight == 0


async def test_a_cancelled_waiter_gives_its_turn_on() -> None:
    time = FakeTime()
    limiter = Limiter(1, clock=time.clock, sleep=time.sleep)
    held = await limiter.acquire()
    waiting = asyncio.ensure_future(limiter.acquire())
    after = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    limiter.release(sent_at=held, status=200, retry_after=None, backoff=0.0)
    await asyncio.wait_for(after, timeout=5)  # a bound on a hang, not a timing
    assert limiter._in_flight == 1


async def test_a_rate_limited_emulator_answers_every_call(emulator: Any) -> None:
    ids = emulator.seed([make_job(name=f"job {n:03d}") for n in range(60)])
    emulator.faults(rate_limit=40, rate_burst=8)
    async with connect(emulator.url, concurrency=16, retry=RetryPolicy()) as api:
        found = await asyncio.gather(*(api.get_job(job_id) for job_id in ids))
        note = api.throttling()
    assert all(job is not None for job in found)
    stats = emulator.stats()
    assert stats["rate_limited"] >= 1  # 60 calls at once are over a burst of 8
    assert note is not None and f"{stats['rate_limited']} of {stats['total']} calls" in note
