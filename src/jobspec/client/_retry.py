"""When a call is sent again: a pure decision from what one attempt met.

Idempotent calls are retried on 429, 502, 503, 504, connection errors and timeouts.
Non-idempotent calls (create, clone, start) only when the request provably was not processed:
nothing was sent (a connect error) or the server refused it at the door (429). Anything
else after the request may have been sent, any 5xx included, means the outcome is unknown,
and the call is not sent again: Envoy and Istio answer 503 when the upstream reset after it
had done the work. Waits are exponential backoff with full jitter, at least what `Retry-After` asks,
within the policy's attempts and deadline.
"""

from __future__ import annotations

import email.utils
import enum
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Answers given before any work is done (see the package docstring): safe to repeat any call.
# Not 503: a gateway answers it for an upstream that reset mid-request, work done or not.
NOT_PROCESSED_STATUSES = frozenset({429})


class Repeat(enum.Enum):
    """May a request be sent again when its outcome is unknown?"""

    IDEMPOTENT = "idempotent"  # the same request twice has the effect of once
    ONCE = "once"  # a second copy could create a second job or start a second run


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How long and how often a call is retried. Tests shrink the backoff, never sleep long."""

    max_attempts: int = 6
    deadline: float = 120.0  # seconds per call, attempts and waits included
    backoff_base: float = 0.25
    backoff_cap: float = 8.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Full jitter: uniform between 0 and the capped exponential step."""
        return rng.uniform(0.0, min(self.backoff_cap, self.backoff_base * 2.0**retry))


class Action(enum.Enum):
    """What to do after one attempt."""

    ACCEPT = "accept"  # the reply is the answer (success or an error status to report)
    RETRY = "retry"  # wait `Verdict.wait` seconds, then send again
    UNKNOWN = "unknown"  # the request may have been carried out: raise OutcomeUnknown
    GIVE_UP = "give up"  # attempts or deadline spent: report the last answer


@dataclass(frozen=True)
class Verdict:
    action: Action
    wait: float = 0.0  # for RETRY and GIVE_UP: the wait that was (or would have been) asked


_ACCEPT = Verdict(Action.ACCEPT)  # made once: it is every successful request's verdict
_UNKNOWN = Verdict(Action.UNKNOWN)


def decide(
    *,
    repeat: Repeat,
    sent: bool,
    status: int | None,
    attempt: int,
    elapsed: float,
    retry_after: float | None,
    policy: RetryPolicy,
    rng: random.Random,
) -> Verdict:
    """The verdict on attempt number `attempt` (from 1), `elapsed` seconds into the call.

    `status` is the reply's status, None when no reply came; `sent` says whether the request
    may have reached the server (False only for a connect error: nothing left the machine).
    A 401 is the caller's business (re-authentication) and never reaches here.
    """
    if status is not None and status not in RETRY_STATUSES:
        if repeat is Repeat.ONCE and status >= 500:
            return _UNKNOWN  # a server error after the request arrived
        return _ACCEPT
    if repeat is Repeat.ONCE and may_be_done(sent=sent, status=status):
        return _UNKNOWN
    wait = max(retry_after or 0.0, policy.backoff(attempt - 1, rng))
    if attempt >= policy.max_attempts or elapsed + wait > policy.deadline:
        return Verdict(Action.GIVE_UP, wait)
    return Verdict(Action.RETRY, wait)


def may_be_done(*, sent: bool, status: int | None) -> bool:
    """Might the server have carried out an attempt that met `status` (None: no reply)?"""
    return sent and status not in NOT_PROCESSED_STATUSES


LATEST_HEADER_TIME = 2.0**33
"""Epoch seconds (the year 2242): an HTTP date beyond it, or before 1970, is taken as absent."""


def http_date(value: str | None) -> float | None:
    """Epoch seconds from an HTTP date header; None when absent, unreadable or absurd.

    A hostile or broken server's `Date: … 99999999999 …` must not raise (OverflowError) nor
    stand for a clock centuries away.
    """
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp()
    except (TypeError, ValueError, OverflowError):
        return None
    return seconds if 0.0 <= seconds < LATEST_HEADER_TIME else None


LONGEST_RETRY_AFTER = 86400.0
"""A day: a longer `Retry-After` (`1e300`, a date years ahead) is taken as absent."""


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date; None when
    absent, unreadable, or beyond `LONGEST_RETRY_AFTER`."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        when = http_date(value)
        if when is None:
            return None
        seconds = when - datetime.now(UTC).timestamp()
    if not math.isfinite(seconds) or seconds > LONGEST_RETRY_AFTER:
        return None
    return max(0.0, seconds)
