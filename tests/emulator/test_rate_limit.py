"""The emulator as a rate-limiting gateway: a token bucket answering 429 with Retry-After."""

from __future__ import annotations

import click
import httpx
import pytest

from jobspec.cli.emulator import _rate_limit
from jobspec.emulator.app import API_ROUTES, DROPPABLE_ROUTES
from jobspec.emulator.faults import FaultPlan, FaultSettings, TokenBucket
from tests.helpers import EmulatorHandle


@pytest.mark.parametrize(
    ("rate", "burst", "takes", "waits"),
    [
        # no limit: every call passes
        (0.0, 0, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
        # a burst of 2 at once, then the third waits half a call's time
        (2.0, 2, [0.0, 0.0, 0.0], [0.0, 0.0, 0.5]),
        # burst 0 means one second's worth: 2 calls
        (2.0, 0, [0.0, 0.0, 0.0], [0.0, 0.0, 0.5]),
        # tokens come back at the rate: one call every half second goes through
        (2.0, 1, [0.0, 0.5, 1.0, 1.1], [0.0, 0.0, 0.0, 0.4]),
        # a refused call takes no token
        (1.0, 1, [0.0, 0.5, 1.0], [0.0, 0.5, 0.0]),
    ],
)
def test_the_token_bucket(rate: float, burst: int, takes: list[float], waits: list[float]) -> None:
    bucket = TokenBucket(rate, burst, now=0.0)
    assert [bucket.take(now) for now in takes] == pytest.approx(waits)


def test_a_call_over_the_rate_is_429_with_retry_after_in_whole_seconds() -> None:
    now = [0.0]
    plan = FaultPlan(
        FaultSettings(rate_limit=4.0, rate_burst=2),
        routes=API_ROUTES,
        droppable=DROPPABLE_ROUTES,
        clock=lambda: now[0],
    )
    decisions = [plan.decide("GET /v1/jobs") for _ in range(3)]
    assert [d.status for d in decisions] == [None, None, 429]
    assert decisions[2].retry_after == 1  # 0.25 s rounded up: a gateway speaks whole seconds
    now[0] = 0.25
    assert plan.decide("GET /v1/jobs").status is None
    assert plan.limited == 1


def test_the_rate_limit_is_set_and_counted_through_the_controls(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    emulator.faults(rate_limit=0.001, rate_burst=2)  # two calls, then none for a long while
    statuses = [api.get("v1/jobs").status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    refused = api.get("v1/jobs")
    assert int(refused.headers["Retry-After"]) >= 1
    assert emulator.stats()["rate_limited"] == 3
    emulator.faults(rate_limit=0)
    assert api.get("v1/jobs").status_code == 200


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"rate_limit": -1}, "rate_limit must be a number"),
        ({"rate_limit": "fast"}, "rate_limit must be a number"),
        ({"rate_burst": 1.5}, "rate_burst must be an integer"),
    ],
)
def test_bad_rate_limits_are_400(
    emulator: EmulatorHandle, body: dict[str, object], words: str
) -> None:
    reply = emulator.http.post(f"{emulator.url}_emulator/faults", json=body)
    assert reply.status_code == 400
    assert words in reply.json()["errors"][0]["description"]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [(None, (0.0, 0)), ("50", (50.0, 0)), ("50,10", (50.0, 10)), ("2.5,", (2.5, 0))],
)
def test_the_rate_limit_flag(value: str | None, parsed: tuple[float, int]) -> None:
    assert _rate_limit(value) == parsed


@pytest.mark.parametrize("value", ["fast", "-1", "50,x", "50,-2", "inf"])
def test_a_bad_rate_limit_flag_is_a_usage_error(value: str) -> None:
    with pytest.raises(click.BadParameter, match="CALLS_PER_SECOND"):
        _rate_limit(value)
