"""How many requests may be in flight, and when the next may go: a pure AIMD decision.

One `Pace` holds for the whole client. A refusal (429 or 503) pauses every slot until the time
the server asked (`Retry-After`, else the caller's backoff; at most `MAX_PAUSE`), and cuts the
in-flight limit by `DECREASE`, once per round: only a refusal of a request sent after the last
cut cuts again, since the requests already in flight met the same overload. Every other answer
from the server raises the limit by `1/limit` (about one per round trip), up to the ceiling
(`--concurrency`). An attempt without an answer (a lost connection) changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

REFUSALS = frozenset({429, 503})
DECREASE = 0.5  # the in-flight limit after a refusal, as a share of what it was
MAX_PAUSE = 60.0  # seconds: the longest pause a Retry-After can impose on every slot
FLOOR = 1.0  # the in-flight limit never goes below one request


@dataclass(frozen=True, slots=True, kw_only=True)
class Pace:
    """The limiter's state: a value; `on_answer` makes the next one."""

    ceiling: int
    limit: float
    paused_until: float = -math.inf
    cut_at: float = -math.inf  # when the limit was last cut
    refusals: int = 0
    lowest: float = math.inf  # the lowest limit reached after a refusal
    first_refusal: float | None = None

    @classmethod
    def start(cls, ceiling: int) -> Pace:
        return cls(ceiling=ceiling, limit=float(ceiling))

    @property
    def slots(self) -> int:
        """Requests that may be in flight now."""
        return max(1, int(self.limit))


def on_answer(
    pace: Pace,
    *,
    status: int | None,
    sent_at: float,
    now: float,
    retry_after: float | None,
    backoff: float,
) -> Pace:
    """The pace after an attempt sent at `sent_at` met `status` (None: no answer) at `now`.

    `backoff` is the pause when a refusal names none (the retry policy's step). Returns
    `pace` itself when nothing changes, so a clean answer at the ceiling allocates nothing.
    """
    if status is None:
        return pace
    if status in REFUSALS:
        asked = retry_after if retry_after is not None else backoff
        until = now + min(MAX_PAUSE, max(0.0, asked))
        cut = sent_at >= pace.cut_at
        limit = max(FLOOR, pace.limit * DECREASE) if cut else pace.limit
        return replace(
            pace,
            limit=limit,
            paused_until=max(pace.paused_until, until),
            cut_at=now if cut else pace.cut_at,
            refusals=pace.refusals + 1,
            lowest=min(pace.lowest, limit),
            first_refusal=now if pace.first_refusal is None else pace.first_refusal,
        )
    if pace.limit >= pace.ceiling:
        return pace
    return replace(pace, limit=min(float(pace.ceiling), pace.limit + 1.0 / pace.limit))
