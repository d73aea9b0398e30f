"""The adaptive limit as a table: what one answer does to the pace of the whole client.

`on_answer` is pure, so each row is one rule of `_pace`'s docstring, without a server or a
clock: the limit halves on a refusal (once per round), every slot pauses for what the server
asked (bounded), and clean answers raise the limit by 1/limit up to the ceiling.
"""

from __future__ import annotations

import math

import pytest

from jobspec.client._pace import MAX_PAUSE, MIN_RATE, Pace, on_answer

START = Pace.start(32)
CUT = Pace(ceiling=32, limit=16.0, paused_until=11.0, cut_at=10.0, refusals=1, lowest=16.0,
           first_refusal=10.0)  # fmt: skip


@pytest.mark.parametrize(
    ("before", "status", "sent_at", "now", "retry_after", "limit", "paused_until", "refusals"),
    [
        # clean answers at the ceiling change nothing
        (START, 200, 0.0, 1.0, None, 32.0, -math.inf, 0),
        (START, 404, 0.0, 1.0, None, 32.0, -math.inf, 0),
        # an error that is not a refusal is still an answer: no cut
        (START, 500, 0.0, 1.0, None, 32.0, -math.inf, 0),
        # no answer at all (a lost connection): no change
        (CUT, None, 10.5, 12.0, None, 16.0, 11.0, 1),
        # a 429 halves the limit and pauses every slot for the Retry-After
        (START, 429, 0.0, 1.0, 2.0, 16.0, 3.0, 1),
        # a 503 without Retry-After pauses for the backoff (0.5 here)
        (START, 503, 0.0, 1.0, None, 16.0, 1.5, 1),
        # a Retry-After beyond the bound pauses MAX_PAUSE only
        (START, 429, 0.0, 1.0, 3600.0, 16.0, 1.0 + MAX_PAUSE, 1),
        # a refusal of a request sent before the last cut neither cuts nor pauses again...
        (CUT, 429, 9.0, 10.2, 1.0, 16.0, 11.0, 2),
        # ...one sent after it does
        (CUT, 429, 10.5, 12.0, 1.0, 8.0, 13.0, 2),
        # a shorter pause never shortens one in force
        (CUT, 429, 9.0, 10.1, 0.0, 16.0, 11.0, 2),
        # clean answers below the ceiling raise the limit by 1/limit
        (CUT, 200, 11.0, 12.0, None, 16.0 + 1 / 16, 11.0, 1),
    ],
)
def test_one_answer(
    before: Pace,
    status: int | None,
    sent_at: float,
    now: float,
    retry_after: float | None,
    limit: float,
    paused_until: float,
    refusals: int,
) -> None:
    after = on_answer(
        before, status=status, sent_at=sent_at, now=now, retry_after=retry_after, backoff=0.5
    )
    assert (after.limit, after.paused_until, after.refusals) == (limit, paused_until, refusals)


def test_the_limit_never_goes_below_one_request() -> None:
    pace = Pace.start(4)
    for n in range(10):
        pace = on_answer(
            pace, status=429, sent_at=float(n), now=float(n), retry_after=0.0, backoff=0
        )
    assert pace.limit == 1.0 and pace.slots == 1 and pace.lowest == 1.0


def test_clean_answers_climb_back_to_the_ceiling_and_stop_there() -> None:
    pace = on_answer(Pace.start(8), status=429, sent_at=0, now=0, retry_after=1, backoff=0)
    assert pace.slots == 4
    for _ in range(200):
        pace = on_answer(pace, status=200, sent_at=2, now=2, retry_after=None, backoff=0)
    assert pace.limit == 8.0 and pace.slots == 8


def test_a_clean_answer_at_the_ceiling_allocates_nothing() -> None:
    assert on_answer(START, status=200, sent_at=0, now=0, retry_after=None, backoff=0) is START


def test_a_refusal_caps_the_rate_below_what_the_server_answered() -> None:
    pace = on_answer(
        START, status=429, sent_at=0, now=1, retry_after=1, backoff=0, answered_rate=50.0
    )
    assert pace.rate == 40.0 and not pace.probing
    # the cap rises by about one call a second each second: 1/rate per answer
    pace = on_answer(pace, status=200, sent_at=2, now=2, retry_after=None, backoff=0)
    assert pace.rate == pytest.approx(40.0 + 1 / 40)
    # a later refusal cuts from the cap when the server answered faster than it
    pace = on_answer(
        pace, status=429, sent_at=3, now=3, retry_after=1, backoff=0, answered_rate=80.0
    )
    assert pace.rate == pytest.approx((40.0 + 1 / 40) * 0.8)


def test_a_cap_from_a_short_measure_probes_doubling_about_every_second() -> None:
    pace = on_answer(
        START,
        status=429,
        sent_at=0,
        now=1,
        retry_after=1,
        backoff=0,
        answered_rate=10.0,
        measured=False,
    )
    assert pace.rate == 8.0 and pace.probing
    for _ in range(8):  # about one second's answers at 8 a second
        pace = on_answer(pace, status=200, sent_at=2, now=2, retry_after=None, backoff=0)
    assert 14.0 < pace.rate < 18.0
    pace = on_answer(
        pace, status=429, sent_at=3, now=3, retry_after=1, backoff=0, answered_rate=12.0
    )
    assert not pace.probing and pace.rate == pytest.approx(9.6)


def test_nothing_answered_before_a_refusal_still_leaves_a_rate() -> None:
    pace = on_answer(
        START, status=503, sent_at=0, now=0, retry_after=None, backoff=1, answered_rate=0.0
    )
    assert pace.rate == MIN_RATE
