"""Issue 23, cases 8 and 14: hostile dates and numbers in replies; the clone-settle clamp.

A `Date` far in the future must not make apply sleep for the skew while it holds the lock,
and a huge year, a 400-digit `expires_in` or an absurd `Retry-After` is taken as absent
(with a warning), never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from jobspec.applier import settle_wait
from jobspec.client import DryvIQClient
from jobspec.client._retry import http_date, retry_after
from tests.client.test_replies import FAST, JOB_ID, job, settings

pytestmark = pytest.mark.anyio

HUGE_YEAR = "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("Tue, 08 Dec 2026 00:00:00 GMT", 1796688000.0),
        (HUGE_YEAR, None),  # OverflowError before
        ("Fri, 31 Dec 9999 23:59:59 GMT", None),  # a date, but centuries away: absent
        ("Thu, 01 Jan 1970 00:00:00 +0100", None),  # before the epoch
        ("not a date", None),
        ("", None),
    ],
)
def test_http_dates_beyond_reason_are_absent(header: str, seconds: float | None) -> None:
    assert http_date(header) == seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        ("-5", 0.0),
        (HUGE_YEAR, None),  # OverflowError before
        ("9" * 400, None),
        ("1e300", None),  # finite, but beyond a day: absent
        ("1e400", None),
        ("nan", None),
    ],
)
def test_a_retry_after_beyond_reason_is_absent(header: str, seconds: float | None) -> None:
    assert retry_after(header) == seconds


async def test_an_unusable_retry_after_is_retried_with_backoff_and_a_warning() -> None:
    warned: list[str] = []
    answers = iter([503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/connect/token"):
            return httpx.Response(200, json={"access_token": "T1", "expires_in": 3600})
        status = next(answers)
        if status == 503:
            return httpx.Response(503, headers={"Retry-After": "1e300"})
        return httpx.Response(200, json={"job": job()})

    transport = httpx.MockTransport(handler)
    async with DryvIQClient(settings(), transport=transport, retry=FAST, warn=warned.append) as api:
        assert (await api.get_job(JOB_ID)) is not None
    assert len(warned) == 1 and "Retry-After '1e300' is not a usable wait" in warned[0]


@pytest.mark.parametrize(
    ("age", "settle", "wait"),
    [
        (0.0, 30.0, 30.0),
        (10.0, 30.0, 20.0),
        (45.0, 30.0, 0.0),
        (-86400.0, 30.0, 30.0),  # the intent dated a day ahead by a far-future `Date`
        (86400.0, 30.0, 0.0),
        (float("nan"), 30.0, 0.0),
    ],
)
def test_a_reply_dated_far_in_the_future_lengthens_the_settle_wait_by_at_most_settle(
    age: float, settle: float, wait: float
) -> None:
    assert settle_wait(age=age, settle=settle) == wait


async def test_a_date_with_a_huge_year_is_absent_with_a_warning_not_a_traceback() -> None:
    warned: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/connect/token"):
            return httpx.Response(200, json={"access_token": "T1", "expires_in": 3600})
        return httpx.Response(200, json={"job": job()}, headers={"Date": HUGE_YEAR})

    transport = httpx.MockTransport(handler)
    async with DryvIQClient(settings(), transport=transport, retry=FAST, warn=warned.append) as api:
        assert (await api.get_job(JOB_ID)) is not None
        assert api.server_time is None
    assert len(warned) == 1 and "not a usable date" in warned[0]


async def test_a_400_digit_expires_in_is_absent_with_a_warning_not_a_traceback(
    caplog: Any,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/connect/token"):
            body = '{"access_token": "T1", "expires_in": ' + "9" * 400 + "}"
            return httpx.Response(
                200, content=body.encode(), headers={"Content-Type": "application/json"}
            )
        return httpx.Response(200, json={"job": job()})

    with caplog.at_level(logging.WARNING, logger="jobspec.client"):
        async with DryvIQClient(
            settings(), transport=httpx.MockTransport(handler), retry=FAST
        ) as api:
            assert (await api.get_job(JOB_ID)) is not None
    assert "expires_in is not a usable number" in caplog.text
