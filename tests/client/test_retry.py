"""The retry decision as a table: what one attempt met, and what the client does next.

`decide` is pure: the same inputs give the same verdict, so each row is one case of the rules
in the client's docstring, without a server, a clock or a sleep.
"""

from __future__ import annotations

import random

import pytest

from jobspec.client._retry import Action, Repeat, RetryPolicy, decide, may_be_done

# No jitter (the backoff step is 0), so a wait is exactly what Retry-After asked.
POLICY = RetryPolicy(max_attempts=3, deadline=10.0, backoff_base=0.0, backoff_cap=0.0)
ONCE, IDEM = Repeat.ONCE, Repeat.IDEMPOTENT
NO_REPLY = None

ACCEPT, RETRY, UNKNOWN, GIVE_UP = Action.ACCEPT, Action.RETRY, Action.UNKNOWN, Action.GIVE_UP


@pytest.mark.parametrize(
    ("repeat", "sent", "status", "attempt", "elapsed", "retry_after", "action", "wait"),
    [
        # any reply that is not a retry status is the answer, success or error
        (IDEM, True, 200, 1, 0.0, None, ACCEPT, 0.0),
        (IDEM, True, 404, 1, 0.0, None, ACCEPT, 0.0),
        (IDEM, True, 500, 1, 0.0, None, ACCEPT, 0.0),
        (ONCE, True, 201, 1, 0.0, None, ACCEPT, 0.0),
        (ONCE, True, 400, 1, 0.0, None, ACCEPT, 0.0),
        # idempotent calls: retried on 429, 502, 503, 504, lost replies and connect errors
        (IDEM, True, 429, 1, 0.0, 2.0, RETRY, 2.0),
        (IDEM, True, 502, 1, 0.0, None, RETRY, 0.0),
        (IDEM, True, 503, 2, 0.0, None, RETRY, 0.0),
        (IDEM, True, 504, 1, 0.0, None, RETRY, 0.0),
        (IDEM, True, NO_REPLY, 1, 0.0, None, RETRY, 0.0),
        (IDEM, False, NO_REPLY, 1, 0.0, None, RETRY, 0.0),
        # non-idempotent calls: retried only when the request provably was not processed
        (ONCE, False, NO_REPLY, 1, 0.0, None, RETRY, 0.0),
        (ONCE, True, 429, 1, 0.0, 1.0, RETRY, 1.0),
        # a 503 may come from a gateway after the upstream did the work (issue 23)
        (ONCE, True, 503, 1, 0.0, None, UNKNOWN, 0.0),
        (ONCE, False, 503, 1, 0.0, None, RETRY, 0.0),
        (ONCE, True, NO_REPLY, 1, 0.0, None, UNKNOWN, 0.0),
        (ONCE, True, 500, 1, 0.0, None, UNKNOWN, 0.0),
        (ONCE, True, 502, 1, 0.0, None, UNKNOWN, 0.0),
        (ONCE, True, 504, 1, 0.0, None, UNKNOWN, 0.0),
        # outcome unknown comes before counting attempts: the last attempt too
        (ONCE, True, 502, 3, 0.0, None, UNKNOWN, 0.0),
        # attempts and deadline spent: give up, whatever the call
        (IDEM, True, 503, 3, 0.0, None, GIVE_UP, 0.0),
        (ONCE, False, NO_REPLY, 3, 0.0, None, GIVE_UP, 0.0),
        (IDEM, True, 429, 1, 0.0, 11.0, GIVE_UP, 11.0),  # Retry-After beyond the deadline
        (IDEM, True, 429, 1, 8.0, 2.0, RETRY, 2.0),  # exactly at the deadline still waits
        (IDEM, True, 429, 1, 8.5, 2.0, GIVE_UP, 2.0),
    ],
)
def test_the_verdict_on_one_attempt(
    repeat: Repeat,
    sent: bool,
    status: int | None,
    attempt: int,
    elapsed: float,
    retry_after: float | None,
    action: Action,
    wait: float,
) -> None:
    verdict = decide(
        repeat=repeat,
        sent=sent,
        status=status,
        attempt=attempt,
        elapsed=elapsed,
        retry_after=retry_after,
        policy=POLICY,
        rng=random.Random(0),
    )
    assert (verdict.action, verdict.wait) == (action, wait)


@pytest.mark.parametrize(
    ("sent", "status", "done"),
    [
        (False, NO_REPLY, False),  # nothing left the machine
        (True, NO_REPLY, True),  # the reply was lost
        (True, 429, False),  # refused at the door
        (True, 503, True),  # a gateway's 503 after the upstream reset (issue 23)
        (True, 502, True),
        (True, 504, True),
    ],
)
def test_which_attempts_may_have_been_carried_out(
    sent: bool, status: int | None, done: bool
) -> None:
    assert may_be_done(sent=sent, status=status) is done


def test_the_wait_is_full_jitter_under_the_cap_and_at_least_retry_after() -> None:
    policy = RetryPolicy(max_attempts=100, deadline=1e9, backoff_base=1.0, backoff_cap=4.0)
    rng = random.Random(7)
    waits = [
        decide(
            repeat=IDEM,
            sent=True,
            status=503,
            attempt=attempt,
            elapsed=0.0,
            retry_after=None,
            policy=policy,
            rng=rng,
        ).wait
        for attempt in range(1, 50)
    ]
    assert all(0.0 <= wait <= 4.0 for wait in waits)
    assert len(set(waits)) > 1  # jittered, not one fixed step
    asked = decide(
        repeat=IDEM,
        sent=True,
        status=429,
        attempt=1,
        elapsed=0.0,
        retry_after=30.0,
        policy=policy,
        rng=rng,
    )
    assert (asked.action, asked.wait) == (RETRY, 30.0)
